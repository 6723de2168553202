"""One pending intent file evaluated against the pass's state (core layer): the loop's rules.

`evaluate_intent` turns the bytes of one intent file into an Outcome (applied, replayed or
rejected, with reason codes, the record and the registry after it). It never raises for bad
input: whatever the file holds, the result is an outcome. The loop, `plan` and `status`
all call it, so what a pull request's plan predicts is what the reconciler commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from reconciler.core import applying, decision, registry
from reconciler.core.decision import Decision
from reconciler.core.editing import RegistryText
from reconciler.core.errors import RefusalError
from reconciler.core.intents import Intent, IntentRejected, Problem, decode_intent
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp

Record = dict[str, Any]
Status = Literal["applied", "replayed", "rejected"]


class IntentSource(NamedTuple):
    """One pending intent file as the loop found it."""

    path: str
    """Repo-relative path, e.g. `policies/intents/20261124T0930Z-expand.yaml`."""
    data: bytes | None
    """Its bytes; None when `problem` says why they could not be read."""
    problem: Problem | None
    """A problem found before parsing (a symlink, too large, a bad name)."""
    intent_commit: str | None
    """SHA of the commit that added the file; None for a file not committed yet."""
    blob: str
    """Git blob id of the file (its trace id when it is not in any commit)."""

    @property
    def name(self) -> str:
        """The file's base name."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        """The base name without its extension, as text (a non-UTF-8 byte shows as U+FFFD)."""
        stem = self.name.rsplit(".", 1)[0] if "." in self.name else self.name
        return as_text(stem)

    @property
    def shown_path(self) -> str:
        """`path` as text for records and messages (a non-UTF-8 byte shows as U+FFFD)."""
        return as_text(self.path)


def as_text(value: str) -> str:
    """Return `value` encodable as UTF-8: surrogate-escaped bytes of a file name become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class PassState(NamedTuple):
    """What an intent is evaluated against; the next intent sees the state after it."""

    registry: RegistryText
    view: registry.RegistryView
    decision: Decision | None
    decision_problem: RefusalError | None
    """Why the decision could not be read (missing, invalid); None when it was."""
    max_age: timedelta
    max_age_text: str
    files: Mapping[str, str]
    """registryFile, promotionStateFile, applyStateFile, applyTelemetryFile, repo-relative."""
    base_commit: str
    """The commit this intent's commit goes on top of."""


class Outcome(NamedTuple):
    """What the reconciler does with one intent file."""

    source: IntentSource
    status: Status
    intent: Intent | None
    """The parsed intent; None when the file itself is rejected."""
    reasons: tuple[str, ...]
    """Reason codes: why it was rejected, or the notes of an applied record."""
    problems: tuple[str, ...]
    """One line per problem of a rejected intent."""
    record: Record
    """Applied or rejected: the new record. Replayed: the earlier record, marked replayed."""
    state: PassState
    """The state after this intent (the registry edited when applied)."""
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    """canaryPercent and manualPause before and after."""

    @property
    def action(self) -> str:
        """expand, resume or rollback; `invalid` when the file could not be read as an intent."""
        return self.intent.intent if self.intent else "invalid"

    @property
    def trace_id(self) -> str:
        """The trace id carried by the record and the commit."""
        return str(self.record.get("traceId") or "")


def posture(view: registry.RegistryView) -> dict[str, Any]:
    """Return the rollout posture of a registry view as a record's before/after."""
    return {"canaryPercent": view.canary_percent, "manualPause": view.manual_pause}


