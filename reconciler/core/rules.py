"""The rules every path decides by (core layer): one request and its inputs -> a verdict.

`reconcile apply`, the loop (`--once`, the daemon), `plan`, `status` and `dispatch` all call
`evaluate`, so a rule added to `RULES` is enforced on every path at once. Pure: the callers
read the registry, the decision and the telemetry and pass what they found, or why they could
not (a RefusalError), as `Inputs`; the order in which those problems surface is `RULES`'s.
A rule refuses by raising RefusalError (apply exits 1, the loop rejects the intent).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from reconciler.core import applying, decision, guards, registry, trust
from reconciler.core.decision import Decision
from reconciler.core.drift import Drift
from reconciler.core.editing import RegistryText
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.registry import RegistryView

DRIFT_SHOWN = 20
"""The findings an `audit_drift` refusal lists (the rest are counted)."""
REGISTRY_FOOTER = "failed to read/validate fleet registry"
"""The bash tool's line after a registry error; runbooks grep for it."""

Record = dict[str, Any]


class Inputs(NamedTuple):
    """Everything one request is decided against, as the caller read it."""

    request: applying.ApplyRequest
    trace_id: str
    files: Mapping[str, str]
    """registryFile, promotionStateFile, applyStateFile, applyTelemetryFile, as records name
    them (absolute for apply, repo-relative for the loop)."""
    registry: RegistryText | RefusalError
    """The current registry, or why it could not be read (refused where the rules reach it)."""
    decision: Decision | RefusalError
    """The promotion decision, or why it could not be read (missing, invalid, empty)."""
    max_age: timedelta | None = None
    max_age_text: str | None = None
    prior: Record | None = None
    """The earlier applied record of the request's idempotency key; None when there is none."""
    telemetry_problem: RefusalError | None = None
    """Why the telemetry cannot tell whether the key was applied (`telemetry_corrupt`)."""
    previous_canary: Callable[[], int | None] | None = None
    """A rollback's `toPercent: previous`: the canary before the newest applied expand that
    raised it (None: none; raises RefusalError: the records cannot tell). Called only then."""
    registry_problems: Sequence[str] | None = None
    """The current registry's problems when the caller already knows them (the loop validates
    once per pass, then carries what each mutation leaves); None: the rules validate it."""
    view: RegistryView | None = None
    """The current registry's view when the caller already has it; None: read from it."""
    expect_decision_trace_id: str | None = None
    notes: Sequence[ReasonCode] = ()
    """Notes the inputs already carry (a rollback file's ignored fields, apply's
    `telemetry_not_appended`)."""
    warnings: Sequence[str] = ()
    """Their lines for the record's `warnings`."""
    guards: guards.GuardInputs | None = None
    """What the progression guards are computed from; None: no guard (every one off)."""
    drift: Drift | None = None
    """What the audit left unresolved (hand edits, a broken record chain); None: not audited
    (`reconcile apply`)."""
    trust: trust.TrustInputs | None = None
    """Who signed and approved the request, and the pass's trust settings; None: `trust:` is
    not set (or the path has no git provenance: `reconcile apply`)."""
    fleet: str | None = None
    """The fleet of a repository with several (its folder name; the registry's `fleetId` must
    match it); None: the one fleet."""


class Verdict(NamedTuple):
    """What the rules decided when they did not refuse."""

    status: Literal["applied", "replayed", "deferred"]
    record: Record
    """Applied: the new record. Replayed: the earlier record, marked replayed. Deferred: the
    record the request would have had (never written)."""
    prior: Record | None = None
    """Replayed: the earlier record."""
    registry: RegistryText | None = None
    """Applied: the registry after the mutation (the current one when nothing changed)."""
    mutation: applying.Mutation | None = None
    problems: tuple[str, ...] = ()
    """Applied: the problems the registry still has after it (only a rollback gets past any)."""
    warnings: tuple[str, ...] = ()
    """Applied: the record's `warnings`."""
    deferral: guards.Deferral | None = None
    """Deferred: which guards hold the request, what clears them and when (`notBefore`)."""


@dataclass
class Evaluation:
    """One request being decided: its inputs and what the rules found so far."""

    inputs: Inputs
    clock: Callable[[], datetime]
    """Read by the rules that need the time, once each (decision, review-by, registry), in
    that order, as the bash tool read it."""
    request: applying.ApplyRequest
    notes: list[ReasonCode]
    warnings: list[str]
    decision: Decision | None = None
    """The decision the record names (None for a rollback without one)."""
    now: datetime | None = None
    """When the registry is checked and mutated (the record's timestamp)."""
    view: RegistryView | None = None
    mutation: applying.Mutation | None = None
    after: RegistryText | None = None
    left: tuple[str, ...] = ()

    @property
    def intent(self) -> str:
        """expand, resume or rollback."""
        return self.request.intent

    @property
    def registry_file(self) -> str:
        """The registry's path as messages name it."""
        return self.inputs.files["registryFile"]


