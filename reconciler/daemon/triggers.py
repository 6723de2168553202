"""Coalescing triggers: any number of wake-ups while a pass runs become one follow-up pass."""

from __future__ import annotations

import threading
import time


class Triggers:
    """A set of pending reasons, a condition to wait on, and the stop flag."""

    def __init__(self) -> None:
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
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while not self._reasons and not self.stopping.is_set():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return set()
                self._condition.wait(remaining)
            reasons, self._reasons = self._reasons, set()
            return reasons

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds` unless stopped; return True when stopped."""
        return self.stopping.wait(max(seconds, 0))
