"""`reconcile dispatch`: the manual orchestration path (the rollout-dispatch workflow).

`dry_run` previews a would-be intent on top of the current state and the pending intents
(nothing is written; the governance flags are optional); `apply` and `rollback` write the
intent file and run one pass (with --push when asked), then report that intent's outcome.
Either way the result is a document (`reconcile dispatch` renders it as JSON, text and
Markdown with reconciler.render).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from reconciler.core import intent_writing
from reconciler.core.errors import ReconcileError, RefusalError
from reconciler.core.outcome_rows import outcome_row
from reconciler.core.passes import IntentSource, Outcome
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp
from reconciler.core.visible import has_visible_text
from reconciler.inputs import layouts
from reconciler.loop import checkout as checkouts
from reconciler.loop import intent_files, pass_state, prediction
from reconciler.loop.config import load_config
from reconciler.loop.once import OnceOptions, run_once
from reconciler.telemetry.ledger import Ledger

MODES = ("dry_run", "apply", "rollback")
APPLY_INTENTS = ("expand", "resume")
PREVIEW_GOVERNANCE = {"--by": "dry-run", "--approval-ref": "dry-run", "--rationale": "preview"}
"""What a dry run without governance flags previews with (reviewBy: a day from now)."""
DAY = timedelta(days=1)


class DispatchArgs(NamedTuple):
    """The flags of `reconcile dispatch`, as typed."""

    mode: str
    apply_intent: str | None
    expand_step: int | None
    actor: str | None
    approval_ref: str | None
    rationale: str | None
    review_by: str | None
    repo: str = "."
    push: bool = False
    idempotency_key: str | None = None
    """The intent's key (default: its file name's stem, new every time). A caller that may
    retry (the dispatch workflow: `dispatch-$GITHUB_RUN_ID`) passes a stable one, so a retry
    after a push whose outcome is unknown replays instead of applying twice."""
    to_percent: str | None = None
    """Mode rollback only: the canary to lower to, `0`..`100` or `previous` (as typed)."""
    audit: pass_state.Auditor | None = None
    """The history's audit (drift holds expand and resume), as `--once` runs it."""
    fleet: str | None = None
    """`--fleet`: the fleet of several the intent is for (required there; refused with one).
    The pass that follows reconciles that fleet only: the dispatch reports its own intent,
    and another fleet's pending intents (or refusal) are the regular pass's business."""


def _request(args: DispatchArgs, now: Callable[[], datetime]) -> intent_writing.IntentRequest:
    if args.mode not in MODES:
        raise RefusalError(
            ReasonCode.INTENT_INVALID, "--mode must be one of dry_run, apply, rollback"
        )
    intent = "rollback" if args.mode == "rollback" else args.apply_intent or "expand"
    if intent not in ("rollback", *APPLY_INTENTS):
        raise RefusalError(ReasonCode.INTENT_INVALID, "--apply-intent must be expand or resume")
    if args.to_percent and args.mode != "rollback":
        raise RefusalError(
            ReasonCode.TO_PERCENT_INVALID, "--to-percent is only allowed with --mode rollback"
        )
    governance = {
        "--by": args.actor,
        "--approval-ref": args.approval_ref,
        "--rationale": args.rationale,
        "--review-by": args.review_by,
    }
    if args.mode == "dry_run":
        # A preview needs no governance (as the bash orchestrator): a missing flag is filled
        # with a placeholder, so the preview shows what the decision and registry allow.
        placeholders = dict(PREVIEW_GOVERNANCE, **{"--review-by": format_timestamp(now() + DAY)})
        governance = {
            flag: value if has_visible_text(value) else placeholders[flag]
            for flag, value in governance.items()
        }
    for flag, value in governance.items():
        if not has_visible_text(value):
            raise RefusalError(
                ReasonCode.GOVERNANCE_MISSING, f"{flag} is required for mode {args.mode}"
            )
    return intent_writing.IntentRequest(
        intent=intent,
        actor=governance["--by"],
        approval_ref=governance["--approval-ref"],
        rationale=governance["--rationale"],
        review_by=governance["--review-by"],
        # The workflow always passes a step; it only means something for expand.
        expand_step=args.expand_step if intent == "expand" else None,
        idempotency_key=args.idempotency_key or None,
        to_percent=args.to_percent or None,  # checked with the file (to_percent_invalid)
    )


