"""Promotion order (core/upstream.py): `after:`/`requires:` and the upstream's soak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp
from reconciler.core.upstream import (
    Record,
    Requirement,
    Soak,
    UpstreamFacts,
    UpstreamGate,
    parse_requires,
    soak_status,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FULL_DAY = Requirement("staging", 100, DAY)
PROPERTY = settings(max_examples=200, deadline=None)
BAD_CANARY = "requires.minCanary must be an integer between 0 and 100"
BAD_SOAK = "requires.soak must be a duration between 0 and 90d, such as 24h"


def record(
    intent: str, when: datetime | str, before: int, after: int, *, paused: bool = False
) -> dict[str, Any]:
    """An applied record as `applying.build_record` writes it (the fields read here)."""
    return {
        "status": "applied",
        "intent": intent,
        "timestamp": when if isinstance(when, str) else format_timestamp(when),
        "rollout": {
            "before": {"canaryPercent": before, "manualPause": False},
            "after": {"canaryPercent": after, "manualPause": paused},
            "changed": {"canaryPercent": before != after, "manualPause": paused},
        },
    }


def facts(
    *records: dict[str, Any],
    canary: int = 100,
    paused: bool = False,
    changed_at: datetime | None = None,
    problem: str | None = None,
) -> UpstreamFacts:
    return UpstreamFacts(canary, paused, records, changed_at, problem)


def stamp(moment: datetime) -> str:
    return format_timestamp(moment)


# parse_requires -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "requires", "expected"),
    [
        pytest.param(None, None, None, id="no upstream"),
        pytest.param("staging", None, Requirement("staging", 100, timedelta(0)), id="after alone"),
        pytest.param("staging", {}, Requirement("staging"), id="empty requires"),
        pytest.param("staging", {"minCanary": 100, "soak": "24h"}, FULL_DAY, id="the example"),
        pytest.param("staging", {"minCanary": 0}, Requirement("staging", 0), id="minCanary 0"),
        pytest.param("staging", {"soak": "1h30m"}, Requirement("staging", 100, 90 * MINUTE),
                     id="1h30m"),
        pytest.param("staging", {"soak": "90m"}, Requirement("staging", 100, 90 * MINUTE),
                     id="90m"),
        pytest.param("staging", {"soak": 0}, Requirement("staging"), id="soak 0"),
        pytest.param("staging", {"soak": "90d"}, Requirement("staging", 100, 90 * DAY),
                     id="soak at most 90d"),
    ],
)  # fmt: skip
def test_after_and_requires_give_the_requirement(
    after: object, requires: object, expected: Requirement | None
) -> None:
    assert parse_requires(after, requires) == (expected, [])


@pytest.mark.parametrize(
    ("after", "requires", "problems"),
    [
        (None, {"minCanary": 100}, ["requires needs after: the upstream fleet it is measured on"]),
        ("", None, ["after must be a fleet id (a non-empty string)"]),
        ("  ", None, ["after must be a fleet id (a non-empty string)"]),
        (["staging"], None, ["after must be a fleet id (a non-empty string)"]),
        ("staging", "24h", ["requires must be a mapping (minCanary, soak)"]),
        ("staging", {"minCanary": 101}, [BAD_CANARY]),
        ("staging", {"minCanary": -1}, [BAD_CANARY]),
        ("staging", {"minCanary": True}, [BAD_CANARY]),
        ("staging", {"minCanary": 50.0}, [BAD_CANARY]),
        ("staging", {"minCanary": "100"}, [BAD_CANARY]),
        ("staging", {"soak": "91d"}, [BAD_SOAK]),
        ("staging", {"soak": "-1h"}, [BAD_SOAK]),
        ("staging", {"soak": "a day"}, [BAD_SOAK]),
        ("staging", {"soak": True}, [BAD_SOAK]),
        ("staging", {"soak": None}, [BAD_SOAK]),
        ("staging", {"minCanry": 100}, ['requires: unknown setting "minCanry"']),
        (7, {"minCanary": 200, "x": 1}, [
            "after must be a fleet id (a non-empty string)",
            'requires: unknown setting "x"',
            BAD_CANARY,
        ]),
    ],
)  # fmt: skip
def test_a_bad_after_or_requires_gives_every_problem_and_no_requirement(
    after: object, requires: object, problems: list[str]
) -> None:
    assert parse_requires(after, requires) == (None, problems)


@given(st.integers(min_value=-1000, max_value=1000))
def test_min_canary_is_any_whole_percentage(value: int) -> None:
    found, problems = parse_requires("staging", {"minCanary": value})
    assert (found is not None) == (0 <= value <= 100) == (not problems)


# soak_status: examples ------------------------------------------------------------------------


def test_held_long_enough_is_ready() -> None:
    since = NOW - 30 * HOUR
    soak = soak_status(FULL_DAY, facts(record("expand", since, 50, 100)), NOW)
    assert soak == Soak(
        True,
        since,
        since + DAY,
        30 * HOUR,
        f"upstream staging: held 100% unpaused since {stamp(since)}, soak 24h: "
        f"ready since {stamp(since + DAY)}",
    )


def test_held_not_long_enough_is_ready_at_the_end_of_the_soak() -> None:
    since = NOW - 2 * HOUR
    soak = soak_status(FULL_DAY, facts(record("expand", since, 50, 100)), NOW)
    assert soak == Soak(
        False,
        since,
        since + DAY,
        2 * HOUR,
        f"upstream staging: held 100% unpaused since {stamp(since)}, soak 24h: "
        f"ready at {stamp(since + DAY)}",
    )


def test_below_min_canary_now_is_not_ready_and_has_no_time() -> None:
    soak = soak_status(FULL_DAY, facts(record("expand", NOW - 3 * DAY, 25, 50), canary=50), NOW)
    assert soak == Soak(
        False, None, None, timedelta(0), "upstream staging: at 50%, needs 100% unpaused"
    )


def test_paused_at_100_is_not_ready() -> None:
    records = (record("expand", NOW - 3 * DAY, 50, 100), record("rollback", NOW - HOUR, 100, 100,
               paused=True))  # fmt: skip
    soak = soak_status(FULL_DAY, facts(*records, paused=True), NOW)
    assert soak == Soak(False, None, None, timedelta(0), "upstream staging: paused")


def test_a_rollback_in_the_middle_resets_and_the_resume_restarts_the_streak() -> None:
    resumed = NOW - 5 * HOUR
    records = (
        record("expand", NOW - 5 * DAY, 50, 100),
        record("rollback", NOW - 2 * DAY, 100, 100, paused=True),
        record("resume", resumed, 100, 100),
        record("expand", NOW - HOUR, 100, 100),  # still satisfying: no new start
    )
    soak = soak_status(FULL_DAY, facts(*records), NOW)
    assert (soak.ready, soak.since, soak.ready_at) == (False, resumed, resumed + DAY)


def test_a_rollback_below_min_canary_breaks_the_streak_too() -> None:
    records = (
        record("expand", NOW - 5 * DAY, 50, 100),
        record("rollback", NOW - 3 * DAY, 100, 50, paused=True),
        record("resume", NOW - 2 * DAY, 50, 50),
        record("expand", NOW - 10 * HOUR, 50, 100),
    )
    soak = soak_status(FULL_DAY, facts(*records), NOW)
    assert soak.since == NOW - 10 * HOUR


def test_a_lower_min_canary_counts_from_the_first_record_at_it() -> None:
    records = (record("expand", NOW - 3 * DAY, 10, 50), record("expand", NOW - HOUR, 50, 100))
    assert soak_status(Requirement("staging", 50, DAY), facts(*records), NOW).ready
    assert not soak_status(FULL_DAY, facts(*records), NOW).ready


def test_with_soak_0_satisfying_now_is_enough() -> None:
    now_only = Requirement("staging")
    assert soak_status(now_only, facts(record("expand", NOW, 50, 100)), NOW).ready
    assert soak_status(now_only, facts(), NOW).ready
    assert not soak_status(now_only, facts(canary=99), NOW).ready


def test_without_records_the_streak_starts_at_the_registrys_changed_at() -> None:
    changed = NOW - 2 * DAY
    soak = soak_status(FULL_DAY, facts(changed_at=changed), NOW)
    assert (soak.ready, soak.since, soak.held) == (True, changed, 2 * DAY)
    soak = soak_status(FULL_DAY, facts(changed_at=NOW + HOUR), NOW)  # a clock ahead: now
    assert (soak.ready, soak.since) == (False, NOW)


def test_without_records_or_changed_at_the_streak_starts_now() -> None:
    soak = soak_status(FULL_DAY, facts(), NOW)
    assert (soak.ready, soak.since, soak.ready_at) == (False, NOW, NOW + DAY)


def test_changed_at_is_not_used_when_there_are_records() -> None:
    # The records end on a break, yet the registry satisfies (edited by hand): no record
    # says when the streak started, so it starts now, whatever changedAt says.
    records = (record("rollback", NOW - 3 * DAY, 100, 100, paused=True),)
    soak = soak_status(FULL_DAY, facts(*records, changed_at=NOW - 2 * DAY), NOW)
    assert (soak.ready, soak.since) == (False, NOW)


def test_a_record_from_the_future_counts_as_now() -> None:
    soak = soak_status(FULL_DAY, facts(record("expand", NOW + DAY, 50, 100)), NOW)
    assert (soak.since, soak.ready_at, soak.held) == (NOW, NOW + DAY, timedelta(0))


def test_a_record_without_a_time_is_skipped_and_an_unreadable_after_state_breaks() -> None:
    untimed = {**record("expand", NOW, 50, 100), "timestamp": "yesterday"}
    unreadable = {**record("expand", NOW - DAY, 50, 100), "rollout": {"after": "100"}}
    start = NOW - 3 * DAY
    assert soak_status(FULL_DAY, facts(record("expand", start, 50, 100), untimed), NOW).since == (
        start
    )
    found = facts(record("expand", start, 50, 100), unreadable, record("resume", NOW - HOUR, 100,
                  100))  # fmt: skip
    assert soak_status(FULL_DAY, found, NOW).since == NOW - HOUR


def test_an_upstream_that_could_not_be_read_is_never_ready() -> None:
    found = facts(record("expand", NOW - 9 * DAY, 50, 100), problem="registry not found: r")
    soak = soak_status(Requirement("staging"), found, NOW)
    assert soak == Soak(
        False,
        None,
        None,
        timedelta(0),
        "upstream staging: could not be read: registry not found: r",
    )


# soak_status: properties ----------------------------------------------------------------------

times = st.integers(min_value=-30 * 24, max_value=2 * 24).map(lambda hours: NOW + hours * HOUR)
postures = st.tuples(st.integers(min_value=0, max_value=100), st.booleans())
requirements = st.builds(
    Requirement,
    st.just("staging"),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=10 * 24).map(lambda hours: hours * HOUR),
)


@st.composite
def histories(draw: st.DrawFn) -> UpstreamFacts:
    """Records oldest first (times non-decreasing), and a registry that is the last after-state."""
    moments = sorted(draw(st.lists(times, max_size=8)))
    records = []
    canary, paused = draw(postures)
    for moment in moments:
        before = canary
        canary, paused = draw(postures)
        intent = "rollback" if paused else draw(st.sampled_from(["expand", "resume", "adopt"]))
        records.append(record(intent, moment, before, canary, paused=paused))
    changed = draw(st.none() | times)
    return UpstreamFacts(canary, paused, tuple(records), changed)


def is_satisfied(requirement: Requirement, found: UpstreamFacts) -> bool:
    return not found.paused and found.canary >= requirement.min_canary


@PROPERTY
@given(requirements, histories())
def test_ready_is_satisfying_now_for_the_whole_soak(
    requirement: Requirement, found: UpstreamFacts
) -> None:
    soak = soak_status(requirement, found, NOW)
    if not is_satisfied(requirement, found):
        assert (soak.ready, soak.since, soak.ready_at, soak.held) == (
            False, None, None, timedelta(0)
        )  # fmt: skip
        return
    assert soak.since is not None and soak.since <= NOW
    assert soak.ready_at == soak.since + requirement.soak
    assert soak.held == NOW - soak.since
    assert soak.ready == (soak.held >= requirement.soak)
    assert soak.message.startswith("upstream staging: held ")
    if requirement.soak == timedelta(0):
        assert soak.ready


@PROPERTY
@given(requirements, histories())
def test_the_streak_starts_at_the_first_satisfying_record_after_the_last_break(
    requirement: Requirement, found: UpstreamFacts
) -> None:
    soak = soak_status(requirement, found, NOW)
    if soak.since is None:
        return
    streak: list[Record] = []  # the satisfying records after the last break
    for found_record in found.records:
        after = found_record["rollout"]["after"]
        holds = not after["manualPause"] and after["canaryPercent"] >= requirement.min_canary
        streak = [*streak, found_record] if holds else []
    if streak:
        assert soak.since == min(datetime.fromisoformat(streak[0]["timestamp"]), NOW)
    elif found.records or found.changed_at is None:
        assert soak.since == NOW  # nothing dates the streak: it starts now
    else:
        assert soak.since == min(found.changed_at, NOW)


@PROPERTY
@given(requirements, histories(), st.integers(min_value=1, max_value=30 * 24))
def test_ready_at_does_not_move_with_time_and_ready_stays_ready(
    requirement: Requirement, found: UpstreamFacts, hours: int
) -> None:
    latest = NOW + 2 * DAY  # every generated record is at or before it
    later = latest + hours * HOUR
    first, second = soak_status(requirement, found, latest), soak_status(requirement, found, later)
    if first.since is not None and first.since < latest:  # dated by a record or changedAt
        assert (second.since, second.ready_at) == (first.since, first.ready_at)
        assert first.ready <= second.ready


@PROPERTY
@given(requirements, histories(), st.integers(min_value=0, max_value=100))
def test_a_stricter_requirement_is_never_ready_sooner(
    requirement: Requirement, found: UpstreamFacts, lower: int
) -> None:
    looser = requirement._replace(
        min_canary=min(lower, requirement.min_canary), soak=requirement.soak / 2
    )
    strict, loose = soak_status(requirement, found, NOW), soak_status(looser, found, NOW)
    assert strict.ready <= loose.ready
    if strict.ready_at is not None:
        assert loose.ready_at is not None and loose.ready_at <= strict.ready_at


@PROPERTY
@given(requirements, histories(), times)
def test_a_rollback_appended_resets_the_soak(
    requirement: Requirement, found: UpstreamFacts, moment: datetime
) -> None:
    last = max([datetime.fromisoformat(r["timestamp"]) for r in found.records], default=moment)
    when = max(moment, last)
    rolled = record("rollback", when, found.canary, found.canary, paused=True)
    resumed = record("resume", when, found.canary, found.canary)
    after = found._replace(records=(*found.records, rolled, resumed), paused=False)
    soak = soak_status(requirement, after, NOW)
    if soak.since is not None:
        assert soak.since == min(when, NOW)
        assert soak.ready == (requirement.soak <= NOW - min(when, NOW))


@PROPERTY
@given(requirements, histories(), st.text(min_size=1, max_size=20))
def test_an_upstream_with_a_problem_is_never_ready(
    requirement: Requirement, found: UpstreamFacts, problem: str
) -> None:
    soak = soak_status(requirement, found._replace(problem=problem), NOW)
    assert (soak.ready, soak.ready_at) == (False, None)
    assert soak.message == f"upstream staging: could not be read: {problem}"


@PROPERTY
@given(
    requirements,
    st.lists(
        st.dictionaries(
            st.sampled_from(["timestamp", "rollout", "intent"]),
            st.none() | st.integers() | st.text(max_size=5) | st.dictionaries(
                st.sampled_from(["after", "before"]),
                st.none() | st.dictionaries(
                    st.sampled_from(["canaryPercent", "manualPause"]),
                    st.none() | st.booleans() | st.integers(-5, 105) | st.floats(),
                ),
            ) | times.map(format_timestamp),
        ),
        max_size=6,
    ),
)  # fmt: skip
def test_soak_status_never_raises_on_odd_records(
    requirement: Requirement, records: list[dict[str, Any]]
) -> None:
    soak = soak_status(requirement, UpstreamFacts(100, False, records, None), NOW)
    assert soak.since is not None and soak.since <= NOW


# The gate: lazy, read once --------------------------------------------------------------------


class Reads:
    """A fake upstream reader that counts its calls."""

    def __init__(self, found: UpstreamFacts | RefusalError) -> None:
        self.found = found
        self.calls = 0

    def __call__(self) -> UpstreamFacts:
        self.calls += 1
        if isinstance(self.found, RefusalError):
            raise self.found
        return self.found


def test_the_gate_reads_its_upstream_once_and_only_when_asked() -> None:
    reads = Reads(facts(changed_at=NOW - 2 * DAY))
    gate = UpstreamGate(FULL_DAY, reads)
    assert reads.calls == 0
    assert gate.requirement == FULL_DAY
    assert gate.soak(NOW).ready and gate.soak(NOW + HOUR).ready
    assert gate.facts() is gate.facts()
    assert reads.calls == 1
    assert repr(gate) == f"UpstreamGate({FULL_DAY!r})"


def test_an_upstream_read_that_refuses_is_never_ready_and_not_read_again() -> None:
    reads = Reads(RefusalError(ReasonCode.TELEMETRY_CORRUPT, "telemetry file is corrupt: t:3"))
    gate = UpstreamGate(FULL_DAY, reads)
    soak = gate.soak(NOW)
    assert (soak.ready, soak.ready_at) == (False, None)
    assert soak.message == "upstream staging: could not be read: telemetry file is corrupt: t:3"
    gate.soak(NOW)
    assert reads.calls == 1
