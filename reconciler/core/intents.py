"""Intent files (core layer): `policies/intents/*.yaml` text -> a validated Intent or a rejection.

Pure: the GitOps loop reads the bytes (regular file, size cap) and passes them here with the
file's name. Every problem is reported at once, each with a reason code; a typo never falls
back to a default (unknown keys, wrong types and `expandStep` on a non-expand intent reject).
A rollback is the exception: it must always be able to pause, so an unknown key, a stray
`expandStep` or a malformed `toPercent` in a rollback file is a note of the intent, not a
rejection (the rollback then only pauses; governance and the types of the other known fields
are still required). `toPercent` on expand or resume rejects, as `expandStep` on resume does.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from reconciler.core import yamltext
from reconciler.core.applying import (
    DEFAULT_EXPAND_STEP,
    FILE_INTENTS,
    TO_PERCENT_PREVIOUS,
    ToPercent,
)
from reconciler.core.errors import DocumentError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp, is_relative_deadline, parse_timestamp
from reconciler.core.visible import has_visible_text

INTENT_LIMIT = 64 * 1024
"""Largest intent file accepted, in bytes."""
GOVERNANCE_FIELDS = ("actor", "approvalRef", "rationale", "reviewBy")
OPTIONAL_STRINGS = (
    "idempotencyKey",
    "traceId",
    "expectDecisionTraceId",
    "loopId",
    "horizonRef",
    "fleet",
)
KNOWN_FIELDS = frozenset(
    {"intent", "expandStep", "toPercent", "governance", "evidenceRefs", *OPTIONAL_STRINGS}
)
_STRAY_STEP = "expandStep is only allowed with intent expand"
_BAD_TARGET = "toPercent must be an integer between 0 and 100, or previous"


class Problem(NamedTuple):
    """One reason an intent file is rejected (or, for a rollback, a note it is applied with)."""

    reason: ReasonCode
    message: str


class IntentFields(NamedTuple):
    """What could be read of an intent file, valid or not; None (or empty) where it could not.

    A rejected file keeps these in its record, trailers and rows: a typo in `expandStep` must
    not hide that the file says `intent: expand` and `actor: bob`.
    """

    intent: str | None = None
    """expand, resume, rollback or adopt; None for anything else."""
    expand_step: int | None = None
    actor: str | None = None
    approval_ref: str | None = None
    rationale: str | None = None
    review_by: str | None = None
    """Canonical UTC; None when it is not a timestamp."""
    idempotency_key: str | None = None
    trace_id: str | None = None
    loop_id: str | None = None
    horizon_ref: str | None = None
    evidence_refs: tuple[str, ...] = ()


class Intent(NamedTuple):
    """A valid intent file, defaults applied (idempotencyKey: the file name's stem)."""

    intent: str
    expand_step: int
    actor: str
    approval_ref: str
    rationale: str
    review_by: str
    """Canonical UTC `YYYY-MM-DDTHH:MM:SSZ`."""
    idempotency_key: str
    trace_id: str | None
    expect_decision_trace_id: str | None
    loop_id: str | None
    horizon_ref: str | None
    evidence_refs: tuple[str, ...]
    notes: tuple[Problem, ...] = ()
    """Problems a rollback is applied despite (unknown fields, a stray expandStep, a malformed
    toPercent)."""
    to_percent: ToPercent | None = None
    """Rollback only: the canary to lower to (a percentage, or `previous`); None: only pause."""
    fleet: str | None = None
    """The fleet the author meant (`fleet:`); it must be the fleet whose folder holds the file
    (`intent_fleet_mismatch`). None: the folder says."""

    @property
    def fields(self) -> IntentFields:
        """The intent's fields, as a rejected file's readable ones are given."""
        return IntentFields(
            intent=self.intent,
            expand_step=self.expand_step if self.intent == "expand" else None,
            actor=self.actor,
            approval_ref=self.approval_ref,
            rationale=self.rationale,
            review_by=self.review_by,
            idempotency_key=self.idempotency_key,
            trace_id=self.trace_id,
            loop_id=self.loop_id,
            horizon_ref=self.horizon_ref,
            evidence_refs=self.evidence_refs,
        )


class IntentRejected(Exception):
    """The intent file is rejected; `problems` lists every reason, in file order."""

    def __init__(self, problems: list[Problem], fields: IntentFields | None = None) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = problems
        self.fields = fields or IntentFields()
        """What could be read of the file all the same (nothing when it is not a mapping)."""

    @property
    def reasons(self) -> list[str]:
        """The distinct reason codes, sorted."""
        return sorted({str(problem.reason) for problem in self.problems})


def decode_intent(data: bytes, name: str, now: datetime) -> Intent:
    """Validate the raw bytes of the intent file `name` (its base name, e.g. `x.yaml`).

    Raises:
        IntentRejected: too large, not UTF-8, not YAML, or not a valid intent.
    """
    if len(data) > INTENT_LIMIT:
        raise _reject(
            ReasonCode.INTENT_TOO_LARGE, f"intent file is larger than {INTENT_LIMIT} bytes"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _reject(
            ReasonCode.INTENT_NOT_UTF8, f"intent file is not UTF-8 (byte {exc.start})"
        ) from None
    return parse_intent(text, name, now)


def parse_intent(text: str, name: str, now: datetime) -> Intent:
    """Validate an intent file's text; `name` gives the default idempotency key.

    Raises:
        IntentRejected: every problem found, with its reason code.
    """
    try:
        doc = yamltext.load_yaml(text.removeprefix("\ufeff"))
    except DocumentError as exc:
        code = (
            ReasonCode.INTENT_ALIAS_LIMIT if exc.kind == "alias" else ReasonCode.INTENT_YAML_INVALID
        )
        raise _reject(code, f"intent file is not valid YAML: {exc.message}") from None
    if not isinstance(doc, dict):
        raise _reject(ReasonCode.INTENT_YAML_INVALID, "intent file must be a YAML mapping")
    problems = [
        Problem(ReasonCode.INTENT_UNKNOWN_FIELD, f'unknown field "{key}"')
        for key in doc
        if key not in KNOWN_FIELDS
    ]
    intent = doc.get("intent")
    if intent not in FILE_INTENTS:
        problems.append(_field("intent must be one of expand, resume, rollback, adopt"))
    before_step = len(problems)
    step = _expand_step(doc, intent, problems)
    step_read = "expandStep" in doc and len(problems) == before_step
    to_percent = _to_percent(doc, intent, problems)
    governance = _governance(doc.get("governance"), now, problems)
    strings = {key: _optional_string(doc, key, problems) for key in OPTIONAL_STRINGS}
    refs = _evidence_refs(doc.get("evidenceRefs"), problems)
    notes: list[Problem] = []
    if intent == "rollback":
        notes = [problem for problem in problems if _is_ignorable(problem)]
        problems = [problem for problem in problems if not _is_ignorable(problem)]
    if problems:
        readable = IntentFields(
            intent=str(intent) if intent in FILE_INTENTS else None,
            expand_step=step if step_read and intent == "expand" else None,
            actor=governance.get("actor"),
            approval_ref=governance.get("approvalRef"),
            rationale=governance.get("rationale"),
            review_by=governance.get("reviewBy"),
            idempotency_key=strings["idempotencyKey"],
            trace_id=strings["traceId"],
            loop_id=strings["loopId"],
            horizon_ref=strings["horizonRef"],
            evidence_refs=refs,
        )
        raise IntentRejected(problems, readable)
    return Intent(
        intent=str(intent),
        expand_step=step,
        actor=governance["actor"],
        approval_ref=governance["approvalRef"],
        rationale=governance["rationale"],
        review_by=governance["reviewBy"],
        idempotency_key=strings["idempotencyKey"] or name.rsplit(".", 1)[0],
        trace_id=strings["traceId"],
        expect_decision_trace_id=strings["expectDecisionTraceId"],
        loop_id=strings["loopId"],
        horizon_ref=strings["horizonRef"],
        evidence_refs=refs,
        notes=tuple(notes),
        to_percent=to_percent,
        fleet=strings["fleet"],
    )


def _is_ignorable(problem: Problem) -> bool:
    """A problem a rollback is applied despite: unknown key, stray expandStep, bad toPercent."""
    return problem.reason == ReasonCode.INTENT_UNKNOWN_FIELD or problem.message.startswith(
        (_STRAY_STEP, _BAD_TARGET)
    )


def _reject(reason: ReasonCode, message: str) -> IntentRejected:
    return IntentRejected([Problem(reason, message)])


def _field(message: str) -> Problem:
    return Problem(ReasonCode.INTENT_FIELD_INVALID, message)


def _expand_step(doc: dict[str, object], intent: object, problems: list[Problem]) -> int:
    if "expandStep" not in doc:
        return DEFAULT_EXPAND_STEP
    step = doc["expandStep"]
    if intent in ("resume", "rollback", "adopt"):
        problems.append(_field(f"{_STRAY_STEP} (not {intent})"))
        return DEFAULT_EXPAND_STEP
    if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= 100:
        problems.append(_field("expandStep must be an integer between 1 and 100"))
        return DEFAULT_EXPAND_STEP
    return step


def _to_percent(
    doc: dict[str, object], intent: object, problems: list[Problem]
) -> ToPercent | None:
    if "toPercent" not in doc:
        return None
    value = doc["toPercent"]
    if intent in ("expand", "resume", "adopt"):
        problems.append(_field(f"toPercent is only allowed with intent rollback (not {intent})"))
        return None
    if value == TO_PERCENT_PREVIOUS:
        return TO_PERCENT_PREVIOUS
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        effect = "; the rollback only pauses" if intent == "rollback" else ""
        problems.append(_field(f"{_BAD_TARGET} (not {_shown(value)}){effect}"))
        return None
    return value


def _shown(value: object) -> str:
    """A field's value in a message, shortened (it goes into the record and the commit)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _governance(value: object, now: datetime, problems: list[Problem]) -> dict[str, str]:
    if value is None:
        problems.append(Problem(ReasonCode.INTENT_GOVERNANCE_MISSING, "governance is required"))
        return {}
    if not isinstance(value, dict):
        problems.append(_field("governance must be a mapping"))
        return {}
    problems.extend(
        Problem(ReasonCode.INTENT_UNKNOWN_FIELD, f'unknown field "governance.{key}"')
        for key in value
        if key not in GOVERNANCE_FIELDS
    )
    found: dict[str, str] = {}
    for key in GOVERNANCE_FIELDS:
        item = value.get(key)
        if item is None or isinstance(item, str) and not has_visible_text(item):
            # Blank (" ", U+00A0, U+200B) names no one: it counts as missing.
            problems.append(
                Problem(ReasonCode.INTENT_GOVERNANCE_MISSING, f"governance.{key} is required")
            )
        elif not isinstance(item, str):
            problems.append(_field(f"governance.{key} must be a string"))
        else:
            found[key] = item
    if "reviewBy" in found:
        review_by = parse_timestamp(found["reviewBy"])
        if review_by is None and is_relative_deadline(found["reviewBy"]):
            # A relative time would name a new moment on every pass: a file holds one moment.
            # Shortened: the message goes into the reject commit and its record.
            text = found["reviewBy"]
            shown = text if len(text) <= 40 else text[:37] + "..."
            problems.append(
                _field(
                    "governance.reviewBy must be an RFC 3339 timestamp, not a relative "
                    f"{shown!r}: `reconcile intent new --review-by {shown}` writes the time "
                    "it means"
                )
            )
        elif review_by is None:
            problems.append(_field("governance.reviewBy must be an RFC 3339 timestamp"))
            del found["reviewBy"]  # not a time: a rejected record names none
        else:
            # Canonical even when past: a rejected file's record shows it as the others.
            found["reviewBy"] = format_timestamp(review_by)
            if review_by <= now:
                problems.append(
                    Problem(
                        ReasonCode.INTENT_REVIEW_BY_PAST,
                        "governance.reviewBy must be in the future",
                    )
                )
    return found


def _optional_string(doc: dict[str, object], key: str, problems: list[Problem]) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.append(_field(f"{key} must be a non-empty string"))
        return None
    return value


def _evidence_refs(value: object, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(ref, str) and ref for ref in value):
        problems.append(_field("evidenceRefs must be a list of non-empty strings"))
        return ()
    return tuple(value)
