"""RFC 3339 timestamps and durations (core layer): parse what operators type, write one form.

Input accepts RFC 3339 date-times (offsets, fractions, `t`/space separator); output is always
UTC `YYYY-MM-DDTHH:MM:SSZ` at second precision, the form the bash tool wrote. A deadline typed
on the command line may also be relative (`7d`: now + 7 days), resolved against the `now` the
caller passes; files hold absolute times only (see `resolve_deadline`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# re.ASCII: `\d` must not match other scripts' digits ("２０９９" is no year).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", re.ASCII)
_RELATIVE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+", re.ASCII)
"""A relative deadline: a duration with units (`7d`, `36h`, `1d12h`); a bare number is not one."""
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_timestamp(value: object) -> datetime | None:
    """Return the aware UTC datetime for an RFC 3339 string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    if fraction:
        moment += timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            return None
        try:
            moment -= sign * timedelta(hours=hours, minutes=minutes)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 lies before datetime.min
            return None
    return moment


def is_relative_deadline(text: object) -> bool:
    """Tell whether `text` is a relative deadline such as `7d`, `36h` or `1d12h`."""
    return isinstance(text, str) and _RELATIVE.fullmatch(text) is not None


def resolve_deadline(text: object, now: datetime) -> datetime | None:
    """Return the moment a deadline names: an RFC 3339 time, or `now` plus a relative one.

    `7d` is now + 7 days (also `36h`, `1d12h`, `90m`); the units are those of
    `parse_duration`, but a unit is required (a bare `7` could mean seconds or days) and
    nothing is stripped. None when `text` is neither, or lies beyond year 9999.
    """
    moment = parse_timestamp(text)
    if moment is not None or not isinstance(text, str) or not is_relative_deadline(text):
        return moment
    try:
        return now.astimezone(UTC) + parse_duration(text)
    except (ValueError, OverflowError):
        return None


def format_timestamp(moment: datetime) -> str:
    """Return `moment` as UTC `YYYY-MM-DDTHH:MM:SSZ` (fractions are truncated)."""
    utc = moment.astimezone(UTC)
    # Not strftime: its %Y writes year 999 as "999", not "0999".
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


def normalize_timestamp(value: str) -> str | None:
    """Return the canonical UTC form of an RFC 3339 string, or None when it is not one."""
    moment = parse_timestamp(value)
    return None if moment is None else format_timestamp(moment)


def parse_duration(text: str) -> timedelta:
    """Parse `24h`, `30s`, `200ms`, `1h30m`, `2d` or a bare number of seconds.

    Raises:
        ValueError: the text is not a non-negative duration.
    """
    stripped = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", stripped, re.ASCII):
        try:
            return timedelta(seconds=float(stripped))
        except OverflowError:
            raise ValueError(f"duration too long: {text[:40]!r}") from None
    if not stripped or _DURATION_PART.sub("", stripped):
        raise ValueError(f"not a duration: {text!r} (use e.g. 200ms, 30s, 10m, 24h, 1h30m)")
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(stripped)
    )
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration too long: {text[:40]!r}") from None


SECOND = timedelta(seconds=1)
LONGEST = timedelta(days=366)
"""The longest duration a guard or a freeze window takes."""


def setting_duration(value: object, *, zero: bool = False) -> timedelta | None:
    """A setting's duration (text or a number of seconds) from 1s to 366d; None when it is not.

    `zero` also accepts 0 (a guard turned off). A boolean is no duration.
    """
    try:
        span = None if isinstance(value, bool) else parse_duration(str(value))
    except ValueError:
        return None
    if span is None or span > LONGEST or (span < SECOND and not (zero and not span)):
        return None
    return span


def format_duration(span: timedelta) -> str:
    """Render a duration compactly: `26h3m`, `45m10s`, `0s`."""
    total = max(int(span.total_seconds()), 0)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{seconds}s" if seconds or not (hours or minutes) else "")
    return "".join(parts)
