"""Coalescing triggers: any number of wake-ups while a pass runs become one follow-up pass.

Every wait is measured on an injected `MonotonicClock` (the real one by default), so tests
drive the debounce, the backoff and the timers with a fake clock instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from reconciler.adapters.clock import SYSTEM_MONOTONIC, MonotonicClock


class Triggers:
    """A set of pending reasons, a condition to wait on, and the stop flag."""

    def __init__(self, clock: MonotonicClock = SYSTEM_MONOTONIC) -> None:
        self.clock = clock
        self._condition = threading.Condition()
        self._reasons: set[str] = set()
        self.stopping = threading.Event()

    def fire(self, reason: str) -> None:
        """Ask for a pass (idempotent while one is already asked for)."""
        with self._condition:
            self._reasons.add(reason)
            self._condition.notify_all()

    def stop(self) -> None:
        """Ask the daemon to stop; wakes every waiter."""
        self.stopping.set()
        with self._condition:
            self._condition.notify_all()

    def wait(self, timeout: float | None = None) -> set[str]:
        """Block until a pass is asked for (return and clear the reasons), stop, or timeout."""
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        with self._condition:
            while not self._reasons and not self.stopping.is_set():
                remaining = None if deadline is None else deadline - self.clock.monotonic()
                if remaining is not None and remaining <= 0:
                    return set()
                self.clock.wait(self._condition, remaining)
            reasons, self._reasons = self._reasons, set()
            return reasons

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds` unless stopped; return True when stopped."""
        deadline = self.clock.monotonic() + max(seconds, 0)
        with self._condition:
            while not self.stopping.is_set():
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    return False
                self.clock.wait(self._condition, remaining)
            return True

    def every(self, name: str, period: Callable[[], float], action: Callable[[], None]) -> None:
        """Call `action` every `period()` seconds (drawn anew each time) until the stop."""
        self.clock.repeat(name, period, action, self.stopping)
