"""Triggers on a fake clock: coalescing, timed waits and stop-aware sleeps, without waiting."""

from __future__ import annotations

import threading

import pytest

from reconciler.daemon.triggers import Triggers
from tests.support.clocks import FakeClock, Idle


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_any_number_of_fires_before_a_wait_come_back_as_one_set_of_reasons() -> None:
    triggers = Triggers()
    for reason in ("webhook", "watch", "webhook", "remote", "webhook"):
        triggers.fire(reason)
    assert triggers.wait() == {"webhook", "watch", "remote"}
    assert triggers.wait(timeout=0) == set()  # taken: nothing is left for a second pass


def test_a_wait_returns_when_a_trigger_fires_not_at_its_timeout(clock: FakeClock) -> None:
    triggers = Triggers(clock)
    clock.at(2.5, lambda: triggers.fire("webhook"))
    assert triggers.wait(timeout=10) == {"webhook"}
    assert clock.monotonic() == 2.5


def test_a_timed_wait_without_a_trigger_ends_at_its_timeout(clock: FakeClock) -> None:
    triggers = Triggers(clock)
    assert triggers.wait(timeout=7) == set()
    assert clock.monotonic() == 7


def test_a_wait_without_a_timeout_waits_for_a_trigger_however_long(clock: FakeClock) -> None:
    triggers = Triggers(clock)
    clock.at(86_400, lambda: triggers.fire("resync"))
    assert triggers.wait() == {"resync"}
    assert clock.monotonic() == 86_400
    with pytest.raises(Idle):  # nothing else will ever come
        triggers.wait()


def test_a_sleep_runs_its_full_length_through_triggers(clock: FakeClock) -> None:
    triggers = Triggers(clock)
    clock.at(0.3, lambda: triggers.fire("webhook"))
    assert triggers.sleep(1.5) is False
    assert clock.monotonic() == 1.5
    assert triggers.wait(timeout=0) == {"webhook"}  # kept for the pass after the sleep


def test_a_stop_ends_a_sleep_and_a_wait_at_once(clock: FakeClock) -> None:
    triggers = Triggers(clock)
    clock.at(4, triggers.stop)
    assert triggers.sleep(60) is True
    assert clock.monotonic() == 4
    assert triggers.wait() == set()
    assert triggers.sleep(60) is True
    assert clock.monotonic() == 4  # no time passed once stopped


def test_a_sleep_of_no_time_does_not_wait(clock: FakeClock) -> None:
    triggers = Triggers(clock)
    assert triggers.sleep(0) is False
    assert triggers.sleep(-3) is False
    assert clock.waits == []


def test_every_repeats_its_action_each_period_until_the_stop(clock: FakeClock) -> None:
    triggers = Triggers(clock)
    ticks: list[float] = []
    periods = iter([10.0, 20.0, 30.0, 40.0])
    triggers.every("resync", lambda: next(periods), lambda: ticks.append(clock.monotonic()))
    clock.at(65, triggers.stop)
    assert triggers.sleep(1000) is True
    assert ticks == [10, 30, 60]  # each period drawn anew; the one due at 100 never runs


def test_the_real_clock_stops_a_waiter_in_another_thread() -> None:
    triggers = Triggers()
    woke = threading.Event()

    def waiter() -> None:
        triggers.wait()
        triggers.sleep(3600)
        woke.set()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    triggers.stop()
    thread.join(timeout=30)  # a bound for a broken build, not a measurement
    assert woke.is_set()
