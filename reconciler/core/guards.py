"""Progression guards (core layer): an expand or resume moves only as fast as its evidence.

Computed from the applied records (the telemetry, committed in git), so every CI run, replica
and `plan` agree; read with one time-ordered `records_since` call per request, never the whole
history. A guard never holds a rollback. Called by `core/rules.py` (`check_expand_step`,
`check_guards`) and by `status` (`describe`). See docs/guards.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from reconciler.core import freeze
from reconciler.core.decision import MAX_CLOCK_SKEW, Decision
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Calendar
from reconciler.core.guard_settings import Budget, GuardSettings
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import (
    format_duration,
    format_timestamp,
    parse_timestamp,
)
from reconciler.core.upstream import UpstreamGate

Record = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Deferral(NamedTuple):
    """Why an expand or resume waits, and until when."""

    reasons: tuple[ReasonCode, ...]
    messages: tuple[str, ...]
    """One line per reason, each saying what would clear it."""
    not_before: datetime | None
    """When every guard clears by itself; None when one waits for a new decision."""
    intent_file: str = ""
    """The intent file deferred (what a later intent of the pass queues behind)."""


class GuardInputs(NamedTuple):
    """What the guards of one request are computed from, as the caller read it."""

    settings: GuardSettings
    calendar: Calendar
    records_since: Callable[[datetime], Sequence[Record]]
    """The applied records timed at or after a moment, oldest first (Ledger.applied_since)."""
    problem: RefusalError | None = None
    """The guards settings or the freeze file are invalid (`guard_settings_invalid`,
    `freeze_file_invalid`): expand and resume are deferred with it, a rollback goes on."""
    added_at: datetime | None = None
    """When the intent's file was added (its adding commit); None: not committed (apply)."""
    ahead: Deferral | None = None
    """The first deferral earlier in the same pass (then this one is `queued_behind_deferred`)."""
    upstream: UpstreamGate | None = None
    """The fleet's upstream and what it must have held (read only when an expand or resume
    is assessed)."""


def waiting_text(reasons: Sequence[str]) -> str:
    """What a deferral with no `notBefore` waits for, in words (`waits for a new decision`).

    The holds with no time of their own: a decision older than the last change, an upstream
    fleet that is not at its `minCanary` unpaused, settings that cannot be read (the guards,
    the freeze file, the fleet's entry of `fleets:`) and an earlier intent deferred.
    """
    waits = []
    if ReasonCode.GUARD_DECISION_PREDATES_CHANGE in reasons:
        waits.append("a new decision")
    if ReasonCode.GUARD_UPSTREAM_NOT_READY in reasons:
        waits.append("the upstream fleet")
    if any(reason in _SETTINGS_PROBLEMS for reason in reasons):
        waits.append("its settings to be fixed by pull request")
    if ReasonCode.QUEUED_BEHIND_DEFERRED in reasons and not waits:
        waits.append("the intent ahead of it")
    return "waits for " + (" and ".join(waits) or "a new decision")


_SETTINGS_PROBLEMS = frozenset(
    {ReasonCode.GUARD_SETTINGS_INVALID, ReasonCode.FREEZE_FILE_INVALID, ReasonCode.FLEETS_INVALID}
)


def check_step(settings: GuardSettings, intent: str, step: int) -> None:
    """Reject an expand whose step could never be applied under the guards.

    Raises:
        RefusalError: `intent_expand_step_over_limit`: above `maxExpandStep` or above
            `budget.maxExpandPercent`.
    """
    if intent != "expand":
        return
    limits = [(settings.max_expand_step, "guards.maxExpandStep")]
    if settings.budget is not None and settings.budget.max_expand_percent is not None:
        limits.append((settings.budget.max_expand_percent, "guards.budget.maxExpandPercent"))
    for limit, key in limits:
        if step > limit:
            raise RefusalError(
                ReasonCode.INTENT_EXPAND_STEP_OVER_LIMIT,
                f"expandStep {step} is above {key} ({limit}); it is never clamped: open a "
                f"new intent with an expandStep of at most {limit}",
            )


# What the records say -------------------------------------------------------------------------


def record_time(record: Record) -> datetime | None:
    """When an applied record was written (its `timestamp`)."""
    return parse_timestamp(record.get("timestamp"))


def is_change(record: Record) -> bool:
    """Whether an applied record is a change: it changed `canaryPercent` or `pause.manual`.

    Every rollback is one, even on a fleet already paused: a resume after an incident's
    rollback needs a decision generated after it.
    """
    if record.get("intent") == "rollback":
        return True
    rollout = record.get("rollout")
    changed = rollout.get("changed") if isinstance(rollout, dict) else None
    return isinstance(changed, dict) and any(value is True for value in changed.values())


