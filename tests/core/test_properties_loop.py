"""Property tests of what the daemon feeds the core on every pass: never an exception.

`decode_intent` on any bytes and on near-valid YAML documents returns an Intent or raises
IntentRejected with at least one reason; `evaluate_intent` on generated intents, registry
postures, decisions and earlier records returns an Outcome (applied, replayed or rejected
with reasons, the canary within 0..100) whatever the file holds.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.core import registry
from reconciler.core.decision import Decision
from reconciler.core.editing import RegistryText
from reconciler.core.errors import RefusalError
from reconciler.core.intents import KNOWN_FIELDS, Intent, IntentRejected, decode_intent
from reconciler.core.passes import IntentSource, Outcome, PassState, evaluate_intent
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp
from tests.support.gitrepos import EXAMPLE

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NAME = "20261124T0930Z-expand.yaml"
EXAMPLE_REGISTRY = (EXAMPLE / "registry.yaml").read_text()
FILES = {
    "registryFile": "policies/registry.yaml",
    "promotionStateFile": "policies/promotion/decision.json",
    "applyStateFile": "policies/state/promotion-apply-state.json",
    "applyTelemetryFile": "policies/telemetry/promotion-apply.jsonl",
}
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values --------------------------------------------------------------------------------------

timestamps = st.one_of(
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ).map(format_timestamp),
    st.sampled_from(["2099-01-01T00:00:00Z", "2026-11-24T11:59:59Z", "yesterday", ""]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    timestamps,
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


future = st.datetimes(
    min_value=datetime(2026, 11, 25), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(format_timestamp)
names = st.text(string.ascii_letters + string.digits + "-._", min_size=1, max_size=12)


@st.composite
def valid_intents(draw: st.DrawFn) -> dict[str, Any]:
    """An intent document the loop accepts (optional fields sometimes present)."""
    kind = draw(st.sampled_from(["expand", "resume", "rollback"]))
    doc: dict[str, Any] = {"intent": kind}
    if kind == "expand" and draw(st.booleans()):
        doc["expandStep"] = draw(st.integers(min_value=1, max_value=100))
    doc["governance"] = {
        "actor": draw(st.sampled_from(["alice", "bob", "ops-bot"])),
        "approvalRef": draw(st.sampled_from(["CAB-123", "INC-9"])),
        "rationale": draw(st.text(string.printable, min_size=1, max_size=30).filter(str.strip)),
        "reviewBy": draw(future),
    }
    optional = {
        "idempotencyKey": names,
        "traceId": names,
        "expectDecisionTraceId": st.sampled_from(["gates-1", "gates-2"]),
        "loopId": st.sampled_from(["loop-a", "loop-b"]),
        "horizonRef": names,
        "evidenceRefs": st.lists(names, max_size=3),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    return doc


@st.composite
def near_valid_intents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid intent document with up to two mutations: a key dropped, changed or added."""
    doc = draw(valid_intents())
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        target = (
            doc["governance"]
            if draw(st.booleans()) and isinstance(doc.get("governance"), dict)
            else doc
        )
        keys = sorted(target)
        operation = draw(st.sampled_from(["drop", "change", "add"]))
        if operation == "drop" and keys:
            del target[draw(st.sampled_from(keys))]
        elif operation == "change" and keys:
            target[draw(st.sampled_from(keys))] = draw(values)
        else:
            target[draw(st.sampled_from(["expandStep", "extra", "reviewBy", "intent"]))] = draw(
                values
            )
    return doc


def dump(doc: dict[str, Any], style: str) -> bytes:
    if style == "json":
        return json.dumps(doc, default=str).encode()
    return yaml.safe_dump(doc, allow_unicode=True, default_flow_style=style == "flow").encode()


documents = st.builds(dump, near_valid_intents(), st.sampled_from(["block", "flow", "json"]))
intent_bytes = st.one_of(
    documents, documents, documents, st.binary(max_size=300), st.text(max_size=300).map(str.encode)
)


def check_decoded(data: bytes) -> Intent | IntentRejected:
    try:
        intent = decode_intent(data, NAME, NOW)
    except IntentRejected as exc:
        event("rejected: " + ",".join(exc.reasons))
        assert exc.problems, "a rejection names at least one problem"
        assert all(isinstance(problem.reason, ReasonCode) for problem in exc.problems)
        return exc
    assert intent.intent in ("expand", "resume", "rollback")
    assert 1 <= intent.expand_step <= 100
    assert intent.idempotency_key
    event("valid intent")
    return intent


@PROPERTY
@given(st.binary(max_size=2000))
def test_decode_intent_never_raises_anything_else_on_arbitrary_bytes(data: bytes) -> None:
    check_decoded(data)