def dispatch(args: DispatchArgs, *, now: Callable[[], datetime]) -> dict[str, Any]:
    """Run one dispatch and return its result document.

    Raises:
        RefusalError: a missing governance flag or an invalid intent (nothing written), or
            any refusal of the pass itself.
        RetryableError: lock, remote or push trouble of the pass.
    """
    request = _request(args, now)
    if args.mode == "dry_run":
        outcome = _preview(args.repo, request, now, args.audit, args.fleet)
        return _result(args.mode, "preview", outcome, None, pushed=False)
    written = intent_files.write_intent_file(
        args.repo, request, now(), fleet=args.fleet, command="dispatch"
    )
    fleets = () if args.fleet is None else (args.fleet,)
    options = OnceOptions(repo=args.repo, push=args.push, audit=args.audit, fleets=fleets)
    try:
        report = run_once(options, now=now)
    except ReconcileError:
        # Refused or failed before consuming it: withdraw the file, or a later pass would
        # apply a dispatch the operator was told had failed.
        _withdraw(os.path.join(settings_repo(args.repo), written.path))
        raise
    repo_top = checkouts.open_checkout(settings_repo(args.repo)).top
    wanted = os.path.relpath(os.path.join(settings_repo(args.repo), written.path), repo_top)
    # The file's last outcome: one deferred, then superseded by a rollback later in the pass,
    # ended rejected (and committed so), not deferred.
    for outcome, commit in reversed(list(zip(report.outcomes, report.commits, strict=True))):
        if outcome.source.path == wanted.replace(os.sep, "/"):
            status: str = outcome.status
            if status in ("rejected", "deferred"):
                if status == "deferred":
                    # Held by a guard: like `apply`, a dispatch runs now or not at all; the
                    # file is withdrawn (never committed) and the result says when to retry.
                    _withdraw(os.path.join(settings_repo(args.repo), written.path))
            else:
                status = "rolled_back" if args.mode == "rollback" else "applied"
            return _result(args.mode, status, outcome, commit, pushed=report.pushed)
    raise RefusalError(
        ReasonCode.INTENT_UNREADABLE,
        f"the pass did not process {written.path}; check `reconcile status`",
    )


def _withdraw(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # consumed by the pass (moved to applied/ or rejected/)


def settings_repo(repo: str) -> str:
    """The absolute repository path, resolved as every command resolves `--repo`."""
    return layouts.resolve_repo(repo)


def _preview(
    repo: str,
    request: intent_writing.IntentRequest,
    now: Callable[[], datetime],
    audit: pass_state.Auditor | None = None,
    fleet: str | None = None,
) -> Outcome:
    config = load_config(repo, fleet=fleet, command="dispatch")
    if config.layout.is_multi_fleet:
        request = request._replace(fleet=config.fleet.id)
    checkout = checkouts.open_checkout(config.layout.repo)
    rel = config.relative_paths(checkout)
    moment = now()
    stem = intent_writing.intent_file_stem(request, moment, intent_files.new_suffix())
    name = intent_writing.candidate_names(stem)[0]
    built = intent_writing.build_intent_file(request, name, moment)
    data = built.text.encode("utf-8")
    would_be = IntentSource(f"{rel.intents}/{name}", data, None, None, checkouts.blob_id(data))
    state = pass_state.checkout_state(checkout, config, moment, rel)
    sources = pass_state.read_pending(checkout, config, rel)
    ordered = sorted([*sources, would_be], key=lambda source: os.fsencode(source.path))
    state, ordered = pass_state.with_trust(checkout, config, rel, state, ordered)
    pass_state.require_usable_registry(state, ordered, moment)
    history = Ledger(config.fleet.telemetry, config.fleet.state, config.rotate_bytes)
    state = pass_state.with_drift(state, audit, checkout, history, ordered)
    outcomes = prediction.predict(state, ordered, history, now)
    return next(outcome for outcome in outcomes if outcome.source is would_be)


def _result(
    mode: str, status: str, outcome: Outcome, commit: str | None, *, pushed: bool
) -> dict[str, Any]:
    row = outcome_row(outcome, commit)
    # One of several fleets only: a single-fleet result stays as it was.
    fleet = {} if row["fleet"] is None else {"fleet": row["fleet"]}
    return {
        "mode": mode,
        "status": status,
        "predicted": outcome.status if mode == "dry_run" else None,
        "intent": outcome.action,
        "intentFile": outcome.source.shown_path,
        "decision": outcome.record.get("decision"),
        "decisionTraceId": outcome.record.get("decisionTraceId"),
        "traceId": outcome.trace_id,
        "reasonCodes": list(outcome.reasons),
        "problems": list(outcome.problems),
        "canary": row["canary"],
        "manualPause": row["manualPause"],
        "subject": row["subject"],
        "commit": commit,
        "notBefore": row["notBefore"],
        "pushed": pushed,
        **fleet,
        "record": outcome.record,
    }
