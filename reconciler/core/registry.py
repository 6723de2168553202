"""Fleet registry validation and view (core layer): the bash tool's rules, all problems at once.

`validate_registry` returns the messages of contract §1.5 in contract order (policy rules live in
`registry_policy.py`); `view_registry` gives the apply logic the values it needs, defaults applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple, TypeVar

from reconciler.core.registry_checks import (
    BOOLEAN,
    EMPTY,
    NONEMPTY_STRING,
    Block,
    Checks,
    check_block,
    check_fields,
    check_object,
    integer_at_least,
    is_integer,
    is_nonempty_string,
    number_between,
    requirement,
)
from reconciler.core.registry_policy import check_policy

NOT_A_MAPPING = "fleet registry must be a JSON object or YAML mapping"
TRANSPORTS = ("local", "sprite_service")
_NEEDS_URL = "sprite_service loops require service.baseUrl or sprite.serviceBaseUrl"
_Default = TypeVar("_Default")

_LOOP_FIELDS: Checks = (
    ("enabled", BOOLEAN),
    ("transport", requirement(lambda v: v in TRANSPORTS, "must be local or sprite_service")),
)
_SPRITE_FIELDS: Checks = (("id", NONEMPTY_STRING),)
_SERVICE_FIELDS: Checks = (
    ("tokenEnv", NONEMPTY_STRING),
    ("retryAttempts", integer_at_least(1, "must be >= 1 when present")),
    ("retryBackoffSeconds", number_between(0, float("inf"), "must be >= 0 when present")),
)


class Governance(NamedTuple):
    """The governance block as written; each field is None when absent."""

    actor: str | None
    approval_ref: str | None
    rationale: str | None
    changed_at: str | None
    review_by: str | None


class RegistryView(NamedTuple):
    """The registry values the apply logic needs, with the normalized defaults applied."""

    fleet_id: str
    mode: str
    canary_percent: int
    manual_pause: bool
    loop_ids: tuple[str, ...]
    governance: Governance


def validate_registry(
    doc: object, now: datetime, *, skip_governance_fields: bool = False
) -> list[str]:
    """Return every problem, one message each, in contract order; [] means valid.

    Raises:
        ValueError: `now` is naive; review deadlines are compared as aware UTC times.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if not isinstance(doc, Mapping):
        return [NOT_A_MAPPING]
    problems: list[str] = []
    if doc.get("schemaVersion") != "v1":
        problems.append('schemaVersion must be "v1"')
    if doc.get("fleetId") is not None and not isinstance(doc.get("fleetId"), str):
        problems.append("fleetId must be a string when present")
    declared = _check_loops(doc.get("loops"), problems)
    check_policy(
        doc, declared, now, skip_governance_fields=skip_governance_fields, problems=problems
    )
    return problems


def problem_path(problem: str) -> tuple[str, ...]:
    """Return the registry path a `validate_registry` message is about; () is the whole file.

    Every message starts with the dotted path of the field it is about (`policy.mode must
    be ...`, `policy.autonomous.rollout.canaryPercent must be ...`), a loop entry's with
    `loops[<i>]:`, `loopId values ...` with `loopId`; NOT_A_MAPPING is about the whole file.
    (A `policy.suppressions.<key>` message may hold a user's key, but always after that
    fixed prefix.)
    """
    if problem == NOT_A_MAPPING:
        return ()
    return tuple(problem.split(" ", 1)[0].removesuffix(":").split("."))


def _check_loops(loops: object, problems: list[str]) -> frozenset[str] | None:
    """Note the loop problems; return the declared loopIds, or None when loops is not usable."""
    if not isinstance(loops, list):
        problems.append("loops must be an array")
        return None
    if not loops:
        problems.append("loops must include at least one loop entry")
        return None
    loop_ids = _loop_ids(loops)
    if len(set(loop_ids)) != len(loop_ids):
        problems.append("loopId values must be unique")
    for index, entry in enumerate(loops):
        _check_loop(entry, f"loops[{index}]: ", problems)
    return frozenset(loop_ids)


def _check_loop(entry: object, prefix: str, problems: list[str]) -> None:
    if not isinstance(entry, Mapping):
        problems.append(f"{prefix}entry must be an object")
        return
    if not is_nonempty_string(entry.get("loopId")):
        problems.append(f"{prefix}loopId must be a non-empty string")
    check_fields(entry, prefix, _LOOP_FIELDS, problems)
    sprite = check_block(entry, "sprite", f"{prefix}sprite", _SPRITE_FIELDS, problems)
    service = check_block(entry, "service", f"{prefix}service", _SERVICE_FIELDS, problems)
    # A container of the wrong type supplies no URL, so the requirement is still reported.
    urls = ((service or EMPTY).get("baseUrl"), (sprite or EMPTY).get("serviceBaseUrl"))
    if entry.get("transport") == "sprite_service" and not any(map(is_nonempty_string, urls)):
        problems.append(f"{prefix}{_NEEDS_URL}")
    check_object(entry, "metadata", f"{prefix}metadata", problems)


def _loop_ids(loops: list[object]) -> list[str]:
    return [
        loop_id
        for entry in loops
        if isinstance(entry, Mapping) and isinstance(loop_id := entry.get("loopId"), str)
    ]


def view_registry(doc: Mapping[str, object]) -> RegistryView:
    """Return the values apply needs; an explicit false or 0 is kept (unlike jq's `//`)."""
    policy = _block(doc.get("policy"))
    autonomous = _block(policy.get("autonomous"))
    rollout = _block(autonomous.get("rollout"))
    governance = _block(autonomous.get("governance"))
    loops = doc.get("loops")
    canary = rollout.get("canaryPercent")
    manual = _block(rollout.get("pause")).get("manual")
    return RegistryView(
        fleet_id=_string_or(doc.get("fleetId"), "default"),
        mode=_string_or(policy.get("mode"), "advisory"),
        canary_percent=canary if is_integer(canary) else 100,
        manual_pause=manual if isinstance(manual, bool) else False,
        loop_ids=tuple(_loop_ids(loops)) if isinstance(loops, list) else (),
        governance=Governance(
            actor=_string_or(governance.get("actor"), None),
            approval_ref=_string_or(governance.get("approvalRef"), None),
            rationale=_string_or(governance.get("rationale"), None),
            changed_at=_string_or(governance.get("changedAt"), None),
            review_by=_string_or(governance.get("reviewBy"), None),
        ),
    )


def _block(value: object) -> Block:
    return value if isinstance(value, Mapping) else EMPTY


def _string_or(value: object, default: _Default) -> str | _Default:
    return value if isinstance(value, str) else default