Rule = Callable[[Evaluation], Verdict | None]
"""A check: raise RefusalError to refuse, return a Verdict to decide now, None to go on."""


def find_prior(
    lookup: Callable[[str], Record | None], key: str
) -> tuple[Record | None, RefusalError | None]:
    """The earlier applied record of `key`, or why the telemetry cannot tell (every path).

    Telemetry that cannot say "not applied" (`telemetry_corrupt`) is not raised here: it goes
    to `Inputs.telemetry_problem`, where `check_telemetry` refuses expand and resume and lets
    a rollback pause, noting that its replay could not be checked.

    Raises:
        RefusalError: any other problem of the lookup.
    """
    try:
        return lookup(key), None
    except RefusalError as exc:
        if exc.reason is not ReasonCode.TELEMETRY_CORRUPT:
            raise
        return None, exc


def registry_problems(doc: object, now: datetime) -> list[str]:
    """The current registry's problems, every one, as every path validates it.

    The mutation replaces the whole governance block, so the current block's own problems (an
    expired reviewBy above all) are skipped; the mutated registry is validated in full.
    """
    return registry.validate_registry(doc, now, skip_governance_fields=True)


def check_telemetry(evaluation: Evaluation) -> None:
    """Telemetry that cannot tell whether the key was applied refuses expand and resume.

    A rollback still pauses (pausing twice is harmless, not pausing is not); a keyed one
    notes that its replay could not be checked.
    """
    problem = evaluation.inputs.telemetry_problem
    if problem is None:
        return
    if evaluation.intent != "rollback":
        raise problem
    if evaluation.request.idempotency_key:
        evaluation.notes.append(ReasonCode.TELEMETRY_CORRUPT)


def check_trust(evaluation: Evaluation) -> None:
    """The request must come from a permitted signer; approval and decision trust too.

    Before the replay: a key is only ever replayed for someone allowed to ask. A rollback by
    a permitted signer is applied even when its approval or the decision's signature fails
    (noted); see `trust.assess`.
    """
    found = evaluation.inputs.trust
    if found is None:
        return
    request = evaluation.request
    assessment = trust.assess(found, request.intent, request.actor)
    evaluation.notes += assessment.notes
    evaluation.warnings += assessment.warnings


def check_fleet(evaluation: Evaluation) -> None:
    """The registry's `fleetId` must name its fleet (several fleets: the folder name).

    Expand and resume are refused (`fleet_id_mismatch`); a rollback still pauses the registry
    its folder holds, noted: rollback always pauses. An unreadable registry is left to the
    rules that read it.
    """
    fleet = evaluation.inputs.fleet
    if fleet is None:
        return
    try:
        found = _current_view(evaluation).fleet_id
    except RefusalError:
        return
    if found == fleet:
        return
    message = (
        f'the registry\'s fleetId "{found}" does not match its fleet {fleet} (its folder name); '
        "fix fleetId or the folder by pull request"
    )
    if evaluation.intent in ("expand", "resume"):
        raise RefusalError(ReasonCode.FLEET_ID_MISMATCH, message)
    evaluation.notes.append(ReasonCode.FLEET_ID_MISMATCH)
    evaluation.warnings.append(message)


def check_replay(evaluation: Evaluation) -> Verdict | None:
    """A key applied before replays its record, before any gate.

    So a retry after the decision turned `hold` gets the recorded result. A rollback must
    leave the fleet paused: on a fleet that is not paused now it is applied anyway
    (`idempotency_replay_overridden`); only then is the registry needed here.
    """
    prior = evaluation.inputs.prior
    if prior is None:
        return None
    if evaluation.intent == "rollback" and applying.overrides_replay(
        evaluation.intent, _current_view(evaluation)
    ):
        evaluation.notes.append(ReasonCode.IDEMPOTENCY_REPLAY_OVERRIDDEN)
        return None
    return Verdict("replayed", applying.replay_record(prior, evaluation.request), prior=prior)


