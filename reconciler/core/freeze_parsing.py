"""Reading a freeze file (core layer): its windows validated, one line per problem.

Every path reads the freeze file through `read_calendar` (`inputs/guarding.py`), and
`reconcile freeze new` checks a new window with `parse_window`; `core/freeze.py` evaluates
the windows. Cron expressions are read by cronsim, time zones by zoneinfo (tzdata).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from reconciler.core.errors import DocumentError, RefusalError
from reconciler.core.freeze import Calendar, Window, first_starts, occurrence_of
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import (
    format_duration,
    format_timestamp,
    parse_timestamp,
    setting_duration,
)

MAX_WINDOWS = 50
"""More windows than this in one file are refused (each is evaluated on every pass)."""
_KEYS_ABSOLUTE = {"start", "startAt", "end", "endAt"}
_KEYS_RECURRING = {"cron", "duration", "timezone"}
_KEYS = {"name", "kind", "reason", *_KEYS_ABSOLUTE, *_KEYS_RECURRING}


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
            f"{format_timestamp(overlap[1])}): the window would overlap itself; shorten it, "
            "or use an absolute window (start/end)"
        )
        return None
    return window


_OVERLAP_CHECKS = 8
"""Consecutive starts `_overlap` looks at (a window evaluated every pass must stay cheap)."""


def _overlap(window: Window) -> tuple[datetime, datetime] | None:
    """Two consecutive starts of the window whose first occurrence outlasts the second's start.

    (Touching occurrences, `0 0 * * MON-FRI` for 24h, are one window from Monday to Friday.)

    Checked over the first starts of 2026 and of mid-2026 (both DST seasons): a window that
    overlaps itself never ends, and walking its occurrences would cost a pass dearly.
    """
    for origin in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)):
        starts = first_starts(window, origin)
        previous = next(starts)
        for _ in range(_OVERLAP_CHECKS):
            start = next(starts)
            if occurrence_of(window, previous).end > start:
                return previous, start
            previous = start
    return None


_HOST_ZONES = ("localtime", "posixrules", "Factory")
"""Names only a system's database has (or that mean "this machine's zone"): replicas on
other machines would read the window differently, or not at all."""


def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        return None
    if name in _HOST_ZONES or name.startswith(("posix/", "right/")):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _duration(value: object, where: str, problems: list[str]) -> timedelta | None:
    if value is None:
        problems.append(f"{where}: duration is required with cron (e.g. 62h)")
        return None
    duration = setting_duration(value)
    if duration is None:
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


@functools.lru_cache(maxsize=16)
def read_calendar(text: str, fmt: Literal["yaml", "json"], source: str) -> Calendar:
    """Decode and validate a freeze file's text (an empty one has no windows).

    Cached: the controller reads the same file every pass, and validating a rare cron
    expression walks years of its calendar.

    Raises:
        RefusalError: `freeze_file_invalid`: not parseable, or invalid windows.
    """
    if not text.strip():
        return Calendar()
    # Imported here: a JSON repository (the bash tool's layout) never loads PyYAML (~12 ms).
    from reconciler.core import jsontext, yamltext

    try:
        doc = jsontext.load_json(text) if fmt == "json" else yamltext.load_yaml(text)
    except DocumentError as exc:
        raise _invalid(source, [exc.message]) from exc
    return parse_calendar(doc, source)
