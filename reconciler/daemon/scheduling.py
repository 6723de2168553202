"""When the daemon runs a pass: on a trigger, a debounce after the last, backing off on failure.

Triggers only mark a pass as wanted, so any number of them during a pass coalesce into exactly
one follow-up pass; one that comes within `debounce` of the end of a pass waits out the rest of
it with whatever else comes meanwhile. A failed pass is retried with capped exponential
backoff and jitter (a trigger during the wait runs with the retry, not before it). The
periodic timers (resync, remote poll) are here too. Every wait is on the triggers' clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import tenacity

from reconciler.daemon.logs import EventLog
from reconciler.daemon.triggers import Triggers

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
READY_BUDGET = 3
"""Consecutive failed passes after which /readyz turns unready."""


class Health:
    """What /readyz answers: the first pass succeeded and the failures are within budget."""

    def __init__(self) -> None:
        self.succeeded_once = False
        self.failures = 0
        self.stopping = False

    def is_ready(self) -> bool:
        """Ready once a pass succeeded, until READY_BUDGET failures in a row or the stop."""
        return self.succeeded_once and self.failures < READY_BUDGET and not self.stopping

    def record(self, ok: bool) -> None:
        """Count a pass: a success resets the failures, a failure adds one."""
        if ok:
            self.failures = 0
            self.succeeded_once = True
        else:
            self.failures += 1


def backoff_seconds(failures: int, rng: random.Random) -> float:
    """Exponential backoff (1 s, 2 s, 4 s ... capped at 60 s) plus up to 1 s of jitter.

    tenacity's wait strategies, driven by hand: the daemon's loop is not one call to retry
    but a stream of passes, each of which may be triggered early by something new.
    """
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    state.attempt_number = max(failures, 1)
    wait = tenacity.wait_exponential(multiplier=BACKOFF_BASE, max=BACKOFF_CAP)
    return float(wait(state)) + rng.random()


class Scheduler:
    """Runs `run_pass(reasons)` (True when it succeeded) as the triggers ask, until the stop."""

    def __init__(
        self,
        run_pass: Callable[[set[str]], bool],
        *,
        triggers: Triggers,
        debounce: float,
        log: EventLog,
        rng: random.Random,
        after_pass: Callable[[], None] | None = None,
    ) -> None:
        """`after_pass` runs once each pass is counted (and its backoff chosen)."""
        self.run_pass = run_pass
        self.after_pass = after_pass
        self.triggers = triggers
        self.clock = triggers.clock
        self.debounce = debounce
        self.log = log
        self.rng = rng
        self.health = Health()
        self.backoff: float | None = None
        """Seconds the retry of the last (failed) pass waits; None after a success."""
        self.wake_at: float | None = None
        """When (monotonic) a deferred intent's `notBefore` comes: a pass runs then, with
        the reason `deferred`, even when nothing else asks for one."""

    def run(self) -> None:
        """One pass at once, then one per trigger (coalesced), until `triggers.stop()`."""
        self.triggers.fire("start")
        last_done = -float("inf")
        while not self.triggers.stopping.is_set():
            try:
                last_done = self._turn(last_done)
            except Exception as exc:  # noqa: BLE001 - nothing but a signal ends the daemon
                self.log("daemon.error", "error", error=f"{type(exc).__name__}: {exc}")
                self.triggers.sleep(BACKOFF_BASE)
                self.triggers.fire("retry")

    def _turn(self, last_done: float) -> float:
        """Wait for a trigger, run one pass (backing off after a failure); return its end."""
        timeout = None if self.wake_at is None else max(self.wake_at - self.clock.monotonic(), 0)
        reasons = self.triggers.wait(timeout)
        if not reasons:
            if self.triggers.stopping.is_set():
                return last_done
            reasons = {"deferred"}  # a guard's notBefore came: the pass may apply it now
        self.wake_at = None  # each pass sets it anew from what it deferred
        # A trigger right after a pass waits out one debounce with the others that come
        # meanwhile, so a flood (webhook calls, pushes) runs one pass per debounce at most.
        gap = last_done + self.debounce - self.clock.monotonic()
        if self.triggers.stopping.is_set() or (gap > 0 and self.triggers.sleep(gap)):
            return last_done
        reasons |= self.triggers.wait(timeout=0)
        ok = self.run_pass(reasons)
        done = self.clock.monotonic()
        self.health.record(ok)
        failed = not ok and not self.triggers.stopping.is_set()
        self.backoff = backoff_seconds(self.health.failures, self.rng) if failed else None
        if self.after_pass is not None:
            try:  # the page's refresh: its failure must not skip the backoff below
                self.after_pass()
            except Exception as exc:  # noqa: BLE001 - logged; the schedule goes on
                self.log("after_pass.failed", "warn", error=f"{type(exc).__name__}: {exc}")
        if self.backoff is not None:
            delay = self.backoff
            self.log("pass.retry", "warn", retryIn=round(delay, 2))
            if not self.triggers.sleep(delay):
                self.triggers.fire("retry")
        return done

    def every(self, seconds: float, action: Callable[[], None], name: str) -> None:
        """Run `action` every `seconds` (jitter +-10%) until the stop; its errors are logged."""

        def period() -> float:
            return seconds * (0.9 + 0.2 * self.rng.random())

        def guarded() -> None:
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - the timer must live on
                self.log(f"{name}.failed", "warn", error=f"{type(exc).__name__}: {exc}")

        self.triggers.every(name, period, guarded)