def check_audit_drift(evaluation: Evaluation) -> None:
    """Refuse expand and resume while the audit trail has unresolved drift (`audit_drift`).

    A rollback still pauses; an `adopt` (or a revert of the hand edit) is the way out.
    """
    found = evaluation.inputs.drift
    if found is None or not found.blocking or evaluation.intent not in ("expand", "resume"):
        return
    count = len(found.blocking)
    shown = list(found.blocking[:DRIFT_SHOWN])
    if count > DRIFT_SHOWN:  # a commit of thousands of files must not bloat every record
        shown.append(f"... and {count - DRIFT_SHOWN} more (reconcile verify lists them)")
    raise RefusalError(
        ReasonCode.AUDIT_DRIFT,
        f"the audit trail has {count} unresolved finding{'s' if count > 1 else ''} "
        f"({found.blocking[0]}); revert the hand edit or merge an adopt intent",
        details=shown,
    )


def check_decision(evaluation: Evaluation) -> None:
    """Refuse expand and resume without a readable, expected, consistent and fresh `promote`.

    A rollback is the safety path: a missing or broken decision is noted, never blocking,
    and `expectDecisionTraceId` is ignored. An adopt does not act on the decision: it records
    the current one when it can be read.
    """
    inputs = evaluation.inputs
    found = inputs.decision
    if evaluation.intent == "adopt":
        evaluation.decision = None if isinstance(found, RefusalError) else found
        return
    if isinstance(found, RefusalError):
        if evaluation.intent != "rollback":
            raise found
        evaluation.notes += [ReasonCode.ROLLBACK_WITHOUT_DECISION, found.reason]
        return
    expected = inputs.expect_decision_trace_id
    if expected is not None and evaluation.intent != "rollback" and found.trace_id != expected:
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_TRACE_MISMATCH,
            f"expected decision {expected} but the current decision is "
            f"{found.trace_id or 'without a traceId'}",
        )
    decision.check_decision_allows(
        evaluation.intent, found, evaluation.clock(), inputs.max_age, inputs.max_age_text
    )
    evaluation.decision = found


def check_review_by(evaluation: Evaluation) -> None:
    """The review-by must be a timestamp in the future; it is written in canonical UTC."""
    evaluation.request = applying.check_review_by(evaluation.request, evaluation.clock())


def check_registry(evaluation: Evaluation) -> None:
    """The registry must be readable and valid; a rollback only where it writes.

    A rollback is refused only by problems it cannot get past (applying.is_refused_by); the
    others are noted once the mutated registry is validated.
    """
    current = _current_registry(evaluation)
    evaluation.now = evaluation.clock()
    problems = evaluation.inputs.registry_problems
    if problems is None:
        problems = registry_problems(current.document, evaluation.now)
    if applying.is_refused_by(evaluation.intent, problems):
        raise RefusalError(
            ReasonCode.REGISTRY_INVALID,
            f"invalid fleet registry: {evaluation.registry_file}",
            details=problems,
            footer=REGISTRY_FOOTER,
        )
    evaluation.view = _current_view(evaluation)


def check_mode(evaluation: Evaluation) -> None:
    """Refuse expand and resume unless `policy.mode: guarded_auto`; note an advisory rollback."""
    assert evaluation.view is not None
    if evaluation.view.mode == "guarded_auto" or evaluation.intent == "adopt":
        return
    if evaluation.intent != "rollback":
        raise RefusalError(
            ReasonCode.REGISTRY_NOT_GUARDED_AUTO,
            "promotion apply requires policy.mode guarded_auto",
            path=evaluation.registry_file,
        )
    evaluation.notes.append(ReasonCode.ROLLBACK_IN_ADVISORY_MODE)


def check_expand_step(evaluation: Evaluation) -> None:
    """Reject an expand whose step the guards could never let through (never clamped)."""
    found = evaluation.inputs.guards
    if found is not None and found.problem is None:
        guards.check_step(found.settings, evaluation.intent, evaluation.request.expand_step)


def mutate(evaluation: Evaluation) -> None:
    """Plan the rollout change and make it as a minimal edit of the registry text.

    Raises:
        EditError: the edit could not be made or would not read back as intended.
    """
    assert evaluation.view is not None and evaluation.now is not None
    target, notes = applying.rollback_target(
        evaluation.request, evaluation.view.canary_percent, evaluation.inputs.previous_canary
    )
    evaluation.notes += notes
    mutation = applying.plan_mutation(evaluation.view, evaluation.request, evaluation.now, target)
    drift = evaluation.inputs.drift
    if evaluation.intent == "adopt" and drift is not None and drift.baseline is not None:
        # An adopt's before is the recorded baseline, its after the file as it is.
        baseline = drift.baseline
        mutation = mutation._replace(before={key: baseline.get(key) for key in mutation.after})
    evaluation.mutation = mutation
    evaluation.after = _current_registry(evaluation).edited(mutation.changes)


