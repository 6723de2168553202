"""Apply semantics (core layer): validate a request, plan the mutation, build the record.

Pure functions over values; `reconciler.service` joins them with files, locks and the journal.
The rules mirror the bash tool's `ops-manager-promotion-apply.sh` minus its bugs (see
docs/apply.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

from reconciler.core.decision import Decision
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.registry import RegistryView, problem_path
from reconciler.core.timestamps import format_timestamp, resolve_deadline
from reconciler.core.visible import has_visible_text

INTENTS = ("expand", "resume", "rollback")
"""What `reconcile apply --intent` takes (the bash tool's three)."""
FILE_INTENTS = (*INTENTS, "adopt")
"""What an intent file may ask: also `adopt` (record the current owned values as the new
baseline after a hand edit, docs/audit.md)."""
DEFAULT_EXPAND_STEP = 25
ROLLOUT_PATH = ("policy", "autonomous", "rollout")
GOVERNANCE_PATH = ("policy", "autonomous", "governance")
CANARY_PATH = (*ROLLOUT_PATH, "canaryPercent")
MANUAL_PAUSE_PATH = (*ROLLOUT_PATH, "pause", "manual")
GOVERNANCE_KEYS = ("actor", "approvalRef", "rationale", "changedAt", "reviewBy")
GOVERNANCE_FIELD_PATHS = tuple((*GOVERNANCE_PATH, key) for key in GOVERNANCE_KEYS)
OWNED_PATHS = (CANARY_PATH, MANUAL_PAUSE_PATH, *GOVERNANCE_FIELD_PATHS)
"""Every registry field the reconciler writes; nothing else of the file is ever changed."""
ROLLBACK_PATHS = (MANUAL_PAUSE_PATH, *GOVERNANCE_FIELD_PATHS)
"""The owned fields a rollback always leaves valid: it writes them (pause.manual true)."""

Record = dict[str, Any]
ToPercent = int | Literal["previous"]
"""A rollback's target canary: a percentage 0..100, or `previous` (the canary before the most
recent applied expand that raised it, found in the records)."""
TO_PERCENT_PREVIOUS: Literal["previous"] = "previous"
_TO_PERCENT_MESSAGE = "--to-percent must be an integer between 0 and 100, or previous"


class ApplyArgs(NamedTuple):
    """Raw operator input, as typed (every value a string or None)."""

    intent: str | None
    expand_step: str | None
    actor: str | None
    approval_ref: str | None
    rationale: str | None
    review_by: str | None
    idempotency_key: str | None = None
    trace_id: str | None = None
    loop_id: str | None = None
    horizon_ref: str | None = None
    evidence_refs: Sequence[str] = ()
    to_percent: str | None = None
    """`--to-percent`, rollback only: `0`..`100` or `previous` (parsed by validate_args)."""


class ApplyRequest(NamedTuple):
    """A validated request: the intent and its governance, ready to be planned."""

    intent: str
    expand_step: int
    actor: str
    approval_ref: str
    rationale: str
    review_by: str
    """As typed until `check_review_by` returns it in canonical UTC `YYYY-MM-DDTHH:MM:SSZ`."""
    idempotency_key: str | None
    loop_id: str | None
    horizon_ref: str | None
    evidence_refs: tuple[str, ...]
    to_percent: ToPercent | None = None
    """Rollback only: the canary to lower to (None: a rollback only pauses)."""


class Mutation(NamedTuple):
    """The planned rollout change and the owned registry fields to write."""

    before: dict[str, Any]
    after: dict[str, Any]
    changes: dict[tuple[str, ...], int | bool | str]


def _blank(value: str | None) -> bool:
    """Tell whether a governance flag is missing: absent, empty, or nothing visible in it."""
    return not has_visible_text(value)


def validate_args(args: ApplyArgs) -> ApplyRequest:
    """Check the operator's flags in the bash tool's order (steps 2-7 of its §3.2).

    The review-by is only checked for presence here; `check_review_by` checks its format and
    deadline after the decision gate, where the bash tool does.

    Raises:
        RefusalError: the first problem, with the bash tool's exact message.
    """
    if args.intent not in INTENTS:
        raise RefusalError(
            ReasonCode.INTENT_INVALID, "--intent must be one of expand, resume, rollback"
        )
    step = DEFAULT_EXPAND_STEP
    # A rollback is the safety path: a malformed --expand-step, meaningless for it, must not
    # block it (bash-tool bug, docs/apply.md).
    if args.intent != "rollback" and args.expand_step is not None:
        if (
            not re.fullmatch(r"[0-9]{1,6}", args.expand_step)
            or not 1 <= int(args.expand_step) <= 100
        ):
            raise RefusalError(
                ReasonCode.EXPAND_STEP_INVALID,
                "--expand-step must be an integer between 1 and 100",
            )
        step = int(args.expand_step)
    to_percent = None
    if args.to_percent:
        if args.intent != "rollback":
            raise RefusalError(
                ReasonCode.TO_PERCENT_INVALID, "--to-percent is only allowed with --intent rollback"
            )
        to_percent = parse_to_percent(args.to_percent)
    for flag, value in (
        ("--by", args.actor),
        ("--approval-ref", args.approval_ref),
        ("--rationale", args.rationale),
        ("--review-by", args.review_by),
    ):
        if _blank(value):
            raise RefusalError(ReasonCode.GOVERNANCE_MISSING, f"{flag} is required")
    _check_text_flags(args)
    assert args.actor and args.approval_ref and args.rationale and args.review_by
    return ApplyRequest(
        intent=args.intent,
        expand_step=step,
        actor=args.actor,
        approval_ref=args.approval_ref,
        rationale=args.rationale,
        review_by=args.review_by,
        idempotency_key=args.idempotency_key or None,
        loop_id=args.loop_id or None,
        horizon_ref=args.horizon_ref or None,
        evidence_refs=tuple(ref for ref in args.evidence_refs if ref),
        to_percent=to_percent,
    )


def parse_to_percent(text: str) -> ToPercent:
    """Read a `--to-percent` value: a whole percentage 0..100, or `previous`.

    Raises:
        RefusalError: `to_percent_invalid`: anything else (an operator's typo at the command
            line, refused before anything is written).
    """
    if text == TO_PERCENT_PREVIOUS:
        return TO_PERCENT_PREVIOUS
    if not re.fullmatch(r"[0-9]{1,6}", text) or int(text) > 100:
        raise RefusalError(ReasonCode.TO_PERCENT_INVALID, _TO_PERCENT_MESSAGE)
    return int(text)


def _check_text_flags(args: ApplyArgs) -> None:
    # Command-line bytes that are not UTF-8 arrive as lone surrogates; they could not be
    # written to the registry or the records, so refuse them up front.
    values = [
        ("--by", args.actor),
        ("--approval-ref", args.approval_ref),
        ("--rationale", args.rationale),
        ("--review-by", args.review_by),
        ("--idempotency-key", args.idempotency_key),
        ("--trace-id", args.trace_id),
        ("--loop-id", args.loop_id),
        ("--horizon-ref", args.horizon_ref),
        *(("--evidence-ref", ref) for ref in args.evidence_refs),
    ]
    for flag, value in values:
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RefusalError(
                ReasonCode.ARGUMENT_NOT_UTF8, f"{flag} must be valid UTF-8 text"
            ) from None


def check_review_by(request: ApplyRequest, now: datetime) -> ApplyRequest:
    """Check the review-by format and deadline; return the request with it in canonical UTC.

    A relative review-by (`7d`) is resolved against `now` here, so the record and the
    registry hold the absolute time (`reconcile intent new` and `dispatch` resolve theirs
    with the same function, `timestamps.resolve_deadline`).

    Raises:
        RefusalError: neither an RFC 3339 timestamp nor a relative one, or not in the future.
    """
    review_by = resolve_deadline(request.review_by, now)
    if review_by is None:
        raise RefusalError(
            ReasonCode.REVIEW_BY_INVALID, "--review-by must be an ISO-8601 timestamp"
        )
    if review_by.replace(microsecond=0) <= now.replace(microsecond=0):
        raise RefusalError(ReasonCode.REVIEW_BY_PAST, "--review-by must be in the future")
    return request._replace(review_by=format_timestamp(review_by))


def rollback_target(
    request: ApplyRequest, canary: int, previous: Callable[[], int | None] | None
) -> tuple[int | None, tuple[ReasonCode, ...]]:
    """The canary a rollback lowers to (None: it only pauses) and the notes on its target.

    `previous` is called only for `toPercent: previous` (it reads the records). A target the
    rollback cannot reach is a note, never a refusal: a rollback always pauses. Above the
    current canary: `rollback_target_above_current`. `previous` with no applied expand that
    raised the canary, or telemetry that cannot tell: `rollback_target_unknown` (plus the
    telemetry's own code).
    """
    asked = request.to_percent
    if request.intent != "rollback" or asked is None:
        return None, ()
    target: int | None = asked if isinstance(asked, int) else None
    if target is None:
        try:
            target = previous() if previous is not None else None
        except RefusalError as exc:
            return None, (ReasonCode.ROLLBACK_TARGET_UNKNOWN, exc.reason)
        if target is None:
            return None, (ReasonCode.ROLLBACK_TARGET_UNKNOWN,)
    if target > canary:
        return None, (ReasonCode.ROLLBACK_TARGET_ABOVE_CURRENT,)
    return target, ()


def plan_mutation(
    view: RegistryView, request: ApplyRequest, now: datetime, target: int | None = None
) -> Mutation:
    """Compute the rollout after the intent and the owned fields that must be written.

    `target` is a rollback's resolved `toPercent` (`rollback_target`): a canary below the
    current one is lowered to it, in the same mutation that pauses. Unchanged rollout fields
    are left out of `changes`, so no default is ever materialised; the five governance fields
    are always written (the mutation's own audit trail).
    """
    canary, paused = view.canary_percent, view.manual_pause
    if request.intent == "expand":
        after_canary, after_paused = min(canary + request.expand_step, 100), False
    elif request.intent == "resume":
        after_canary, after_paused = canary, False
    elif request.intent == "adopt":  # the file as it is becomes the baseline
        after_canary, after_paused = canary, paused
    else:
        after_canary, after_paused = canary, True
        if target is not None and target < canary:
            after_canary = target
    changes: dict[tuple[str, ...], int | bool | str] = {}
    if after_canary != canary:
        changes[CANARY_PATH] = after_canary
    if after_paused != paused:
        changes[MANUAL_PAUSE_PATH] = after_paused
    for key, value in governance_block(request, now).items():
        changes[(*GOVERNANCE_PATH, key)] = value
    return Mutation(
        before={"canaryPercent": canary, "manualPause": paused},
        after={"canaryPercent": after_canary, "manualPause": after_paused},
        changes=changes,
    )


def governance_block(request: ApplyRequest, now: datetime) -> dict[str, str]:
    """Return the governance block a mutation writes, in the registry's key order."""
    return {
        "actor": request.actor,
        "approvalRef": request.approval_ref,
        "rationale": request.rationale,
        "changedAt": format_timestamp(now),
        "reviewBy": request.review_by,
    }


class RecordContext(NamedTuple):
    """Everything a record needs besides the request and the mutation."""

    now: datetime
    fleet_id: str
    trace_id: str
    decision: Decision | None
    files: Mapping[str, str]
    """registryFile, promotionStateFile, applyStateFile, applyTelemetryFile (absolute)."""
    notes: Sequence[ReasonCode] = ()
    warnings: Sequence[str] = ()
    """Problems noted but not blocking, one line each (the record's `warnings`)."""


def build_record(request: ApplyRequest, mutation: Mutation, context: RecordContext) -> Record:
    """Return the apply record: the bash tool's shape plus decision linkage and expandStep."""
    changed = {key: mutation.before[key] != mutation.after[key] for key in mutation.before}
    notes = set(context.notes)
    if not any(changed.values()):
        notes.add(ReasonCode.ROLLOUT_UNCHANGED)
    evidence = {*request.evidence_refs, context.files["promotionStateFile"]}
    decision = context.decision
    record: Record = {
        "schemaVersion": "v1",
        "timestamp": format_timestamp(context.now),
        "category": "promotion_apply",
        "fleetId": context.fleet_id,
        "traceId": context.trace_id,
        "loopId": request.loop_id,
        "horizonRef": request.horizon_ref,
        "evidenceRefs": sorted(evidence),
        "idempotencyKey": request.idempotency_key,
        "status": "applied",
        "intent": request.intent,
        "expandStep": request.expand_step if request.intent == "expand" else None,
        **_to_percent_field(request),
        "decision": decision.decision if decision else None,
        "decisionTraceId": decision.trace_id if decision else None,
        "decisionGeneratedAt": decision.generated_at if decision else None,
        "governance": governance_block(request, context.now),
        "rollout": {"before": mutation.before, "after": mutation.after, "changed": changed},
        "files": dict(context.files),
        "reasonCodes": sorted(str(code) for code in notes),
    }
    if context.warnings:
        record["warnings"] = list(context.warnings)
    return record


def _to_percent_field(request: ApplyRequest) -> Record:
    """`toPercent` as asked (a number or `previous`), only on a rollback that carries one."""
    if request.intent != "rollback" or request.to_percent is None:
        return {}
    return {"toPercent": request.to_percent}


def is_refused_by(intent: str, problems: Sequence[str], *, mutated: bool = False) -> bool:
    """Tell whether registry problems refuse the intent (`mutated`: of the registry after it).

    Any problem refuses expand and resume. A rollback must always be able to pause, so only
    what it cannot get past refuses it: a problem at an owned field or at one of their
    containers (the edit could not be made, or the result would be wrong where the reconciler
    writes), except, in the current registry, at the fields the rollback writes itself
    (`pause.manual`, the governance fields), which its mutation replaces. Problems elsewhere
    (a typo in `loops`, an unknown `policy.mode`) are only noted
    (`registry_invalid_elsewhere`): the rollback did not cause them.
    """
    if intent != "rollback":
        return bool(problems)
    cured = () if mutated else ROLLBACK_PATHS
    for problem in problems:
        path = problem_path(problem)
        if _touches(path, OWNED_PATHS) and not any(path[: len(p)] == p for p in cured):
            return True
    return False


def _touches(path: tuple[str, ...], owned: Sequence[tuple[str, ...]]) -> bool:
    """Whether `path` is an owned path, lies under one, or contains one."""
    return any(path[: len(o)] == o or o[: len(path)] == path for o in owned)


def overrides_replay(intent: str, view: RegistryView) -> bool:
    """Tell whether an intent whose key was applied before must be applied anyway.

    A rollback must leave the fleet paused: when the fleet is not paused now (the key's
    record is another intent, or a later resume un-paused it), replaying the old record would
    leave it running, so the rollback is applied as a new mutation
    (`idempotency_replay_overridden`). Anything else replays.
    """
    return intent == "rollback" and not view.manual_pause


def is_request_mismatch(prior: Record, request: ApplyRequest) -> bool:
    """Tell whether a replayed key was first used for another intent, step or rollback target."""
    if prior.get("intent") != request.intent:
        return True
    if request.intent == "rollback":
        return prior.get("toPercent") != request.to_percent
    if request.intent != "expand":
        return False
    prior_step = prior.get("expandStep")
    return prior_step is not None and prior_step != request.expand_step


def replay_record(prior: Record, request: ApplyRequest) -> Record:
    """Return the earlier record marked `replayed`, flagged when the request differs.

    Unlike the bash tool, nothing from the new request is mixed into the old record.
    """
    replayed = dict(prior)
    if is_request_mismatch(prior, request):
        codes = {*prior.get("reasonCodes", []), str(ReasonCode.IDEMPOTENCY_REQUEST_MISMATCH)}
        replayed["reasonCodes"] = sorted(codes)
    replayed["replayed"] = True
    return replayed
