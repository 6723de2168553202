"""One pending intent file evaluated against the pass's state (core layer).

`evaluate_intent` decodes the bytes of one intent file and lets `core/rules.py` decide it,
turning a refusal into a rejected Outcome (applied, replayed or rejected, with reason codes,
the record and the registry after it). It never raises for bad input: whatever the file
holds, the result is an outcome. The loop, `plan`, `status` and `dispatch` all call it, so
what a pull request's plan predicts is what the reconciler commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from reconciler.core import applying, guards, registry, rules, trust
from reconciler.core.decision import Decision
from reconciler.core.drift import Drift
from reconciler.core.errors import RefusalError
from reconciler.core.intents import (
    Intent,
    IntentFields,
    IntentRejected,
    Problem,
    decode_intent,
)
from reconciler.core.pass_types import IntentSource as IntentSource
from reconciler.core.pass_types import Outcome as Outcome
from reconciler.core.pass_types import PassState as PassState
from reconciler.core.pass_types import Record as Record
from reconciler.core.pass_types import Status as Status
from reconciler.core.pass_types import as_text as as_text
from reconciler.core.pass_types import posture as posture
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp

RecordsSince = Callable[[datetime], Sequence[Record]]

T = TypeVar("T")


def evaluate_intent(
    state: PassState,
    source: IntentSource,
    now: datetime,
    find_applied: Callable[[str], Record | None],
    records_since: RecordsSince | None = None,
    previous_canary: Callable[[], int | None] | None = None,
) -> Outcome:
    """Decide what one intent file does; never raises for anything the file holds.

    `records_since` (the ledger's applied records since a time) feeds the progression
    guards; without it, or without `state.guards`, no guard holds anything.

    The file is read first (parse, fields); then `rules.evaluate`, the rules `apply` decides
    by too: the telemetry, the idempotency replay (before any gate), the decision, the
    registry and the fleet's mode, the mutation, whose result must validate.
    `previous_canary` resolves a rollback's `toPercent: previous` (`Ledger.previous_canary`).
    """
    if source.problem is not None or source.data is None:
        problem = source.problem or Problem(ReasonCode.INTENT_UNREADABLE, "cannot read the file")
        return _reject(state, source, None, [problem], now)
    try:
        intent = decode_intent(source.data, source.name, now)
    except IntentRejected as exc:
        return _reject(state, source, None, exc.problems, now, readable=exc.fields)
    mismatch = _fleet_mismatch(state, intent)
    if mismatch is not None:
        return _reject(state, source, intent, [mismatch], now)
    prior, unverified = rules.find_prior(find_applied, intent.idempotency_key)
    request = _request(intent)
    known = state.registry_problem
    inputs = rules.Inputs(
        request=request,
        trace_id=_trace_id(intent.trace_id, source),
        files=state.files,
        registry=state.registry,
        decision=state.decision_problem or _decision(state),
        max_age=state.max_age,
        max_age_text=state.max_age_text,
        prior=prior,
        telemetry_problem=unverified,
        previous_canary=previous_canary,
        # Validated once per pass (load_state), then what each mutation left: no full
        # validation of the current registry per intent.
        registry_problems=known.details if known is not None else (),
        view=state.view,
        expect_decision_trace_id=intent.expect_decision_trace_id,
        notes=[note.reason for note in intent.notes],
        warnings=[note.message for note in intent.notes],
        guards=_guard_inputs(state, source, records_since),
        trust=_trust_inputs(state, source),
        drift=state.drift,
        fleet=state.fleet_id,
    )
    try:
        verdict = rules.evaluate(inputs, lambda: now)
    except RefusalError as exc:
        found = [Problem(exc.reason, exc.message), *(Problem(exc.reason, d) for d in exc.details)]
        return _reject(state, source, intent, found, now)
    if verdict.status == "deferred":
        return _defer(state, source, intent, verdict)
    if verdict.status == "replayed":
        return Outcome(
            source, "replayed", intent, tuple(verdict.record.get("reasonCodes", [])), (),
            verdict.record, state, posture(state.view), posture(state.view),
        )  # fmt: skip
    assert verdict.registry is not None and verdict.mutation is not None
    record = verdict.record
    record["git"] = _git_block(source, state)
    new_doc = verdict.registry.document
    assert isinstance(new_doc, dict)
    after = state._replace(
        registry=verdict.registry,
        view=registry.view_registry(new_doc),
        registry_problem=_still_invalid(state, list(verdict.problems)),
        # A rollback supersedes what waited before it (evaluate_pass rejects those).
        deferred=() if intent.intent == "rollback" else state.deferred,
        drift=_drift_after(state.drift, intent.intent, record),
    )
    return Outcome(
        source, "applied", intent, tuple(record["reasonCodes"]), verdict.warnings, record, after,
        record["rollout"]["before"], record["rollout"]["after"],  # an adopt's: its baseline
    )  # fmt: skip


def evaluate_pass(
    state: PassState,
    sources: Sequence[IntentSource],
    now: Callable[[], datetime],
    find_applied: Callable[[str], Record | None],
    records_since: RecordsSince | None = None,
    stop: Callable[[], bool] | None = None,
    previous_canary: Callable[[], int | None] | None = None,
) -> Iterator[tuple[Outcome, datetime]]:
    """Decide a pass's intents in order, each on the state the previous one left.

    Yields each outcome with the time it was decided at, in commit order: the caller commits
    (or, predicting, records in memory) each applied or rejected record before asking for
    the next, so `find_applied` and `records_since` see it. When a rollback is applied, the
    expand/resume intents deferred before it in this pass follow it, rejected
    (`superseded_by_rollback`): an approval given before an incident must not resume the
    rollout after it. `stop` is asked before each file (never between a rollback and the
    rejections it causes).
    """
    for source in sources:
        if stop is not None and stop():
            return
        when = now()
        outcome = evaluate_intent(state, source, when, find_applied, records_since, previous_canary)
        yield outcome, when
        superseded = state.deferred if outcome.status == "applied" else ()
        state = outcome.state
        if outcome.action != "rollback":
            continue
        for held in superseded:
            when = now()
            rejection = supersede(state, held, outcome, when)
            yield rejection, when
            state = rejection.state


def last_of_each(items: Sequence[T], key: Callable[[T], object]) -> list[T]:
    """The last item of each `key`, in order (each file's last outcome or row of a pass)."""
    last = {key(item): item for item in items}
    return [item for item in items if last[key(item)] is item]


def final_outcomes(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Each file's last outcome of the pass, in order: what the counts count.

    A file deferred, then superseded by a rollback, is one rejected intent, not a deferred
    and a rejected one.
    """
    return last_of_each(outcomes, lambda outcome: outcome.source.path)


def status_counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """How many files the pass applied, replayed, deferred and rejected (each file once)."""
    counts = {"applied": 0, "replayed": 0, "deferred": 0, "rejected": 0}
    for outcome in final_outcomes(outcomes):
        counts[outcome.status] += 1
    return counts


def still_deferred(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The deferred outcomes that are each file's last of the pass (not later superseded)."""
    return [outcome for outcome in final_outcomes(outcomes) if outcome.status == "deferred"]


def supersede(state: PassState, held: Outcome, rollback: Outcome, now: datetime) -> Outcome:
    """Reject a deferred expand/resume because a rollback was applied after it."""
    problem = Problem(
        ReasonCode.SUPERSEDED_BY_ROLLBACK,
        f"superseded by the rollback {rollback.source.shown_path} applied in the same pass",
    )
    return _reject(state, held.source, held.intent, [problem], now)


def _drift_after(drift: Drift | None, intent: str, record: Record) -> Drift | None:
    """The drift after an applied record: an adopt resolves it (as verify will).

    Every applied record is the next adopt's baseline.
    """
    if drift is None:
        return None
    after = record["rollout"]["after"]
    return Drift((), after) if intent == "adopt" else drift._replace(baseline=after)


def _trust_inputs(state: PassState, source: IntentSource) -> trust.TrustInputs | None:
    """The trust evidence of one intent; a source without provenance reads as unsigned."""
    if state.trust is None:
        return None
    found = source.provenance or trust.Provenance(committed=source.intent_commit is not None)
    return trust.TrustInputs(state.trust, found)


def _guard_inputs(
    state: PassState, source: IntentSource, records_since: RecordsSince | None
) -> guards.GuardInputs | None:
    found = state.guards
    if found is None or records_since is None:
        return None
    ahead = state.deferred[0] if state.deferred else None
    return guards.GuardInputs(
        settings=found.settings,
        calendar=found.calendar,
        records_since=records_since,
        problem=found.problem,
        added_at=source.added_at,
        ahead=_deferral(ahead) if ahead is not None else None,
        upstream=found.upstream,
    )


def _deferral(outcome: Outcome) -> guards.Deferral:
    """The deferral an outcome carries (what a later intent queues behind)."""
    return guards.Deferral(
        tuple(ReasonCode(reason) for reason in outcome.reasons),
        outcome.problems,
        outcome.not_before,
        outcome.source.shown_path,
    )


def _defer(
    state: PassState, source: IntentSource, intent: Intent, verdict: rules.Verdict
) -> Outcome:
    """The outcome of a deferred intent: nothing written, the file stays pending."""
    deferral = verdict.deferral
    assert deferral is not None
    reasons = tuple(str(reason) for reason in deferral.reasons)
    record = {
        **verdict.record,
        "reasonCodes": list(reasons),
        "errors": list(deferral.messages),
        "notBefore": format_timestamp(deferral.not_before) if deferral.not_before else None,
        "git": _git_block(source, state),
    }
    current = posture(state.view)
    outcome = Outcome(
        source, "deferred", intent, reasons, deferral.messages, record, state, current, current,
        not_before=deferral.not_before,
    )  # fmt: skip
    return outcome._replace(state=state._replace(deferred=(*state.deferred, outcome)))


def _decision(state: PassState) -> Decision:
    assert state.decision is not None, "a PassState has a decision or a decision_problem"
    return state.decision


def _still_invalid(state: PassState, problems: list[str]) -> RefusalError | None:
    """The registry problem the next intent sees: the problems left after this mutation."""
    if not problems:
        return None
    base = state.registry_problem
    message = base.message if base else f"invalid fleet registry: {state.files['registryFile']}"
    return RefusalError(
        ReasonCode.REGISTRY_INVALID, message, details=problems, path=base.path if base else None
    )


def is_rollback(source: IntentSource, now: datetime) -> bool:
    """Tell whether a pending file is a rollback the loop would read (not rejected outright)."""
    if source.problem is not None or source.data is None:
        return False
    try:
        return decode_intent(source.data, source.name, now).intent == "rollback"
    except IntentRejected:
        return False


def _fleet_mismatch(state: PassState, intent: Intent) -> Problem | None:
    """An intent whose `fleet:` is not the fleet its folder belongs to (a rollback too).

    The target is ambiguous: pausing the folder's fleet might pause one its author did not
    name, so the file is rejected and must be moved or fixed. With one fleet, `fleet:` is
    compared with the registry's `fleetId`.
    """
    if state.fleet_id is not None:
        return fleet_mismatch(intent, state.fleet_id)
    return fleet_mismatch(intent, state.view.fleet_id, folder=False)


def fleet_mismatch(intent: Intent, fleet: str | None, *, folder: bool = True) -> Problem | None:
    """`intent_fleet_mismatch` when the intent names a fleet other than `fleet`.

    `fleet`: the fleet whose intents folder holds the file (`folder`), else the registry's
    `fleetId` (one fleet).
    """
    meant = intent.fleet
    if meant is None or meant == fleet:
        return None
    where = f"fleet {fleet}'s folder" if folder else f"fleet {fleet}"
    return Problem(
        ReasonCode.INTENT_FLEET_MISMATCH,
        f'the intent says fleet "{as_text(meant)}" but its file is in {where}; move it '
        "to its fleet's intents folder (a new pull request)",
    )


def _request(intent: Intent) -> applying.ApplyRequest:
    return applying.ApplyRequest(
        intent=intent.intent,
        expand_step=intent.expand_step,
        actor=intent.actor,
        approval_ref=intent.approval_ref,
        rationale=intent.rationale,
        review_by=intent.review_by,
        idempotency_key=intent.idempotency_key,
        loop_id=intent.loop_id,
        horizon_ref=intent.horizon_ref,
        evidence_refs=intent.evidence_refs,
        to_percent=intent.to_percent,
    )


def _trace_id(trace_id: str | None, source: IntentSource) -> str:
    return trace_id or source.intent_commit or source.blob


def _git_block(source: IntentSource, state: PassState) -> dict[str, str | None]:
    return {
        "intentFile": source.shown_path,
        "intentCommit": source.intent_commit,
        "baseCommit": state.base_commit,
    }


def _reject(
    state: PassState,
    source: IntentSource,
    intent: Intent | None,
    problems: list[Problem],
    now: datetime,
    *,
    readable: IntentFields | None = None,
) -> Outcome:
    reasons = tuple(sorted({str(problem.reason) for problem in problems}))
    messages = tuple(problem.message for problem in problems)
    found = state.decision if state.decision_problem is None else None
    # Whatever could be read of the file is kept, valid intent or not.
    fields = intent.fields if intent is not None else readable or IntentFields()
    evidence = {state.files["promotionStateFile"], *fields.evidence_refs}
    current = posture(state.view)
    record: Record = {
        "schemaVersion": "v1",
        "timestamp": format_timestamp(now),
        "category": "promotion_apply",
        "fleetId": state.view.fleet_id,
        "traceId": _trace_id(fields.trace_id, source),
        "loopId": fields.loop_id,
        "horizonRef": fields.horizon_ref,
        "evidenceRefs": sorted(evidence),
        "idempotencyKey": fields.idempotency_key or source.stem,
        "status": "rejected",
        "intent": fields.intent,
        "expandStep": fields.expand_step if fields.intent == "expand" else None,
        "decision": found.decision if found else None,
        "decisionTraceId": found.trace_id if found else None,
        "decisionGeneratedAt": found.generated_at if found else None,
        "governance": _governance(fields),
        "rollout": {
            "before": current,
            "after": current,
            "changed": {"canaryPercent": False, "manualPause": False},
        },
        "files": dict(state.files),
        "reasonCodes": list(reasons),
        "errors": list(messages),
        "git": _git_block(source, state),
    }
    return Outcome(
        source, "rejected", intent, reasons, messages, record, state, current, current,
        readable=fields if intent is None else IntentFields(),
    )  # fmt: skip


def _governance(fields: IntentFields) -> dict[str, str | None] | None:
    """The governance block of a rejected record; None when none of it could be read."""
    block = {
        "actor": fields.actor,
        "approvalRef": fields.approval_ref,
        "rationale": fields.rationale,
        "reviewBy": fields.review_by,
    }
    return block if any(value is not None for value in block.values()) else None