def check_mutated(evaluation: Evaluation) -> None:
    """The registry after the mutation must validate in full; a rollback notes what is left.

    (For a rollback only the owned fields and their blocks must: the problems elsewhere are
    not its doing, `registry_invalid_elsewhere`, listed in the record's `warnings`.)
    """
    assert evaluation.after is not None and evaluation.now is not None
    problems = registry.validate_registry(evaluation.after.document, evaluation.now)
    if applying.is_refused_by(evaluation.intent, problems, mutated=True):
        raise RefusalError(
            ReasonCode.REGISTRY_MUTATION_INVALID,
            "mutated registry failed validation",
            details=problems,
        )
    if problems:
        evaluation.notes.append(ReasonCode.REGISTRY_INVALID_ELSEWHERE)
        evaluation.warnings += problems
        evaluation.left = tuple(problems)


def check_guards(evaluation: Evaluation) -> Verdict | None:
    """Defer an expand or resume the progression guards hold; a rollback is never held.

    Last before the record: only a request that would otherwise be applied is deferred
    (anything else about it is refused first), so the deferral is all that stands between
    it and its commit.

    Raises:
        RefusalError: `intent_deferral_expired`: it would wait, and has waited too long.
    """
    found = evaluation.inputs.guards
    if found is None or evaluation.intent in ("rollback", "adopt"):
        return None
    assert evaluation.view is not None and evaluation.now is not None
    deferral = guards.assess(
        found,
        evaluation.intent,
        evaluation.view.canary_percent,
        evaluation.request.expand_step,
        evaluation.decision,
        evaluation.now,
    )
    if deferral is None:
        return None
    verdict = record_applied(evaluation)
    record = {**verdict.record, "status": "deferred"}
    return verdict._replace(status="deferred", record=record, deferral=deferral)


def record_applied(evaluation: Evaluation) -> Verdict:
    """Decide: applied, with its record."""
    assert evaluation.view is not None and evaluation.now is not None
    assert evaluation.mutation is not None and evaluation.after is not None
    inputs = evaluation.inputs
    context = applying.RecordContext(
        now=evaluation.now,
        fleet_id=evaluation.view.fleet_id,
        trace_id=inputs.trace_id,
        decision=evaluation.decision,
        files=inputs.files,
        notes=evaluation.notes,
        warnings=evaluation.warnings,
    )
    record = applying.build_record(evaluation.request, evaluation.mutation, context)
    return Verdict(
        "applied",
        record,
        registry=evaluation.after,
        mutation=evaluation.mutation,
        problems=evaluation.left,
        warnings=tuple(evaluation.warnings),
    )


RULES: tuple[Rule, ...] = (
    check_telemetry,
    check_trust,
    check_fleet,
    check_replay,
    check_audit_drift,
    check_decision,
    check_review_by,
    check_registry,
    check_mode,
    check_expand_step,
    mutate,
    check_mutated,
    check_guards,
    record_applied,
)
"""The rules in the order they are checked: the bash tool's (docs/apply.md, "Order of work").
`evaluate` reads this at each call, so a test may insert a rule and see every path obey it."""


def evaluate(inputs: Inputs, clock: Callable[[], datetime]) -> Verdict:
    """Decide one request: run `RULES` in order until one decides.

    Raises:
        RefusalError: the first rule that refuses it, with its message.
    """
    evaluation = Evaluation(
        inputs, clock, inputs.request, list(inputs.notes), list(inputs.warnings)
    )
    for rule in RULES:
        verdict = rule(evaluation)
        if verdict is not None:
            return verdict
    raise AssertionError("the last rule always decides")  # pragma: no cover


def _current_registry(evaluation: Evaluation) -> RegistryText:
    found = evaluation.inputs.registry
    if isinstance(found, RefusalError):
        # A new error, with the bash tool's footer: the caller's input stays as it was given.
        raise RefusalError(
            found.reason,
            found.message,
            details=found.details,
            path=found.path,
            footer=REGISTRY_FOOTER,
        ) from found
    return found


def _current_view(evaluation: Evaluation) -> RegistryView:
    """The current registry's view; a document that is not a mapping reads as the defaults."""
    if evaluation.inputs.view is not None:
        return evaluation.inputs.view
    document = _current_registry(evaluation).document
    return registry.view_registry(document if isinstance(document, dict) else {})
