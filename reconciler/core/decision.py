"""The promotion decision artifact (core layer): parse it and gate intents on it.

Called by the apply service with the decoded JSON document; it never reads files itself.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import NamedTuple

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_duration, normalize_timestamp, parse_timestamp

GATED_INTENTS = frozenset({"expand", "resume"})
MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far a decision's generatedAt may be ahead of our clock before it is refused."""


class Decision(NamedTuple):
    """The fields of a promotion decision the reconciler acts on."""

    decision: str
    trace_id: str | None
    generated_at: str | None
    """The decision's `generatedAt` in canonical UTC form, or None when absent or invalid."""
    contradictions: tuple[str, ...] = ()
    """For a `promote`: each field that says otherwise (`summary.promote is false`)."""


def read_decision(doc: object) -> Decision:
    """Return the decision in a decoded promotion-state document.

    Raises:
        RefusalError: `summary.decision` is absent, null, empty or not a string.
    """
    summary = doc.get("summary") if isinstance(doc, dict) else None
    value = summary.get("decision") if isinstance(summary, dict) else None
    if not isinstance(value, str) or not value:
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_MISSING, "promotion state missing summary.decision"
        )
    assert isinstance(doc, dict)
    trace_id = doc.get("traceId")
    generated_at = doc.get("generatedAt")
    return Decision(
        decision=value,
        trace_id=trace_id if isinstance(trace_id, str) and trace_id else None,
        generated_at=normalize_timestamp(generated_at) if isinstance(generated_at, str) else None,
        contradictions=find_contradictions(doc) if value == "promote" else (),
    )


def find_contradictions(doc: dict[str, object]) -> tuple[str, ...]:
    """Name each field of a `promote` decision that says the gates did not all pass.

    The gates job writes `promote: true`, `failedGates: []` and `gateFailCount: 0` with every
    `promote`, and `status: pass` for every gate; an absent or null field claims nothing.
    """
    summary = doc["summary"]
    assert isinstance(summary, dict)
    found = []
    promote = summary.get("promote")
    if promote is not None and promote is not True:
        found.append(f"summary.promote is {_json(promote)}")
    failed = summary.get("failedGates")
    if failed is not None and failed != []:
        found.append(f"summary.failedGates is {_json(failed)}")
    count = summary.get("gateFailCount")
    if count is not None and (count != 0 or isinstance(count, bool)):
        found.append(f"summary.gateFailCount is {_json(count)}")
    gates = doc.get("gates")
    if isinstance(gates, dict):
        found.extend(
            f"gates.{name if name.isidentifier() else _json(name)}.status is fail"
            for name, gate in gates.items()
            if isinstance(gate, dict) and gate.get("status") == "fail"
        )
    return tuple(found)


def describe_contradictions(decision: Decision) -> str:
    """Say how a `promote` decision contradicts itself, e.g. `... but summary.promote is false`."""
    return "the promotion decision says promote but " + " and ".join(decision.contradictions)


def _json(value: object) -> str:
    text = json.dumps(value)  # ASCII: a message stays on one line whatever the file holds
    return text if len(text) <= 80 else text[:77] + "..."


def staleness_warning(
    decision: Decision, now: datetime, max_age: timedelta, max_age_text: str
) -> str | None:
    """Say why expand/resume would be refused for the decision's time, or None when fresh.

    The same rules as `check_decision_allows` with a maximum age: no `generatedAt`, one more
    than `MAX_CLOCK_SKEW` ahead of `now`, or one older than `max_age`.
    """
    generated = parse_timestamp(decision.generated_at)
    if generated is None:
        return (
            "promotion decision is stale: generatedAt is missing or not a timestamp "
            f"(max {max_age_text}); expand and resume will be rejected"
        )
    if generated - now > MAX_CLOCK_SKEW:
        return (
            f"promotion decision is from the future ({decision.generated_at}, more than "
            f"{format_duration(MAX_CLOCK_SKEW)} ahead); expand and resume will be rejected"
        )
    age = now - generated
    if age > max_age:
        return (
            f"promotion decision is stale: generated {format_duration(age)} ago (max "
            f"{max_age_text}); expand and resume will be rejected until the gates job "
            "writes a fresh one"
        )
    return None


def check_decision_allows(
    intent: str,
    decision: Decision,
    now: datetime,
    max_age: timedelta | None,
    max_age_text: str | None,
) -> None:
    """Refuse expand/resume unless the decision is a consistent, fresh enough `promote`.

    Raises:
        RefusalError: the decision is not `promote`, or contradicts itself (a `promote` with
            `summary.promote: false` or failed gates), or is older than `max_age`, or has no
            `generatedAt` while a maximum age is set.
    """
    if intent not in GATED_INTENTS:
        return
    if decision.decision != "promote":
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_NOT_PROMOTE,
            f"intent {intent} requires promotion decision promote (found: {decision.decision})",
        )
    if decision.contradictions:
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_INCONSISTENT,
            f"intent {intent} refused: {describe_contradictions(decision)}; regenerate it",
        )
    if max_age is None:
        return
    generated = parse_timestamp(decision.generated_at)
    if generated is None:
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_STALE,
            "promotion decision is stale: generatedAt is missing or not a timestamp "
            f"(max {max_age_text})",
        )
    if generated - now > MAX_CLOCK_SKEW:
        # A future generatedAt would pass every age check forever: refuse it instead.
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_FUTURE,
            f"promotion decision is from the future: generated {decision.generated_at}, more "
            f"than {format_duration(MAX_CLOCK_SKEW)} ahead of now; check the gates job's clock",
        )
    age = max(now - generated, timedelta(0))
    if age > max_age:
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_STALE,
            f"promotion decision is stale: generated {format_duration(age)} ago "
            f"(max {max_age_text})",
        )
