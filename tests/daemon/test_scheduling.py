"""When passes run, on a fake clock: backoff, coalescing within the debounce, the timers.

The passes are stand-ins that record when they started (virtual seconds) and with which
reasons, and succeed or fail as the test says; a pass that takes time advances the clock, so
whatever the test scheduled meanwhile (webhook calls, file events) lands during the pass.
Nothing here sleeps: a whole day of daemon life takes milliseconds.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.daemon.logs import EventLog
from reconciler.daemon.scheduling import (
    BACKOFF_CAP,
    READY_BUDGET,
    Health,
    Scheduler,
    backoff_seconds,
)
from reconciler.daemon.triggers import Triggers
from tests.support.clocks import FakeClock, FixedRandom


@dataclass
class Run:
    """One scheduler on a fake clock, its passes and its events."""

    clock: FakeClock
    triggers: Triggers
    scheduler: Scheduler
    out: io.StringIO
    passes: list[tuple[float, str]] = field(default_factory=list)
    """(virtual start, sorted reasons joined by commas) of every pass."""

    def run(self, stop_at: float) -> None:
        self.clock.at(stop_at, self.triggers.stop)
        with redirect_stderr(self.out):
            self.scheduler.run()

    def events(self, name: str) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.out.getvalue().splitlines()]
        return [event for event in found if event["event"] == name]

    def starts(self) -> list[float]:
        return [start for start, _ in self.passes]


def make_run(
    results: Callable[[int], bool] = lambda _: True,
    *,
    seconds: float = 0.0,
    debounce: float = 0.2,
    rng: random.Random | None = None,
) -> Run:
    """A scheduler whose pass number n (from 0) succeeds when `results(n)`, taking `seconds`."""
    clock = FakeClock()
    triggers = Triggers(clock)
    out = io.StringIO()

    def run_pass(reasons: set[str]) -> bool:
        run.passes.append((clock.monotonic(), ",".join(sorted(reasons))))
        clock.advance(seconds)
        return results(len(run.passes) - 1)

    scheduler = Scheduler(
        run_pass,
        triggers=triggers,
        debounce=debounce,
        log=EventLog("json", clock.now),
        rng=rng or FixedRandom(0.0),
    )
    run = Run(clock, triggers, scheduler, out)
    return run


def fires(run: Run, reason: str, times: Iterator[float] | list[float]) -> None:
    for when in times:
        run.clock.at(when, lambda: run.triggers.fire(reason))


# Backoff -----------------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_the_backoff_doubles_from_one_second_to_a_one_minute_cap_plus_the_jitter(
    jitter: float,
) -> None:
    waits = [backoff_seconds(failures, FixedRandom(jitter)) for failures in range(1, 10)]
    expected = [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert waits == pytest.approx([base + jitter for base in expected])
    assert backoff_seconds(0, FixedRandom(0)) == 1  # never less than the base
    assert max(backoff_seconds(n, random.Random(n)) for n in range(100)) < BACKOFF_CAP + 1


def test_failed_passes_are_retried_after_exponential_waits_until_one_succeeds() -> None:
    # Eight failures, then a success: waits of 1, 2, 4 ... 60, 60 s, each plus 0.25 s jitter.
    run = make_run(lambda n: n == 8, rng=FixedRandom(0.25))
    run.run(stop_at=500)
    assert [e["retryIn"] for e in run.events("pass.retry")] == [
        1.25, 2.25, 4.25, 8.25, 16.25, 32.25, 60.25, 60.25,
    ]  # fmt: skip
    assert run.starts() == pytest.approx([0, 1.25, 3.5, 7.75, 16, 32.25, 64.5, 124.75, 185])
    assert [reasons for _, reasons in run.passes] == ["start"] + ["retry"] * 8
    assert run.scheduler.health.failures == 0 and run.scheduler.health.is_ready()


def test_the_first_success_after_failures_resets_the_backoff() -> None:
    outcomes = [False, False, False, True, False, False]
    run = make_run(lambda n: outcomes[n] if n < len(outcomes) else True)
    fires(run, "webhook", [100])
    run.run(stop_at=200)
    # 0 fail (1 s), 1 fail (2 s), 3 fail (4 s), 7 ok; 100 fail (1 s again), 101 fail (2 s), 103 ok.
    assert run.starts() == pytest.approx([0, 1, 3, 7, 100, 101, 103])


def test_a_trigger_during_a_backoff_wait_runs_with_the_retry_not_before_it() -> None:
    run = make_run(lambda n: n > 0, rng=FixedRandom(0.5))
    fires(run, "webhook", [0.2, 0.9])
    fires(run, "watch", [1.1])
    run.run(stop_at=60)
    assert run.passes == [(0, "start"), (1.5, "retry,watch,webhook")]


def test_a_stop_during_a_backoff_wait_ends_it_at_once_without_a_retry() -> None:
    run = make_run(lambda _: False)
    run.run(stop_at=40.5)  # during the 32 s wait that follows the sixth failure
    assert run.starts() == pytest.approx([0, 1, 3, 7, 15, 31])
    assert run.clock.monotonic() == 40.5


def test_readiness_turns_off_after_the_failure_budget_and_back_on_after_a_success() -> None:
    health = Health()
    assert not health.is_ready()  # no pass succeeded yet
    health.record(True)
    assert health.is_ready()
    for _ in range(READY_BUDGET - 1):
        health.record(False)
    assert health.is_ready()
    health.record(False)
    assert not health.is_ready()
    health.record(True)
    assert health.is_ready()
    health.stopping = True
    assert not health.is_ready()


def test_an_error_outside_the_pass_is_logged_and_retried_a_second_later() -> None:
    def results(n: int) -> bool:
        if n == 1:
            raise RuntimeError("boom")
        return True

    run = make_run(results)
    fires(run, "webhook", [10])
    run.run(stop_at=60)
    assert run.passes == [(0, "start"), (10, "webhook"), (11, "retry")]
    assert [e["error"] for e in run.events("daemon.error")] == ["RuntimeError: boom"]


# Coalescing --------------------------------------------------------------------------------


def test_triggers_during_a_pass_coalesce_into_one_pass_a_debounce_after_it() -> None:
    run = make_run(seconds=5.0, debounce=0.2)
    fires(run, "webhook", [0.1 * k for k in range(1, 21)])  # 20 calls during the first pass
    fires(run, "watch", [4.9])
    run.run(stop_at=60)
    assert run.passes == [(0, "start"), (pytest.approx(5.2), "watch,webhook")]


def test_a_trigger_long_after_a_pass_runs_at_once() -> None:
    run = make_run(seconds=0.5, debounce=0.2)
    fires(run, "webhook", [30])
    run.run(stop_at=60)
    assert run.passes == [(0, "start"), (30, "webhook")]


def test_a_flood_of_triggers_runs_at_most_one_pass_per_debounce() -> None:
    # A call every 10 ms for 10 s; passes take 50 ms; --debounce 500ms.
    run = make_run(seconds=0.05, debounce=0.5)
    calls = [0.01 * k for k in range(1, 1001)]
    fires(run, "webhook", calls)
    run.run(stop_at=60)
    starts = run.starts()
    # Each pass starts a full debounce after the previous one ended, none sooner...
    gaps = [later - (earlier + 0.05) for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.5)
    # ...so 1000 calls in 10 s make 19 passes (0, 0.55, ... 9.9) and one for the last calls.
    assert len(starts) == 20
    assert starts[-1] == pytest.approx(10.45)
    assert all(reasons == "webhook" for _, reasons in run.passes[1:])


def test_a_trigger_during_the_debounce_wait_joins_the_pass_it_waits_for() -> None:
    run = make_run(seconds=1.0, debounce=0.5)
    fires(run, "webhook", [0.5])  # during the first pass: the follow-up is due at 1.5
    fires(run, "watch", [1.2])  # during the debounce wait
    run.run(stop_at=60)
    assert run.passes == [(0, "start"), (1.5, "watch,webhook")]


def test_a_stop_during_the_debounce_wait_runs_no_further_pass() -> None:
    run = make_run(seconds=1.0, debounce=0.5)
    fires(run, "webhook", [0.5])
    run.run(stop_at=1.2)  # the follow-up pass was due at 1.5
    assert run.passes == [(0, "start")]


# Timers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("jitter", "period"), [(0.0, 540.0), (0.5, 600.0), (0.999, 659.88)])
def test_the_resync_timer_fires_every_interval_within_ten_percent(
    jitter: float, period: float
) -> None:
    run = make_run(rng=FixedRandom(jitter))
    run.scheduler.every(600, lambda: run.triggers.fire("resync"), "resync")
    run.run(stop_at=3 * period + 1)
    assert run.passes == [
        (0, "start"),
        (pytest.approx(period), "resync"),
        (pytest.approx(2 * period), "resync"),
        (pytest.approx(3 * period), "resync"),
    ]


def test_a_resync_due_during_a_pass_runs_once_a_debounce_after_it() -> None:
    run = make_run(seconds=2.0, rng=FixedRandom(0.5))
    run.scheduler.every(600, lambda: run.triggers.fire("resync"), "resync")
    fires(run, "webhook", [100, 599])
    run.run(stop_at=1000)
    # The resync due at 600 fell into the webhook's pass (599-601): one follow-up pass for it.
    assert run.passes == [
        (0, "start"),
        (100, "webhook"),
        (599, "webhook"),
        (pytest.approx(601.2), "resync"),
    ]


def test_a_timer_whose_action_fails_logs_it_and_keeps_its_period() -> None:
    polls: list[float] = []

    def poll() -> None:
        polls.append(run.clock.monotonic())
        if len(polls) == 2:
            raise OSError("ls-remote went away")

    run = make_run(rng=FixedRandom(0.5))
    run.scheduler.every(30, poll, "poll")
    run.run(stop_at=100)
    assert polls == pytest.approx([30, 60, 90])
    assert [e["error"] for e in run.events("poll.failed")] == ["OSError: ls-remote went away"]
    assert run.passes == [(0, "start")]  # a poll that finds nothing new runs no pass


def test_a_failing_after_pass_hook_neither_stops_the_schedule_nor_skips_the_backoff() -> None:
    # Found by a review: the hook raised past the backoff, so failed passes ran every second.
    run = make_run(lambda n: n == 3, rng=FixedRandom(0.0))

    def hook() -> None:
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    run.scheduler.after_pass = hook
    run.run(stop_at=100)
    assert run.starts() == pytest.approx([0, 1, 3, 7])  # 1, 2, 4 s of backoff as ever
    assert len(run.events("after_pass.failed")) == 4
    assert run.events("daemon.error") == []
