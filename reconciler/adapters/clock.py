"""Clock adapter: the only place that reads the clocks; the core receives `now`.

Two clocks: the wall clock (`now`, a timezone-aware datetime) for what is recorded and shown,
and the monotonic clock with the waits measured on it (`MonotonicClock`) for the daemon's
debounce, backoff and timers. Both are injected, so tests drive them without real waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


class MonotonicClock(Protocol):
    """Monotonic seconds and the waits measured on them (tests pass a fake that never sleeps)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""
        ...

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Wait on `condition`, held by the caller, until notified or `timeout` seconds pass.

        It may return early (as `Condition.wait` may): callers check what they wait for
        again, and how much time is left, on `monotonic()`.
        """
        ...

    def repeat(
        self,
        name: str,
        period: Callable[[], float],
        action: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        """Call `action` each time `period()` seconds (drawn anew each time) pass, until `stop`.

        The first call comes one period from now; `action` must not raise.
        """
        ...


class SystemMonotonicClock:
    """`time.monotonic`, `Condition.wait`, and a daemon thread per repeated action."""

    def monotonic(self) -> float:
        """Return `time.monotonic()`."""
        return time.monotonic()

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Return `condition.wait(timeout)`'s wake-up (notified, timed out or spurious)."""
        condition.wait(timeout)

    def repeat(
        self,
        name: str,
        period: Callable[[], float],
        action: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        """Start thread `reconciler-<name>`, which sleeps `period()` then acts, until `stop`."""

        def loop() -> None:
            while not stop.wait(max(period(), 0)):
                action()

        threading.Thread(target=loop, name=f"reconciler-{name}", daemon=True).start()


SYSTEM_MONOTONIC: MonotonicClock = SystemMonotonicClock()
"""The real monotonic clock, the default of everything that takes one."""