@PROPERTY
@given(near_valid_intents(), st.sampled_from(["block", "flow", "json"]))
def test_decode_intent_accepts_or_rejects_near_valid_documents(
    doc: dict[str, Any], style: str
) -> None:
    decoded = check_decoded(dump(doc, style))
    if isinstance(decoded, Intent):
        assert decoded.intent == doc["intent"]
        unknown = set(doc) - KNOWN_FIELDS
        if decoded.intent == "rollback":
            # A rollback must always pause: its unknown fields are notes, never a rejection.
            noted = {note.reason for note in decoded.notes}
            assert not unknown or ReasonCode.INTENT_UNKNOWN_FIELD in noted
        else:
            assert not unknown


# Pass states ---------------------------------------------------------------------------------


def registry_text(canary: int, manual: bool, mode: str) -> RegistryText:
    text = (
        EXAMPLE_REGISTRY.replace("canaryPercent: 25 ", f"canaryPercent: {canary} ", 1)
        .replace("manual: false ", f"manual: {'true' if manual else 'false'} ", 1)
        .replace("mode: guarded_auto ", f"mode: {mode} ", 1)
    )
    return RegistryText(text, "yaml")


@st.composite
def pass_states(draw: st.DrawFn) -> PassState:
    """A valid registry posture and a decision; half of them let every gate pass."""
    lenient = draw(st.booleans())
    canary, manual = draw(st.integers(min_value=0, max_value=100)), draw(st.booleans())
    mode = "guarded_auto" if lenient else draw(st.sampled_from(["guarded_auto", "advisory"]))
    parsed = registry_text(canary, manual, mode)
    assert isinstance(parsed.document, dict)
    assert registry.validate_registry(parsed.document, NOW, skip_governance_fields=True) == []
    view = registry.view_registry(parsed.document)
    assert (view.canary_percent, view.manual_pause, view.mode) == (canary, manual, mode)
    problem = None
    found: Decision | None = None
    if not lenient and draw(st.booleans()):
        problem = RefusalError(ReasonCode.PROMOTION_DECISION_MISSING, "no decision")
    else:
        ages = st.integers(min_value=0, max_value=3600)
        if not lenient:
            ages = st.one_of(st.none(), st.integers(min_value=-3600, max_value=2 * 86400))
        age = draw(ages)
        found = Decision(
            decision="promote" if lenient else draw(st.sampled_from(["promote", "hold", ""])),
            trace_id=draw(st.sampled_from([None, "gates-1", "gates-2"])),
            generated_at=None if age is None else format_timestamp(NOW - timedelta(seconds=age)),
        )
    short = not lenient and draw(st.booleans())
    return PassState(
        registry=parsed,
        view=view,
        decision=found,
        decision_problem=problem,
        max_age=timedelta(minutes=5) if short else timedelta(hours=24),
        max_age_text="5m" if short else "24h",
        files=FILES,
        base_commit="0" * 40,
    )


sources = st.builds(
    IntentSource,
    path=st.sampled_from([f"policies/intents/{NAME}", "policies/intents/other.yml"]),
    data=intent_bytes,
    problem=st.none(),
    intent_commit=st.sampled_from([None, "a" * 40]),
    blob=st.just("b" * 40),
    added_at=st.none(),
    provenance=st.none(),  # trust: is not set in these states (tests/loop/test_trust.py)
)


def check_outcome(outcome: Outcome, state: PassState) -> None:
    assert isinstance(outcome, Outcome)
    assert outcome.status in ("applied", "replayed", "rejected")
    if outcome.status == "rejected":
        assert outcome.reasons, "a rejection carries at least one reason code"
        assert outcome.record["status"] == "rejected"
        assert outcome.state is state
    if outcome.status == "applied":
        after = outcome.after["canaryPercent"]
        assert 0 <= after <= 100
        assert outcome.state.view.canary_percent == after
        assert outcome.state.view.manual_pause is outcome.after["manualPause"]
        assert outcome.record["status"] == "applied"
    if outcome.status == "replayed":
        assert outcome.record.get("replayed") is True
        assert outcome.state is state
    json.dumps(outcome.record)  # what the ledger stores must serialise


@PROPERTY
@given(pass_states(), sources, sources, st.booleans())
def test_evaluate_intent_always_returns_an_outcome(
    state: PassState, first: IntentSource, second: IntentSource, again: bool
) -> None:
    """Two intents in a row, each on the state the first left; `again`: the same file twice."""
    applied: dict[str, dict[str, Any]] = {}
    for source in (first, first if again else second):
        outcome = evaluate_intent(state, source, NOW, applied.get)
        check_outcome(outcome, state)
        event(outcome.status)
        if outcome.status == "applied":
            applied[str(outcome.record["idempotencyKey"])] = outcome.record
        state = outcome.state


@PROPERTY
@given(pass_states(), sources, st.sampled_from(list(ReasonCode)))
def test_a_source_the_loop_could_not_read_is_rejected_with_its_reason(
    state: PassState, source: IntentSource, reason: ReasonCode
) -> None:
    from reconciler.core.intents import Problem

    unreadable = source._replace(data=None, problem=Problem(reason, "refused before parsing"))
    outcome = evaluate_intent(state, unreadable, NOW, lambda _key: None)
    check_outcome(outcome, state)
    assert outcome.status == "rejected"
    assert outcome.reasons == (str(reason),)
