"""`reconcile status`: the current posture, governance, decision and pending intents.

Read-only and lock-free: it reads the checkout as it is and predicts the next pass with the
loop's own evaluation (see reconciler.loop.prediction).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from reconciler.adapters import files
from reconciler.core import guard_state, passes, queueing
from reconciler.core.audit import Finding
from reconciler.core.audit_drift import AuditState
from reconciler.core.decision import MAX_CLOCK_SKEW, describe_contradictions
from reconciler.core.errors import ReconcileError, RefusalError
from reconciler.core.outcome_rows import outcome_row
from reconciler.core.passes import Outcome, PassState
from reconciler.core.timestamps import format_duration, format_timestamp, parse_timestamp
from reconciler.loop import checkout as checkouts
from reconciler.loop import prediction, queue
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig, load_configs
from reconciler.loop.pass_state import Auditor
from reconciler.reports import audit_state, auditing
from reconciler.telemetry.ledger import Ledger

REVIEW_WARNING = timedelta(days=7)


def repo_status(
    repo: str,
    *,
    now: Callable[[], datetime],
    audit: dict[str, Any] | None = None,
    fleets: Sequence[str] = (),
) -> dict[str, Any]:
    """Return the status report of a policy repository (the shape `status --json` prints).

    `audit`: the audit's summary (`audit_summary`) when the caller just ran it (the
    controller, after its pass); None: run it here (cached, writing nothing), once for the
    repository. With several fleets (or those `fleets` names): `{"repo", "head", "fleets":
    [one report per fleet, with its "fleet"], "audit", "warnings"}`; a fleet whose state
    cannot be read has its `problem` and the others are reported as usual.

    Raises:
        RefusalError: not a git repository, or the registry is missing or invalid (one
            fleet); `fleets_invalid`, `fleet_unknown`.
    """
    configs = load_configs(repo, fleets=fleets)
    checkout = checkouts.open_checkout(configs[0].layout.repo)
    audit = audit if audit is not None else repository_audit(configs[0].layout.repo)
    if not configs[0].layout.is_multi_fleet:
        return _single_status(checkout, configs[0], now, audit)
    # The loop's own hook: what a pass of each fleet would be held by (read when pending).
    hook = auditing.auditor(configs[0].layout.repo, remember=False)
    predicted: dict[str, prediction.Predicted] = {}
    docs = [_fleet_status(checkout, config, now, hook, predicted) for config in configs]
    return {
        "repo": checkout.top,
        "head": checkout.head,
        "fleets": docs,
        "audit": audit,
        "warnings": [f"fleet {doc['fleet']}: {line}" for doc in docs for line in doc["warnings"]],
    }


def _single_status(
    checkout: Checkout, config: LoopConfig, now: Callable[[], datetime], audit: dict[str, Any]
) -> dict[str, Any]:
    """The report of a repository's one fleet (its shape is unchanged since before fleets)."""
    moment = now()
    blocking = audit["blocking"] if audit["problem"] is None else [audit["problem"]]
    state, outcomes = prediction.predict_checkout(
        checkout, config, now, lambda _c, _fleet: blocking
    )
    warnings: list[str] = []
    report: dict[str, Any] = {"repo": checkout.top, "head": checkout.head}
    report.update(_fleet_report(state, config, moment, warnings))
    report["audit"] = audit
    ignored = queue.scan_queue(checkout, config.fleet.intents).ignored
    report.update(_intents_report(outcomes, ignored, warnings))
    return report


def _fleet_status(
    checkout: Checkout,
    config: LoopConfig,
    now: Callable[[], datetime],
    hook: Auditor,
    predicted: dict[str, prediction.Predicted],
) -> dict[str, Any]:
    """One fleet's report among several: as `_single_status`'s, or its `problem`.

    The intents folder is listed first: a fleet with nothing pending starts no git process.
    `predicted`: the fleets before it, as their predicted intents leave them (its upstream
    gate reads them so, as the pass does); this fleet is added.
    """
    fleet = config.fleet.id
    try:
        moment = now()
        found = queue.scan_queue(checkout, config.fleet.intents)
        state, outcomes = prediction.predict_checkout(
            checkout, config, now, hook, pending=found.pending, predicted=predicted
        )
        predicted[fleet] = prediction.Predicted.of(state, outcomes)
        warnings: list[str] = []
        report: dict[str, Any] = {"fleet": fleet, "problem": None}
        report.update(_fleet_report(state, config, moment, warnings))
    except ReconcileError as exc:
        return {
            "fleet": fleet,
            "problem": {
                "reason": str(exc.reason),
                "message": exc.message,
                "details": list(exc.details),
            },
            **dict.fromkeys(("posture", "governance", "decision", "guards")),
            "pending": [],
            "deferred": [],
            "ignored": [],
            "warnings": [f"cannot be read ({exc.reason}): {exc.message}"],
        }
    report.update(_intents_report(outcomes, found.ignored, warnings))
    return report


def _fleet_report(
    state: PassState, config: LoopConfig, moment: datetime, warnings: list[str]
) -> dict[str, Any]:
    """A fleet's posture, governance, decision and guards (warnings appended)."""
    return {
        "posture": {
            "fleetId": state.view.fleet_id,
            "mode": state.view.mode,
            "canaryPercent": state.view.canary_percent,
            "manualPause": state.view.manual_pause,
        },
        "governance": _governance(state, moment, warnings),
        "decision": _decision(state, config.fleet.decision, moment, warnings),
        "guards": _guards(state, config, moment, warnings),
    }