def expand_raise(record: Record) -> tuple[int, int] | None:
    """The canary before and after an expand record that raised it; None for anything else."""
    rollout = record.get("rollout")
    if record.get("intent") != "expand" or not isinstance(rollout, dict):
        return None
    before, after = (_canary(rollout.get(side)) for side in ("before", "after"))
    return (before, after) if before is not None and after is not None and after > before else None


def raised_by(record: Record) -> int:
    """How much an applied expand raised the canary (0 for anything else)."""
    found = expand_raise(record)
    return found[1] - found[0] if found else 0


def _canary(posture: object) -> int | None:
    value = posture.get("canaryPercent") if isinstance(posture, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Expand(NamedTuple):
    """An applied expand that raised the canary: when, and by how much."""

    at: datetime
    raised: int


class Evidence(NamedTuple):
    """What the records since the earliest moment a guard looks at say."""

    last_change: datetime | None
    """The newest applied change at or after the decision's generatedAt (None: none)."""
    expands: tuple[Expand, ...]
    """Applied expands that raised the canary, oldest first, since the earliest look-back."""


def read_evidence(
    inputs: GuardInputs, decision: Decision | None, now: datetime
) -> tuple[Evidence, datetime | None]:
    """Read the records the guards need (one `records_since` call) and the decision's time.

    Raises:
        RefusalError: the telemetry cannot tell (`telemetry_corrupt`).
    """
    settings = inputs.settings
    generated = parse_timestamp(decision.generated_at) if decision else None
    # A decision without a generatedAt, or one from the future, cannot be ordered after any
    # change (yet): every change on record counts (read in full only then).
    trusted = generated if generated is not None and generated <= now else None
    decision_since = trusted or _EPOCH
    looks = [now - settings.expand_cooldown]
    if settings.budget is not None:
        looks.append(now - settings.budget.window)
    if settings.decision_after_change and decision is not None:
        # A decision that already carried a change is spent, whatever its time says: the
        # records name the decision they were applied on.
        looks.append(decision_since - MAX_CLOCK_SKEW if trusted else decision_since)
    records = inputs.records_since(max(min(looks), _EPOCH))
    last_change = None
    expands = []
    for record in records:
        when = record_time(record)
        if when is None:
            continue
        if is_change(record) and (when >= decision_since or _carried(record, decision)):
            last_change = when if last_change is None else max(last_change, when)
        raised = raised_by(record)
        if raised:
            expands.append(Expand(when, raised))
    return Evidence(last_change, tuple(expands)), generated


def _carried(record: Record, decision: Decision | None) -> bool:
    """Whether an applied record was applied on `decision` (its time and trace id)."""
    return (
        decision is not None
        and decision.generated_at is not None
        and record.get("decisionGeneratedAt") == decision.generated_at
        and record.get("decisionTraceId") == decision.trace_id
    )


# Each guard: None when it lets the request through, else (reason, message, clears at) -----------

Hold = tuple[ReasonCode, str, datetime | None]


def _decision_hold(
    settings: GuardSettings, evidence: Evidence, generated: datetime | None, now: datetime
) -> Hold | None:
    if not settings.decision_after_change or evidence.last_change is None:
        return None
    clears = None  # a new decision clears it, not time
    if generated is None:
        current = "the current one has no generatedAt"
    elif generated > now:
        current = (
            f"the current one is dated in the future ({format_timestamp(generated)}): it "
            "cannot be ordered after a change yet"
        )
        clears = generated  # it may be orderable then (a clock a little ahead)
    elif generated > evidence.last_change:  # the records say it was spent on that change
        current = f"the current one (generated at {format_timestamp(generated)}) already carried it"
    else:
        current = f"the current one was generated at {format_timestamp(generated)}"
    return (
        ReasonCode.GUARD_DECISION_PREDATES_CHANGE,
        f"waiting for a decision generated after {format_timestamp(evidence.last_change)} "
        f"(the last change); {current}",
        clears,
    )


def cooldown_until(
    settings: GuardSettings, evidence: Evidence, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The last applied expand, and the end of its cooldown while it is still ahead."""
    last = max((expand.at for expand in evidence.expands), default=None)
    until = None if last is None else last + settings.expand_cooldown
    return last, until if until is not None and until > now else None


def _cooldown_hold(settings: GuardSettings, evidence: Evidence, now: datetime) -> Hold | None:
    cooldown = settings.expand_cooldown
    if cooldown <= timedelta(0):
        return None
    last, until = cooldown_until(settings, evidence, now)
    if last is None or until is None:
        return None
    return (
        ReasonCode.GUARD_EXPAND_COOLDOWN,
        f"expand cooldown until {format_timestamp(until)} ({format_duration(cooldown)} after "
        f"the last expand at {format_timestamp(last)})",
        until,
    )


def in_window(budget: Budget, evidence: Evidence, now: datetime) -> list[Expand]:
    """The expands that count against the budget at `now`, oldest first."""
    return sorted(
        (expand for expand in evidence.expands if expand.at + budget.window > now),
        key=lambda expand: expand.at,
    )


def _budget_holds(
    settings: GuardSettings, evidence: Evidence, raise_by: int, now: datetime
) -> list[Hold]:
    budget = settings.budget
    if budget is None:
        return []
    counted = in_window(budget, evidence, now)
    holds: list[Hold] = []
    window = format_duration(budget.window)
    if budget.max_expands is not None and len(counted) >= budget.max_expands:
        until = counted[len(counted) - budget.max_expands].at + budget.window
        holds.append(
            (
                ReasonCode.GUARD_BUDGET_EXPANDS,
                f"expand budget used up: {len(counted)} of {budget.max_expands} expands in "
                f"{window}; the next fits at {format_timestamp(until)}",
                until,
            )
        )
    percent = budget.max_expand_percent
    used = sum(expand.raised for expand in counted)
    if percent is not None and raise_by > 0 and used + raise_by > percent:
        left, until = used, now
        for expand in counted:  # the oldest leave the window first
            left -= expand.raised
            until = expand.at + budget.window
            if left + raise_by <= percent:
                break
        holds.append(
            (
                ReasonCode.GUARD_BUDGET_PERCENT,
                f"percent budget used up: +{used} of +{percent} in {window}, this expand "
                f"adds +{raise_by}; it fits at {format_timestamp(until)}",
                until,
            )
        )
    return holds


def assess(
    guards: GuardInputs,
    intent: str,
    canary: int,
    step: int,
    decision: Decision | None,
    now: datetime,
) -> Deferral | None:
    """Tell whether the guards hold an expand or resume now; None when none does.

    Raises:
        RefusalError: `intent_deferral_expired`: it would be deferred, and its file was added
            more than `maxDeferral` ago; `telemetry_corrupt`: the records cannot tell.
    """
    if intent == "rollback":
        return None
    holds: list[Hold] = []
    if guards.problem is not None:
        detail = "; ".join(guards.problem.details[:3])
        message = (
            f"{guards.problem.message}{': ' + detail if detail else ''}; fix it by pull request"
        )
        holds.append((guards.problem.reason, message, None))
    else:
        holds += _progression_holds(guards, intent, canary, step, decision, now)
    ahead = guards.ahead
    if ahead is not None:
        holds.append(
            (
                ReasonCode.QUEUED_BEHIND_DEFERRED,
                f"queued behind {ahead.intent_file or 'an earlier intent'}, deferred in this "
                "pass: intents are applied in order",
                ahead.not_before,
            )
        )
    if not holds:
        return None
    _check_expiry(guards, now)
    not_before = None
    if all(until is not None for _, _, until in holds):
        clears = max([now, *(until for _, _, until in holds if until is not None)])
        not_before = freeze.next_open(guards.calendar, clears)
    return Deferral(
        tuple(reason for reason, _, _ in holds),
        tuple(message for _, message, _ in holds),
        not_before,
    )


def _progression_holds(
    guards: GuardInputs,
    intent: str,
    canary: int,
    step: int,
    decision: Decision | None,
    now: datetime,
) -> list[Hold]:
    settings = guards.settings
    evidence, generated = read_evidence(guards, decision, now)
    holds: list[Hold] = []
    if decision is not None:
        found = _decision_hold(settings, evidence, generated, now)
        holds += [found] if found else []
    if intent == "expand":
        found = _cooldown_hold(settings, evidence, now)
        holds += [found] if found else []
        holds += _budget_holds(settings, evidence, min(canary + step, 100) - canary, now)
    if guards.upstream is not None and intent in ("expand", "resume"):
        found = _upstream_hold(guards.upstream, now)
        holds += [found] if found else []
    block = freeze.blocked(guards.calendar, now)
    if block is not None:
        holds.append((block.reason, block.message, block.opens))
    return holds


def _upstream_hold(gate: UpstreamGate, now: datetime) -> Hold | None:
    """The upstream has not soaked: until it will have (None while it does not satisfy)."""
    soak = gate.soak(now)
    if soak.ready:
        return None
    return (ReasonCode.GUARD_UPSTREAM_NOT_READY, f"waiting for {soak.message}", soak.ready_at)


def _check_expiry(guards: GuardInputs, now: datetime) -> None:
    added, limit = guards.added_at, guards.settings.max_deferral
    if added is None or now - added <= limit:
        return
    raise RefusalError(
        ReasonCode.INTENT_DEFERRAL_EXPIRED,
        f"deferred for longer than maxDeferral ({format_duration(limit)}): added at "
        f"{format_timestamp(added)}; if it is still wanted, open a new pull request with a "
        "new intent",
    )
