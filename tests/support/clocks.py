"""A fake `MonotonicClock` for the daemon: virtual time that moves only when the daemon waits.

Every wait returns at once: the clock jumps to the wait's end, or to the next scheduled
action when that comes first, runs it (in the waiting thread, so a `fire` from it lands while
the daemon waits) and lets the caller check again. `at`/`after` schedule what other threads
would do in a real daemon (a webhook call, a stop); `repeat` schedules the daemon's timers the
same way. `advance` is a pass taking time: what is due meanwhile happens during it. No test
ever sleeps. A wait that could only end by something never scheduled raises `Idle`, which the
daemon's catch-all cannot swallow, instead of hanging.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from tests.support.gitrepos import FIXED


class Idle(BaseException):
    """The daemon waits for something nothing will ever do (a test forgot to stop it)."""


class FakeClock:
    """Virtual monotonic seconds from 0, and a wall clock `now()` at FIXED + those seconds."""

    def __init__(self, start: datetime = FIXED, *, max_steps: int = 100_000) -> None:
        self.start = start
        self.time = 0.0
        self.waits: list[float | None] = []
        """Every timeout the daemon waited with, in order (None: no limit)."""
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._steps = max_steps

    # The MonotonicClock protocol

    def monotonic(self) -> float:
        return self.time

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        self.waits.append(timeout)
        self._step()
        until = float("inf") if timeout is None else self.time + max(timeout, 0)
        if self._queue and self._queue[0][0] <= until:
            self._run_next()
        elif timeout is None:
            raise Idle(f"a wait without a timeout at t={self.time} and nothing scheduled")
        else:
            self.time = until

    def repeat(
        self,
        name: str,
        period: Callable[[], float],
        action: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        def tick() -> None:
            if stop.is_set():
                return
            action()
            self.after(period(), tick)

        self.after(period(), tick)

    # The wall clock

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.time)

    # What the test does

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run `action` when virtual time reaches `when` (at once in the next wait if past)."""
        heapq.heappush(self._queue, (when, next(self._order), action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        self.at(self.time + delay, action)

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass (a pass at work), running what is due meanwhile, in order."""
        until = self.time + seconds
        while self._queue and self._queue[0][0] <= until:
            self._step()
            self._run_next()
        self.time = until

    def _run_next(self) -> None:
        when, _, action = heapq.heappop(self._queue)
        self.time = max(self.time, when)
        action()

    def _step(self) -> None:
        self._steps -= 1
        if self._steps < 0:
            raise Idle(f"more steps than allowed at t={self.time}: a busy loop?")


class FixedRandom(random.Random):
    """A random source whose `random()` always returns `value` (jitter made exact)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value
