"""Progression guards (core layer): an expand or resume moves only as fast as its evidence.

Computed from the applied records (the telemetry, committed in git), so every CI run, replica
and `plan` agree. A guard never holds a rollback. See docs/guards.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from reconciler.core.decision import Decision
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Calendar
from reconciler.core.reasons import ReasonCode

Record = dict[str, Any]
DEFAULT_FREEZE_FILE = "policies/freeze.yaml"


class Budget(NamedTuple):
    """A rolling window over applied records."""

    window: timedelta
    max_expands: int | None = None
    """Applied expands that raised the canary, within the window (None: not limited)."""
    max_expand_percent: int | None = None
    """Total canary increase within the window (None: not limited)."""


class GuardSettings(NamedTuple):
    """The `guards:` block of reconciler.yaml (defaults: every guard off)."""

    decision_after_change: bool = False
    expand_cooldown: timedelta = timedelta(0)
    budget: Budget | None = None
    max_expand_step: int = 100
    max_deferral: timedelta = timedelta(days=7)
    freeze_file: str = DEFAULT_FREEZE_FILE


OFF = GuardSettings()
"""The bash tool's `.superloop/` layout: every guard off unless configured."""
POLICIES_DEFAULTS = GuardSettings(decision_after_change=True)
"""The `policies/` layout: decisionAfterChange on, everything else off."""


def parse_guards(value: object, defaults: GuardSettings) -> tuple[GuardSettings, list[str]]:
    """Validate the `guards:` block over the layout's defaults; return it and its problems.

    A key not given keeps its default; with problems, the settings returned are the defaults.
    """
    raise NotImplementedError


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


class Deferral(NamedTuple):
    """Why an expand or resume waits, and until when."""

    reasons: tuple[ReasonCode, ...]
    messages: tuple[str, ...]
    """One line per reason, each saying what would clear it."""
    not_before: datetime | None
    """When every guard clears by itself; None when one waits for a new decision."""


def check_step(settings: GuardSettings, intent: str, step: int) -> None:
    """Reject an expand whose step could never be applied under the guards.

    Raises:
        RefusalError: `intent_expand_step_over_limit`: above `maxExpandStep` or above
            `budget.maxExpandPercent`.
    """
    raise NotImplementedError


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
            more than `maxDeferral` ago.
    """
    raise NotImplementedError
