"""Freeze windows (core layer): when progression may happen, from `policies/freeze.yaml`.

A window is absolute (`start`/`end`, or the bash controller's `startAt`/`endAt`) or recurring
(a 5-field `cron` for its start, a `duration`, an IANA `timezone`, default UTC). A `deny`
window (the default kind) that is active stops progression; when `allow` windows exist,
progression happens only while one of them is active; deny wins. This module evaluates
the windows (`blocked`, `next_open`, `upcoming`); `core/freeze_parsing.py` reads the file.
Cron expressions are walked by cronsim (Debian cron's rules, DST included), time zones by
zoneinfo (tzdata).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from cronsim import CronSim

from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp

Kind = Literal["deny", "allow"]
UPCOMING = timedelta(days=7)
"""How far ahead `status` looks for the next deny window."""
HORIZON = timedelta(days=366)
"""How far `next_open` looks: a calendar closed for longer than a year never opens."""
_MAX_STEPS = 512
"""Steps walked at most to find when progression opens (each step moves past one window):
real calendars need a handful; a file chaining windows into a year-long freeze costs a pass
no more than this (it reads as "no end found")."""
_FOLD = timedelta(hours=3)
"""More than any DST shift: how far `_starts` begins its walk on the far side of its moment."""


class Window(NamedTuple):
    """One window as the file declares it (absolute or recurring)."""

    name: str
    kind: Kind
    reason: str
    start: datetime | None = None
    """Absolute window: its start (UTC)."""
    end: datetime | None = None
    cron: str | None = None
    """Recurring window: the 5-field cron expression of its starts, in `timezone`."""
    duration: timedelta | None = None
    """Recurring window: counted on the wall clock of `timezone` (Fri 18:00 + 62h is Mon
    08:00 local on a DST weekend too)."""
    timezone: str = "UTC"

    @property
    def label(self) -> str:
        """`name (reason)`, or the name alone when the window gives no reason."""
        return f"{self.name} ({self.reason})" if self.reason else self.name


class Calendar(NamedTuple):
    """Every window of a freeze file (empty: no file, or no windows)."""

    windows: tuple[Window, ...] = ()

    @property
    def has_allow(self) -> bool:
        """Whether progression is limited to allow windows."""
        return any(window.kind == "allow" for window in self.windows)


class Occurrence(NamedTuple):
    """One concrete occurrence of a window: [start, end) in UTC."""

    window: Window
    start: datetime
    end: datetime


class Block(NamedTuple):
    """Why progression is not allowed at a moment."""

    reason: ReasonCode
    """GUARD_FREEZE_WINDOW or GUARD_OUTSIDE_ALLOW_WINDOW."""
    message: str
    """One line, naming the window and its reason, and when it ends (or the next allow)."""
    occurrence: Occurrence | None
    """The active deny occurrence; None when outside every allow window."""
    opens: datetime | None = None
    """When progression is allowed again (`next_open`); None: not within a year."""


# Occurrences ---------------------------------------------------------------------------------


def first_starts(window: Window, after: datetime, *, reverse: bool = False) -> Iterator[datetime]:
    """The window's start times (UTC) after `after` (or at or before it, `reverse`)."""
    assert window.cron is not None
    zone = ZoneInfo(window.timezone)
    # cronsim walks a cron with a fixed minute and hour on the naive wall clock (Debian
    # cron), where the hour repeated when DST ends is ambiguous: near a DST change, start
    # the walk more than any DST shift on the far side of `after` and skip the starts on
    # its near side.
    offsets = {(after + side).astimezone(zone).utcoffset() for side in (-_FOLD, _FOLD)}
    shift = _FOLD if len(offsets) > 1 else timedelta(seconds=1)
    local = (after + (shift if reverse else -shift)).astimezone(zone)
    for moment in CronSim(window.cron, local.replace(microsecond=0), reverse=reverse):
        start = moment.astimezone(UTC)
        if (start <= after) if reverse else (start > after):
            yield start


def occurrence_of(window: Window, start: datetime) -> Occurrence:
    """The occurrence starting at `start`; its end on the wall clock of the window's zone."""
    assert window.duration is not None
    zone = ZoneInfo(window.timezone)
    local = start.astimezone(zone)
    # Wall-clock arithmetic; a start in the repeated hour (fold=1) keeps its side of it.
    local_end = (local + window.duration).replace(fold=local.fold)
    return Occurrence(window, start, local_end.astimezone(UTC))