def evaluate_intent(
    state: PassState,
    source: IntentSource,
    now: datetime,
    find_applied: Callable[[str], Record | None],
) -> Outcome:
    """Decide what one intent file does; never raises for anything the file holds.

    Order: the file (read, parse, fields), the idempotency replay (before any gate, as
    `apply`), the decision (readable, expected trace id, promote, fresh), the fleet's mode,
    then the mutation, whose result must validate.
    """
    if source.problem is not None or source.data is None:
        problem = source.problem or Problem(ReasonCode.INTENT_UNREADABLE, "cannot read the file")
        return _reject(state, source, None, [problem], now)
    try:
        intent = decode_intent(source.data, source.name, now)
    except IntentRejected as exc:
        return _reject(state, source, None, exc.problems, now)
    try:
        prior, unverified = find_applied(intent.idempotency_key), None
    except RefusalError as exc:
        # Telemetry that cannot say "not applied" rejects expand and resume; a rollback
        # still pauses, its record noting that its replay could not be checked.
        if exc.reason is not ReasonCode.TELEMETRY_CORRUPT:
            raise
        if intent.intent != "rollback":
            return _reject(state, source, intent, [Problem(exc.reason, exc.message)], now)
        prior, unverified = None, exc.reason
    request = _request(intent)
    if prior is not None:
        record = applying.replay_record(prior, request)
        return Outcome(
            source, "replayed", intent, tuple(record.get("reasonCodes", [])), (), record, state,
            posture(state.view), posture(state.view),
        )  # fmt: skip
    notes: list[ReasonCode] = [unverified] if unverified else []
    try:
        _gate(state, intent, notes, now)
        mutation = applying.plan_mutation(state.view, request, now)
        after_registry = state.registry.edited(mutation.changes)
        new_doc = after_registry.document
        problems = registry.validate_registry(new_doc, now)
        if problems:
            raise RefusalError(
                ReasonCode.REGISTRY_MUTATION_INVALID,
                "the registry after this intent would fail validation",
                details=problems,
            )
    except RefusalError as exc:
        found = [Problem(exc.reason, exc.message), *(Problem(exc.reason, d) for d in exc.details)]
        return _reject(state, source, intent, found, now)
    if state.view.mode != "guarded_auto":
        notes.append(ReasonCode.ROLLBACK_IN_ADVISORY_MODE)
    assert isinstance(new_doc, dict)
    view = registry.view_registry(new_doc)
    context = applying.RecordContext(
        now=now,
        fleet_id=state.view.fleet_id,
        trace_id=_trace_id(intent, source),
        decision=state.decision if state.decision_problem is None else None,
        files=state.files,
        notes=notes,
    )
    record = applying.build_record(request, mutation, context)
    record["git"] = _git_block(source, state)
    after = state._replace(registry=after_registry, view=view)
    return Outcome(
        source, "applied", intent, tuple(record["reasonCodes"]), (), record, after,
        mutation.before, mutation.after,
    )  # fmt: skip


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
    )


def _gate(state: PassState, intent: Intent, notes: list[ReasonCode], now: datetime) -> None:
    """Refuse expand/resume unless the decision allows them; a rollback always passes."""
    if intent.intent == "rollback":
        if state.decision_problem is not None:
            notes += [ReasonCode.ROLLBACK_WITHOUT_DECISION, state.decision_problem.reason]
        return
    if state.decision_problem is not None:
        raise state.decision_problem
    assert state.decision is not None
    expected = intent.expect_decision_trace_id
    if expected is not None and state.decision.trace_id != expected:
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_TRACE_MISMATCH,
            f"expected decision {expected} but the current decision is "
            f"{state.decision.trace_id or 'without a traceId'}",
        )
    decision.check_decision_allows(
        intent.intent, state.decision, now, state.max_age, state.max_age_text
    )
    if state.view.mode != "guarded_auto":
        raise RefusalError(
            ReasonCode.REGISTRY_NOT_GUARDED_AUTO,
            f"intent {intent.intent} requires policy.mode guarded_auto (found {state.view.mode})",
        )


def _trace_id(intent: Intent | None, source: IntentSource) -> str:
    if intent is not None and intent.trace_id:
        return intent.trace_id
    return source.intent_commit or source.blob


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
) -> Outcome:
    reasons = tuple(sorted({str(problem.reason) for problem in problems}))
    messages = tuple(problem.message for problem in problems)
    found = state.decision if state.decision_problem is None else None
    evidence = {state.files["promotionStateFile"], *(intent.evidence_refs if intent else ())}
    current = posture(state.view)
    record: Record = {
        "schemaVersion": "v1",
        "timestamp": format_timestamp(now),
        "category": "promotion_apply",
        "fleetId": state.view.fleet_id,
        "traceId": _trace_id(intent, source),
        "loopId": intent.loop_id if intent else None,
        "horizonRef": intent.horizon_ref if intent else None,
        "evidenceRefs": sorted(evidence),
        "idempotencyKey": intent.idempotency_key if intent else source.stem,
        "status": "rejected",
        "intent": intent.intent if intent else None,
        "expandStep": intent.expand_step if intent and intent.intent == "expand" else None,
        "decision": found.decision if found else None,
        "decisionTraceId": found.trace_id if found else None,
        "decisionGeneratedAt": found.generated_at if found else None,
        "governance": _governance(intent),
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
    return Outcome(source, "rejected", intent, reasons, messages, record, state, current, current)


def _governance(intent: Intent | None) -> dict[str, str] | None:
    if intent is None:
        return None
    return {
        "actor": intent.actor,
        "approvalRef": intent.approval_ref,
        "rationale": intent.rationale,
        "reviewBy": intent.review_by,
    }
