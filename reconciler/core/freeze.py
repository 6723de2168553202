"""Freeze windows (core layer): when progression may happen, from `policies/freeze.yaml`.

A window is absolute (`start`/`end`, or the bash controller's `startAt`/`endAt`) or recurring
(a 5-field `cron` for its start, a `duration`, an IANA `timezone`, default UTC). A `deny`
window (the default kind) that is active stops progression; when `allow` windows exist,
progression happens only while one of them is active; deny wins. Pure: the caller decodes
the file (YAML or the bash controller's JSON) and passes the document. Cron expressions are
read by cronsim (Debian cron's rules, DST included) and time zones by zoneinfo (tzdata).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import (
    format_duration,
    format_timestamp,
    parse_duration,
    parse_timestamp,
)

Kind = Literal["deny", "allow"]
UPCOMING = timedelta(days=7)
"""How far ahead `status` looks for the next deny window."""
HORIZON = timedelta(days=366)
"""How far `next_open` looks: a calendar closed for longer than a year never opens."""
MAX_DURATION = timedelta(days=366)
"""A recurring window longer than this is refused: it would be a freeze that never ends."""
MAX_WINDOWS = 50
"""More windows than this in one file are refused (each is evaluated on every pass)."""
_MAX_STEPS = 512
"""Steps walked at most to find when progression opens (each step moves past one window):
real calendars need a handful; a file chaining windows into a year-long freeze costs a pass
no more than this (it reads as "no end found")."""
_FOLD = timedelta(hours=3)
"""More than any DST shift: how far `_starts` begins its walk on the far side of its moment."""
_KEYS_ABSOLUTE = {"start", "startAt", "end", "endAt"}
_KEYS_RECURRING = {"cron", "duration", "timezone"}
_KEYS = {"name", "kind", "reason", *_KEYS_ABSOLUTE, *_KEYS_RECURRING}


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


def parse_calendar(doc: object, source: str) -> Calendar:
    """Validate a decoded freeze file (`{windows: [...]}`; None: no windows).

    Raises:
        RefusalError: `freeze_file_invalid`, one detail line per problem.
    """
    if doc is None:
        return Calendar()
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise _invalid(source, ["the document must be a mapping with a `windows` list"])
    problems += [f'unknown key "{key}" (only `windows`)' for key in doc if key != "windows"]
    entries = doc.get("windows")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise _invalid(source, [*problems, "windows must be a list"])
    if len(entries) > MAX_WINDOWS:
        raise _invalid(source, [*problems, f"at most {MAX_WINDOWS} windows are allowed"])
    windows = []
    for number, entry in enumerate(entries, start=1):
        window, found = parse_window(entry, number)
        problems += found
        if window is not None:
            windows.append(window)
    if problems:
        raise _invalid(source, problems)
    return Calendar(tuple(windows))


def parse_window(entry: object, number: int) -> tuple[Window | None, list[str]]:
    """One window entry and its problems (each naming the entry); None when it has any."""
    where = f"windows[{number - 1}]"
    if not isinstance(entry, dict):
        return None, [f"{where} must be a mapping"]
    problems = [f'{where}: unknown key "{key}"' for key in entry if key not in _KEYS]
    name = _text(entry, "name", where, problems) or f"window-{number}"
    where = f"{where} ({name})" if "name" in entry else where
    reason = _text(entry, "reason", where, problems) or ""
    kind = entry.get("kind", "deny")
    if kind not in ("deny", "allow"):
        problems.append(f"{where}: kind must be deny or allow")
        kind = "deny"
    absolute = any(key in entry for key in _KEYS_ABSOLUTE)
    recurring = any(key in entry for key in _KEYS_RECURRING)
    base = Window(name, kind, reason)
    if absolute and recurring:
        problems.append(f"{where}: give start/end or cron/duration, not both")
        return None, problems
    if recurring:
        window = _recurring(base, entry, where, problems)
    elif absolute:
        window = _absolute(base, entry, where, problems)
    else:
        problems.append(f"{where}: give start and end, or cron and duration")
        window = None
    return (None if problems else window), problems


def _text(entry: dict[str, object], key: str, where: str, problems: list[str]) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        problems.append(f"{where}: {key} must be a non-empty string of at most 200 characters")
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        problems.append(f"{where}: {key} must be one line without control characters")
        return None
    return value


def _absolute(
    base: Window, entry: dict[str, object], where: str, problems: list[str]
) -> Window | None:
    bounds: list[datetime | None] = []
    for key, alias in (("start", "startAt"), ("end", "endAt")):
        if key in entry and alias in entry:
            problems.append(f"{where}: give {key} or {alias}, not both")
        value = entry.get(key, entry.get(alias))
        moment = parse_timestamp(value)
        if moment is None:
            problems.append(f"{where}: {key} must be an RFC 3339 time such as 2026-12-20T00:00:00Z")
        bounds.append(moment)
    start, end = bounds
    if start is None or end is None:
        return None
    if end <= start:
        problems.append(f"{where}: end {format_timestamp(end)} must be after start")
        return None
    return base._replace(start=start, end=end)


def _recurring(
    base: Window, entry: dict[str, object], where: str, problems: list[str]
) -> Window | None:
    cron, zone_name = entry.get("cron"), entry.get("timezone", "UTC")
    zone = _zone(zone_name)
    if zone is None:
        problems.append(f"{where}: timezone {zone_name!r} is not a known IANA time zone")
    if not isinstance(cron, str) or len(cron.split()) != 5:
        problems.append(f"{where}: cron must be a 5-field cron expression such as '0 18 * * FRI'")
        cron = None
    elif zone is not None:
        try:
            next(CronSim(cron, datetime(2026, 1, 1, tzinfo=zone)))
        except (CronSimError, StopIteration, ValueError) as exc:
            problems.append(f"{where}: cron {cron!r} is invalid: {exc or 'never fires'}")
            cron = None
    duration = _duration(entry.get("duration"), where, problems)
    if cron is None or duration is None or zone is None:
        return None
    assert isinstance(zone_name, str)
    window = base._replace(cron=cron, duration=duration, timezone=zone_name)
    overlap = _overlap(window)
    if overlap is not None:
        problems.append(
            f"{where}: duration {format_duration(duration)} is longer than the time between "
            f"two of its starts ({format_timestamp(overlap[0])} and "
            f"{format_timestamp(overlap[1])}): the window would overlap itself or run into its "
            "next start (a freeze that never ends); shorten it, or use an absolute window "
            "(start/end)"
        )
        return None
    return window


_OVERLAP_CHECKS = 8
"""Consecutive starts `_overlap` looks at (a window evaluated every pass must stay cheap)."""


def _overlap(window: Window) -> tuple[datetime, datetime] | None:
    """Two consecutive starts of the window whose first occurrence lasts up to the second's.

    Checked over the first starts of 2026 and of mid-2026 (both DST seasons): a window that
    overlaps itself never ends, and walking its occurrences would cost a pass dearly.
    """
    for origin in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)):
        starts = _starts(window, origin)
        previous = next(starts)
        for _ in range(_OVERLAP_CHECKS):
            start = next(starts)
            if _occurrence(window, previous).end >= start:
                return previous, start
            previous = start
    return None


def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _duration(value: object, where: str, problems: list[str]) -> timedelta | None:
    if value is None:
        problems.append(f"{where}: duration is required with cron (e.g. 62h)")
        return None
    try:
        duration = parse_duration(str(value)) if not isinstance(value, bool) else None
    except ValueError:
        duration = None
    if duration is None or not timedelta(0) < duration <= MAX_DURATION:
        problems.append(f"{where}: duration must be a duration between 1s and 366d, e.g. 62h")
        return None
    return duration


def _invalid(source: str, problems: list[str]) -> RefusalError:
    return RefusalError(
        ReasonCode.FREEZE_FILE_INVALID,
        f"invalid freeze file: {source}",
        details=problems,
        path=source,
    )


# Occurrences ---------------------------------------------------------------------------------


def _starts(window: Window, after: datetime, *, reverse: bool = False) -> Iterator[datetime]:
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


def _occurrence(window: Window, start: datetime) -> Occurrence:
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
    for start in _starts(window, at, reverse=True):
        found = _occurrence(window, start)
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
    for steps, start in enumerate(_starts(window, occurrence.start)):
        if start > end or steps >= _MAX_STEPS:
            break
        end = max(end, _occurrence(window, start).end)
    return end


def _next_start(window: Window, at: datetime) -> Occurrence | None:
    """The window's first occurrence starting after `at`; None if none within the horizon."""
    if window.cron is None:
        assert window.start is not None and window.end is not None
        return Occurrence(window, window.start, window.end) if window.start > at else None
    start = next(_starts(window, at), None)
    if start is None or start - at > HORIZON:
        return None
    return _occurrence(window, start)


def blocked(calendar: Calendar, at: datetime) -> Block | None:
    """Why progression is not allowed at `at`; None when it is."""
    now = active(calendar, at)
    denies = [found for found in now if found.window.kind == "deny"]
    if denies:
        first = min(denies, key=lambda found: (found.window.name, found.start))
        # Until the deny windows let go (back-to-back ones chained), allow windows aside.
        deny_only = Calendar(tuple(w for w in calendar.windows if w.kind == "deny"))
        opens = next_open(deny_only, at)
        until = f"until {format_timestamp(opens)}" if opens else "with no end found within a year"
        labels = ", ".join(found.window.label for found in denies)
        message = (
            f"freeze window {first.window.label} {until}"
            if len(denies) == 1
            else f"freeze windows {labels} {until}"
        )
        return Block(ReasonCode.GUARD_FREEZE_WINDOW, message, first)
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