def _active_in(window: Window, at: datetime) -> Occurrence | None:
    """The window's occurrence active at `at` (the latest-starting one); None if none."""
    if window.cron is None:
        assert window.start is not None and window.end is not None
        return (
            Occurrence(window, window.start, window.end)
            if window.start <= at < window.end
            else None
        )
    # The latest start at or before `at` ends last, so it alone tells.
    for start in first_starts(window, at, reverse=True):
        found = occurrence_of(window, start)
        return found if found.end > at else None
    return None  # pragma: no cover - a valid cron always has an earlier start


def active(calendar: Calendar, at: datetime) -> list[Occurrence]:
    """Every window's occurrence active at `at` (start <= at < end)."""
    found = (_active_in(window, at) for window in calendar.windows)
    return [occurrence for occurrence in found if occurrence is not None]


def _closes(window: Window, occurrence: Occurrence) -> datetime:
    """When the window stops being active, overlapping occurrences merged."""
    end = occurrence.end
    if window.cron is None:
        return end
    for steps, start in enumerate(first_starts(window, occurrence.start)):
        if start > end or steps >= _MAX_STEPS:
            break
        end = max(end, occurrence_of(window, start).end)
    return end


def _next_start(window: Window, at: datetime) -> Occurrence | None:
    """The window's first occurrence starting after `at`; None if none within the horizon."""
    if window.cron is None:
        assert window.start is not None and window.end is not None
        return Occurrence(window, window.start, window.end) if window.start > at else None
    start = next(first_starts(window, at), None)
    if start is None or start - at > HORIZON:
        return None
    return occurrence_of(window, start)


def blocked(calendar: Calendar, at: datetime) -> Block | None:
    """Why progression is not allowed at `at`; None when it is."""
    now = active(calendar, at)
    denies = [found for found in now if found.window.kind == "deny"]
    if denies:
        first = min(denies, key=lambda found: (found.window.name, found.start))
        opens = next_open(calendar, at)
        # Until the deny windows let go (back-to-back ones chained), allow windows aside.
        lets_go = opens
        if calendar.has_allow:
            deny_only = Calendar(tuple(w for w in calendar.windows if w.kind == "deny"))
            lets_go = next_open(deny_only, at)
        until = f"until {format_timestamp(lets_go)}" if lets_go else "with no end found"
        labels = ", ".join(found.window.label for found in denies)
        message = (
            f"freeze window {first.window.label} {until}"
            if len(denies) == 1
            else f"freeze windows {labels} {until}"
        )
        return Block(ReasonCode.GUARD_FREEZE_WINDOW, message, first, opens)
    if calendar.has_allow and not any(found.window.kind == "allow" for found in now):
        opens = next_open(calendar, at)
        when = (
            f"the next opens at {format_timestamp(opens)}" if opens else "none opens within a year"
        )
        names = ", ".join(w.label for w in calendar.windows if w.kind == "allow")
        return Block(
            ReasonCode.GUARD_OUTSIDE_ALLOW_WINDOW,
            f"outside every allow window ({names}); {when}",
            None,
            opens,
        )
    return None


def next_open(calendar: Calendar, at: datetime) -> datetime | None:
    """The earliest moment >= `at` when progression is allowed; None if none within a year.

    Walks from closing to opening: each step moves past an active deny window (to its merged
    end) or, outside every allow window, to the next allow start; both only move forward.
    """
    moment = at
    for _ in range(_MAX_STEPS):
        if moment - at > HORIZON:
            return None
        now = active(calendar, moment)
        denies = [found for found in now if found.window.kind == "deny"]
        if denies:
            moment = max(_closes(found.window, found) for found in denies)
            continue
        if calendar.has_allow and not any(found.window.kind == "allow" for found in now):
            starts = [
                found.start
                for window in calendar.windows
                if window.kind == "allow" and (found := _next_start(window, moment)) is not None
            ]
            if not starts:
                return None
            moment = min(starts)
            continue
        return moment
    return None  # a chain of windows longer than _MAX_STEPS: no end found


def upcoming(calendar: Calendar, at: datetime, within: timedelta = UPCOMING) -> Occurrence | None:
    """The next deny occurrence that starts after `at` and within `within`; None if none."""
    found = [
        occurrence
        for window in calendar.windows
        if window.kind == "deny" and (occurrence := _next_start(window, at)) is not None
    ]
    soon = [occurrence for occurrence in found if occurrence.start - at <= within]
    return min(soon, key=lambda occurrence: occurrence.start, default=None)
