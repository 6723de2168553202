"""Registry policy rules (core layer): policy, governance, rollout and suppressions.

Called by `registry.validate_registry`; appends the contract §1.5 messages in contract order.
A container of the wrong type gets its own message and its children are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from reconciler.core.registry_checks import (
    BOOLEAN,
    Block,
    Check,
    Checks,
    check_block,
    check_object,
    first_failure,
    integer_at_least,
    is_integer,
    number_between,
    requirement,
    string_among,
    string_entries,
)
from reconciler.core.timestamps import parse_timestamp
from reconciler.core.visible import has_visible_text

CATEGORIES = ("reconcile_failed", "health_critical", "health_degraded")
INTENTS = ("cancel",)
MODES = ("advisory", "guarded_auto")

_AUTONOMOUS = "policy.autonomous"
_GOVERNANCE = "policy.autonomous.governance"
_ROLLOUT = "policy.autonomous.rollout"
_GUARDED = "when policy.mode is guarded_auto"
_GOVERNANCE_TEXT = ("actor", "approvalRef", "rationale")
_GOVERNANCE_TIMES = ("changedAt", "reviewBy")
_REVIEW_AFTER = f"{_GOVERNANCE}.reviewBy must be after {_GOVERNANCE}.changedAt"
_SUPPRESSIONS_NOT_OBJECT = "policy.suppressions must be an object mapping loopId to category arrays"

_POLICY_FIELDS: Checks = (
    ("mode", requirement(lambda v: v in MODES, "must be advisory or guarded_auto")),
)
_NOISE_FIELDS: Checks = (("dedupeWindowSeconds", integer_at_least(0)),)
_ALLOW_FIELDS: Checks = tuple(
    (
        key,
        string_entries(
            allowed,
            not_array="must be an array when present",
            outside=f"contains unsupported {key}",
        ),
    )
    for key, allowed in (("categories", CATEGORIES), ("intents", INTENTS))
)
_THRESHOLD_FIELDS: Checks = (
    ("minSeverity", string_among(("critical", "warning", "info"))),
    ("minConfidence", string_among(("high", "medium", "low"))),
)
_SAFETY_FIELDS: Checks = (
    ("maxActionsPerRun", integer_at_least(0)),
    ("maxActionsPerLoop", integer_at_least(0)),
    ("cooldownSeconds", integer_at_least(0)),
    ("killSwitch", BOOLEAN),
)
_AUTONOMOUS_BLOCKS: tuple[tuple[str, Checks], ...] = (
    ("allow", _ALLOW_FIELDS),
    ("thresholds", _THRESHOLD_FIELDS),
    ("safety", _SAFETY_FIELDS),
)
_TIMESTAMP = requirement(
    lambda v: parse_timestamp(v) is not None, "must be an ISO-8601 timestamp when present"
)
# A blank actor (" ", U+00A0, U+200B) names no one: reported as the empty string is.
_VISIBLE_STRING = requirement(has_visible_text, "must be a non-empty string when present")
_GOVERNANCE_FIELDS: Checks = (
    *((key, _VISIBLE_STRING) for key in _GOVERNANCE_TEXT),
    *((key, _TIMESTAMP) for key in _GOVERNANCE_TIMES),
)
_CANARY_FIELDS: Checks = (
    (
        "canaryPercent",
        requirement(
            lambda v: is_integer(v) and 0 <= v <= 100,
            "must be an integer between 0 and 100 when present",
        ),
    ),
)
_SALT = first_failure(
    requirement(lambda v: isinstance(v, str), "must be a string when present"),
    requirement(lambda v: v != "", "must be non-empty when present"),
)
_RATE = number_between(0, 1, "must be a number between 0 and 1 when present")
_ROLLOUT_BLOCKS: tuple[tuple[str, Checks], ...] = (
    ("selector", (("salt", _SALT),)),
    ("pause", (("manual", BOOLEAN),)),
    (
        "autoPause",
        (
            ("enabled", BOOLEAN),
            ("lookbackExecutions", integer_at_least(1)),
            ("minSampleSize", integer_at_least(1)),
            ("ambiguityRateThreshold", _RATE),
            ("failureRateThreshold", _RATE),
        ),
    ),
)
_SUPPRESSION_ENTRIES = string_entries(
    CATEGORIES, not_array="must be an array", outside="contains unknown categories"
)


def check_policy(
    doc: Block,
    declared: frozenset[str] | None,
    now: datetime,
    *,
    skip_governance_fields: bool,
    problems: list[str],
) -> None:
    """Append the messages for `policy` and everything under it, in contract order."""
    policy = check_block(doc, "policy", "policy", _POLICY_FIELDS, problems)
    if policy is None:
        return
    check_block(policy, "noiseControls", "policy.noiseControls", _NOISE_FIELDS, problems)
    autonomous = check_object(policy, "autonomous", _AUTONOMOUS, problems)
    if autonomous is not None:
        for key, checks in _AUTONOMOUS_BLOCKS:
            check_block(autonomous, key, f"{_AUTONOMOUS}.{key}", checks, problems)
        if skip_governance_fields:
            # A wrong container is still reported: writing the fields cannot cure it.
            check_object(autonomous, "governance", _GOVERNANCE, problems)
        else:
            guarded = policy.get("mode") == "guarded_auto"
            _check_governance(autonomous, now, guarded=guarded, problems=problems)
        _check_rollout(autonomous, declared, problems)
    _check_suppressions(policy.get("suppressions"), declared, problems)


def _check_governance(
    autonomous: Block, now: datetime, *, guarded: bool, problems: list[str]
) -> None:
    governance = check_block(autonomous, "governance", _GOVERNANCE, _GOVERNANCE_FIELDS, problems)
    if governance is None:
        return
    changed = parse_timestamp(governance.get("changedAt"))
    review = parse_timestamp(governance.get("reviewBy"))
    if changed is not None and review is not None and review <= changed:
        problems.append(_REVIEW_AFTER)
    if not guarded:
        return
    if autonomous.get("governance") is None:
        problems.append(f"{_GOVERNANCE} is required {_GUARDED}")
        return
    problems.extend(
        f"{_GOVERNANCE}.{key} is required {_GUARDED}"
        for key in _GOVERNANCE_TEXT
        if not has_visible_text(governance.get(key))
    )
    problems.extend(
        f"{_GOVERNANCE}.{key} must be an ISO-8601 timestamp {_GUARDED}"
        for key, moment in zip(_GOVERNANCE_TIMES, (changed, review), strict=True)
        if moment is None
    )
    if changed is not None and review is not None and review <= changed:
        problems.append(f"{_REVIEW_AFTER} {_GUARDED}")
    if review is not None and review <= now:
        problems.append(f"{_GOVERNANCE}.reviewBy must be in the future {_GUARDED}")


def _check_rollout(autonomous: Block, declared: frozenset[str] | None, problems: list[str]) -> None:
    rollout = check_block(autonomous, "rollout", _ROLLOUT, _CANARY_FIELDS, problems)
    if rollout is None:
        return
    scope_fields: Checks = (("loopIds", _scope_loop_ids(declared)),)
    check_block(rollout, "scope", f"{_ROLLOUT}.scope", scope_fields, problems)
    for key, checks in _ROLLOUT_BLOCKS:
        check_block(rollout, key, f"{_ROLLOUT}.{key}", checks, problems)


def _scope_loop_ids(declared: frozenset[str] | None) -> Check:
    def check(value: object) -> list[str]:
        if not isinstance(value, list):
            return ["must be an array when present"]
        strings = [entry for entry in value if isinstance(entry, str)]
        faults = (
            (len(strings) != len(value), "entries must be strings"),
            ("" in strings, "entries must be non-empty strings"),
            (len(set(strings)) != len(strings), "entries must be unique"),
            (
                declared is not None and not declared.issuperset(strings),
                "entries must reference declared loopIds",
            ),
        )
        return [phrase for failed, phrase in faults if failed]

    return check


def _check_suppressions(
    value: object, declared: frozenset[str] | None, problems: list[str]
) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        problems.append(_SUPPRESSIONS_NOT_OBJECT)
        return
    for key, categories in value.items():
        label = f"policy.suppressions.{key}"
        if key != "*" and declared is not None and key not in declared:
            problems.append(f"{label} key must reference a declared loopId or *")
        problems.extend(f"{label} {phrase}" for phrase in _SUPPRESSION_ENTRIES(categories))
