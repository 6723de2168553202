"""The words and forms every human output uses: tables, reports and Markdown alike.

One vocabulary (docs/output.md): the manual pause is `running` or `paused`; a change is
`before -> after` (canary in percent); a time is UTC with `Z`; a commit is its first 12
hex digits; something absent is `-`. JSON keeps the values themselves (booleans, numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.core.timestamps import normalize_timestamp

ABSENT = "-"
ARROW = " -> "
SHORT_COMMIT = 12


def shown(value: object) -> str:
    """A value as text; `-` for None or an empty string."""
    return ABSENT if value is None or value == "" else str(value)


def pause(value: object) -> str:
    """The manual pause as a word: `paused` (True), `running` (False), else as given."""
    if value is True:
        return "paused"
    if value is False:
        return "running"
    return shown(value)


def percent(value: object) -> str:
    """A canary percentage: `25%`; anything but an integer as given (`-` when absent)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value}%"
    return shown(value)


def change(before: str, after: str | None) -> str:
    """`before -> after`; only `before` when there is no after (an unparsed trailer)."""
    return before if after is None else f"{before}{ARROW}{after}"


def canary_change(values: Mapping[str, object] | None) -> str:
    """A `{before, after}` canary as `25% -> 50%`."""
    if values is None:
        return ABSENT
    after = values.get("after")
    return change(percent(values.get("before")), None if after is None else percent(after))


def pause_change(values: Mapping[str, object] | None) -> str:
    """A `{before, after}` manual pause as `running -> paused`."""
    if values is None:
        return ABSENT
    after = values.get("after")
    return change(pause(values.get("before")), None if after is None else pause(after))


def utc_time(value: str | None) -> str:
    """An RFC 3339 time in UTC with `Z`; text that is no timestamp as typed (`-`: absent)."""
    if not value:
        return ABSENT
    return normalize_timestamp(value) or value


def short_commit(value: str | None) -> str:
    """A commit as its first 12 hex digits (`-` when there is none)."""
    return value[:SHORT_COMMIT] if value else ABSENT


def reasons(codes: Iterable[str]) -> str:
    """Reason codes as `a, b`; `-` when there are none."""
    return ", ".join(codes) or ABSENT
