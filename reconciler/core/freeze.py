"""Freeze windows (core layer): when progression may happen, from `policies/freeze.yaml`.

A window is absolute (`start`/`end`, or the bash controller's `startAt`/`endAt`) or recurring
(a 5-field `cron` for its start, a `duration`, an IANA `timezone`, default UTC). A `deny`
window (the default kind) that is active stops progression; when `allow` windows exist,
progression happens only while one of them is active; deny wins. Pure: the caller decodes
the file (YAML or the bash controller's JSON) and passes the document.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from reconciler.core.reasons import ReasonCode

Kind = Literal["deny", "allow"]
UPCOMING = timedelta(days=7)
"""How far ahead `status` looks for the next deny window."""


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
    timezone: str = "UTC"


class Calendar(NamedTuple):
    """Every window of a freeze file (empty: no file, or no windows)."""

    windows: tuple[Window, ...] = ()


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


def parse_calendar(doc: object, source: str) -> Calendar:
    """Validate a decoded freeze file (`{windows: [...]}`; None: no windows).

    Raises:
        RefusalError: `freeze_file_invalid`, one detail line per problem.
    """
    raise NotImplementedError


def active(calendar: Calendar, at: datetime) -> list[Occurrence]:
    """Every occurrence of every window active at `at` (start <= at < end)."""
    raise NotImplementedError


def blocked(calendar: Calendar, at: datetime) -> Block | None:
    """Why progression is not allowed at `at`; None when it is."""
    raise NotImplementedError


def next_open(calendar: Calendar, at: datetime) -> datetime | None:
    """The earliest moment >= `at` when progression is allowed; None if none within a year."""
    raise NotImplementedError


def upcoming(calendar: Calendar, at: datetime, within: timedelta = UPCOMING) -> Occurrence | None:
    """The next deny occurrence that starts after `at` and within `within`; None if none."""
    raise NotImplementedError