def _intents_report(
    outcomes: Sequence[Outcome], ignored: Sequence[queueing.Ignored], warnings: list[str]
) -> dict[str, Any]:
    """A fleet's pending, still deferred and ignored intents, then its warnings."""
    return {
        "pending": [outcome_row(outcome, None) for outcome in outcomes],
        "deferred": [
            {
                "intentFile": outcome.source.shown_path,
                "reasonCodes": list(outcome.reasons),
                "problems": list(outcome.problems),
                "notBefore": outcome.record.get("notBefore"),
            }
            for outcome in passes.still_deferred(outcomes)
        ],
        "ignored": [queueing.ignored_json(item) for item in ignored],
        "warnings": warnings,
    }


def repository_audit(repo: str, fleet: str | None = None) -> dict[str, Any]:
    """The audit of the history (`reconcile verify`'s incremental check, cached).

    What blocks expand and resume, and the unresolved findings by kind: one audit of the
    repository, every fleet's; `fleet` (one of several): only the blocking findings that
    hold it (its own and the repository-wide ones).
    """
    try:
        found, state = audit_state.cached_blocking_findings(repo, remember=False)
    except RefusalError as exc:
        return audit_problem(exc)
    return audit_summary([f for f in found if f.holds(fleet)], state)


def audit_problem(exc: ReconcileError) -> dict[str, Any]:
    """The audit's summary when it could not run (expand and resume wait)."""
    return {"blocking": [], "unresolved": {}, "problem": f"the audit could not run: {exc.message}"}


def audit_summary(found: Sequence[Finding], state: AuditState) -> dict[str, Any]:
    """The audit's summary: its blocking findings, one line each, and the unresolved by kind."""
    return {
        "blocking": [audit_state.finding_line(finding) for finding in found],
        "unresolved": audit_state.unresolved_counts(state),
        "problem": None,
    }


def _guards(
    state: PassState, config: LoopConfig, now: datetime, warnings: list[str]
) -> dict[str, Any]:
    """The guard state before the pending intents.

    Read from a ledger of its own: the prediction's ledger holds the predicted records too.
    """
    history = Ledger(config.fleet.telemetry, config.fleet.state, config.rotate_bytes)
    found = guard_state.describe_guards(state.guards, history.applied_since, state.decision, now)
    problem = found.get("problem")
    if problem and problem["reason"] in ("guard_settings_invalid", "freeze_file_invalid"):
        warnings.append(f"{problem['message']}: expand and resume are deferred until it is fixed")
    elif problem:
        warnings.append(f"the progression guards cannot be computed: {problem['message']}")
    return found


def _governance(state: PassState, now: datetime, warnings: list[str]) -> dict[str, Any]:
    governance = state.view.governance
    review_by = parse_timestamp(governance.review_by)
    left = review_by - now if review_by else None
    if left is None:
        warnings.append("governance.reviewBy is missing or not a timestamp")
    elif left <= timedelta(0):
        warnings.append(
            f"governance review expired {format_duration(-left)} ago "
            f"({_shown(review_by)}); the next intent must renew it"
        )
    elif left < REVIEW_WARNING:
        warnings.append(f"governance review due in {format_duration(left)} ({_shown(review_by)})")
    return {
        "actor": governance.actor,
        "approvalRef": governance.approval_ref,
        "rationale": governance.rationale,
        "changedAt": governance.changed_at,
        "reviewBy": governance.review_by,
        "daysLeft": None if left is None else round(left / timedelta(days=1), 1),
        "reviewDue": left is None or left < REVIEW_WARNING,
        "reviewExpired": left is not None and left <= timedelta(0),
    }


def _shown(moment: datetime | None) -> str:
    """A parsed time as people see every time: UTC with `Z` (docs/output.md)."""
    return "unknown" if moment is None else format_timestamp(moment)


def _decision(state: PassState, path: str, now: datetime, warnings: list[str]) -> dict[str, Any]:
    if state.decision is None:
        problem = state.decision_problem
        message = problem.message if problem else "no decision"
        warnings.append(f"promotion decision unusable: {message}")
        return {
            "decision": None,
            "problem": message,
            "reason": str(problem.reason) if problem else None,
            "stale": True,
        }
    if state.decision.contradictions:
        warnings.append(
            f"{describe_contradictions(state.decision)}; expand and resume will be rejected"
        )
    generated = parse_timestamp(state.decision.generated_at)
    age = now - generated if generated else None
    stale = age is None or age > state.max_age
    if age is not None and -age > MAX_CLOCK_SKEW:
        warnings.append(
            f"promotion decision is from the future ({_shown(generated)}, more than "
            f"{format_duration(MAX_CLOCK_SKEW)} ahead); expand and resume will be rejected"
        )
    elif stale:
        warnings.append(
            "promotion decision is stale (no generatedAt)"
            if age is None
            else f"promotion decision is stale: {format_duration(age)} old (max "
            f"{state.max_age_text}); expand and resume will be rejected"
        )
    return {
        "decision": state.decision.decision,
        "traceId": state.decision.trace_id,
        "generatedAt": state.decision.generated_at,
        "ageSeconds": None if age is None else int(age.total_seconds()),
        "age": None if age is None else format_duration(age),
        "maxAge": state.max_age_text,
        "stale": stale,
        "failedGates": _failed_gates(path),
    }


def _failed_gates(path: str) -> list[str]:
    try:
        data = files.read_bounded(path, 16 * 1024 * 1024, follow_symlinks=True)
        doc = json.loads(data or b"{}")
    except (ValueError, RecursionError, OSError):
        return []
    except Exception:  # noqa: BLE001 - a RefusalError here was already reported above
        return []
    summary = doc.get("summary") if isinstance(doc, dict) else None
    gates = summary.get("failedGates") if isinstance(summary, dict) else None
    return [str(gate) for gate in gates] if isinstance(gates, list) else []
