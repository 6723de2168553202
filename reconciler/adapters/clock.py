"""Clock adapter: the only place that reads the wall clock; the core receives `now`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time (tests pass a fixed one)."""

    def __call__(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


def system_clock() -> datetime:
    """Return the current UTC time."""
    return datetime.now(UTC)
