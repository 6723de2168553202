"""The guards' state as the operator sees it (core layer): what `status` and the controller show.

The same evidence the rules defer by (`guards.read_evidence`, `freeze.blocked`), summed up
for the fleet as it is now: the last change and the decision it needs, the cooldown left, the
budget used and left, the active or next freeze window, the upstream's soak. Returns plain
data (JSON-ready).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from reconciler.core import freeze, guards
from reconciler.core.decision import Decision
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Occurrence
from reconciler.core.guard_settings import GuardSettings, PassGuards
from reconciler.core.guards import GuardInputs
from reconciler.core.timestamps import format_duration, format_timestamp
from reconciler.core.upstream import UpstreamGate

Json = dict[str, Any]


def describe_guards(
    found: PassGuards | None,
    records_since: Callable[[datetime], Sequence[guards.Record]],
    decision: Decision | None,
    now: datetime,
    *,
    upstream: bool = True,
) -> Json:
    """The guard state of a fleet now (`status --json`'s `guards`).

    Never raises: why the state cannot be told (invalid settings or freeze file, telemetry
    that cannot be read) is its `problem`; expand and resume wait on it, a rollback does not.
    `upstream=False` leaves the upstream's soak out (`null`) without reading the upstream
    (what the controller's gauges ask after every pass).
    """
    if found is None:
        return {"enabled": False, "problem": None}
    settings = found.settings
    inputs = GuardInputs(settings, found.calendar, records_since, upstream=found.upstream)
    try:
        if found.problem is not None:
            raise found.problem
        evidence, generated = guards.read_evidence(inputs, decision, now)
    except RefusalError as exc:  # invalid settings or freeze file, or telemetry_corrupt
        return {
            "enabled": True,
            "problem": {
                "reason": str(exc.reason),
                "message": exc.message,
                "details": list(exc.details),
            },
        }
    return {
        "enabled": True,
        "problem": None,
        "decisionAfterChange": _decision_state(settings, evidence, generated),
        "cooldown": _cooldown_state(settings, evidence, now),
        "budget": _budget_state(settings, evidence, now),
        "maxExpandStep": settings.max_expand_step,
        "maxDeferral": format_duration(settings.max_deferral),
        "freeze": _freeze_state(found, now),
        "upstream": _upstream_state(found.upstream, now) if upstream else None,
    }


def _decision_state(
    settings: GuardSettings, evidence: guards.Evidence, generated: datetime | None
) -> Json | None:
    if not settings.decision_after_change:
        return None
    last = evidence.last_change
    return {
        "lastChange": _time(last),
        "decisionGeneratedAt": _time(generated),
        "needsDecisionAfter": _time(last),
        "clear": last is None,
    }


def _cooldown_state(
    settings: GuardSettings, evidence: guards.Evidence, now: datetime
) -> Json | None:
    cooldown = settings.expand_cooldown
    if cooldown <= timedelta(0):
        return None
    last, until = guards.cooldown_until(settings, evidence, now)
    return {
        "cooldown": format_duration(cooldown),
        "lastExpand": _time(last),
        "until": _time(until),
        "leftSeconds": int((until - now).total_seconds()) if until else 0,
    }


def _budget_state(settings: GuardSettings, evidence: guards.Evidence, now: datetime) -> Json | None:
    budget = settings.budget
    if budget is None:
        return None
    counted = guards.in_window(budget, evidence, now)
    used = sum(expand.raised for expand in counted)
    return {
        "window": format_duration(budget.window),
        "expandsUsed": len(counted),
        "maxExpands": budget.max_expands,
        "expandsLeft": None
        if budget.max_expands is None
        else max(budget.max_expands - len(counted), 0),
        "percentUsed": used,
        "maxExpandPercent": budget.max_expand_percent,
        "percentLeft": None
        if budget.max_expand_percent is None
        else max(budget.max_expand_percent - used, 0),
    }


def _freeze_state(found: PassGuards, now: datetime) -> Json:
    calendar = found.calendar
    block = freeze.blocked(calendar, now)
    soon = freeze.upcoming(calendar, now)
    return {
        "windows": len(calendar.windows),
        "blocked": block is not None,
        "reason": str(block.reason) if block else None,
        "message": block.message if block else None,
        "active": _occurrence(block.occurrence) if block and block.occurrence else None,
        "opensAt": _time(block.opens) if block else None,
        "next": _occurrence(soon) if soon else None,
    }


def _upstream_state(gate: UpstreamGate | None, now: datetime) -> Json | None:
    if gate is None:
        return None
    requirement, soak = gate.requirement, gate.soak(now)
    return {
        "fleet": requirement.upstream,
        "minCanary": requirement.min_canary,
        "soak": format_duration(requirement.soak),
        "ready": soak.ready,
        "since": _time(soak.since),
        "readyAt": _time(soak.ready_at),
        "message": soak.message,
    }


def _occurrence(found: Occurrence) -> Json:
    return {
        "name": found.window.name,
        "kind": found.window.kind,
        "reason": found.window.reason,
        "start": format_timestamp(found.start),
        "end": format_timestamp(found.end),
    }


def _time(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None
