"""Progression guards (issue 11): settings, expandStep limits, and what defers an expand/resume."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core import freeze_parsing, guard_settings, guards
from reconciler.core.decision import Decision
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Calendar
from reconciler.core.guard_settings import (
    OFF,
    POLICIES_DEFAULTS,
    Budget,
    GuardSettings,
    PassGuards,
)
from reconciler.core.guards import Deferral, Evidence, Expand, GuardInputs
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp, parse_timestamp

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
R = ReasonCode
NO_WINDOWS = Calendar()


def at(text: str) -> datetime:
    moment = parse_timestamp(text)
    assert moment is not None, text
    return moment


def record(
    intent: str,
    when: str,
    before: int,
    after: int,
    *,
    pause_before: bool = False,
    pause_after: bool = False,
) -> dict[str, Any]:
    return {
        "status": "applied",
        "intent": intent,
        "timestamp": when,
        "rollout": {
            "before": {"canaryPercent": before, "manualPause": pause_before},
            "after": {"canaryPercent": after, "manualPause": pause_after},
            "changed": {
                "canaryPercent": before != after,
                "manualPause": pause_before != pause_after,
            },
        },
    }


def expand(when: str, before: int, after: int) -> dict[str, Any]:
    return record("expand", when, before, after)


class Ledger:
    """A fake `records_since`: the records timed at or after a moment, and every call made."""

    def __init__(self, *records: dict[str, Any]) -> None:
        self.records = list(records)
        self.calls: list[datetime] = []

    def __call__(self, since: datetime) -> Sequence[dict[str, Any]]:
        self.calls.append(since)
        return [
            found
            for found in self.records
            if (when := parse_timestamp(found.get("timestamp"))) is None or when >= since
        ]


def decision(generated_at: str | None = "2026-11-24T11:00:00Z") -> Decision:
    return Decision("promote", "trace-1", generated_at)


def inputs(
    settings: GuardSettings = OFF,
    ledger: Ledger | None = None,
    calendar: Calendar = NO_WINDOWS,
    **more: Any,
) -> GuardInputs:
    return GuardInputs(settings, calendar, ledger if ledger is not None else Ledger(), **more)


def assess(
    found: GuardInputs,
    intent: str = "expand",
    canary: int = 25,
    step: int = 10,
    made: Decision | None = None,
    now: datetime = NOW,
) -> Deferral | None:
    return guards.assess(found, intent, canary, step, made or decision(), now)


def calendar(*windows: Mapping[str, object]) -> Calendar:
    return freeze_parsing.parse_calendar({"windows": list(windows)}, "policies/freeze.yaml")


def stamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


# parse_guards ---------------------------------------------------------------------------------

ISSUE_EXAMPLE = {
    "decisionAfterChange": True,
    "expandCooldown": "1h",
    "budget": {"window": "24h", "maxExpands": 2, "maxExpandPercent": 50},
    "maxExpandStep": 25,
    "maxDeferral": "7d",
    "freezeFile": "policies/freeze.yaml",
}


@pytest.mark.parametrize(
    ("value", "defaults", "expected"),
    [
        pytest.param(None, OFF, OFF, id="absent, the bash layout"),
        pytest.param(None, POLICIES_DEFAULTS, POLICIES_DEFAULTS, id="absent, the policies layout"),
        pytest.param({}, POLICIES_DEFAULTS, POLICIES_DEFAULTS, id="empty"),
        pytest.param(ISSUE_EXAMPLE, OFF,
                     GuardSettings(True, HOUR, Budget(24 * HOUR, 2, 50), 25, 7 * DAY,
                                   "policies/freeze.yaml"),
                     id="the issue's example"),
        pytest.param({"decisionAfterChange": True}, OFF, OFF._replace(decision_after_change=True),
                     id="decisionAfterChange on"),
        pytest.param({"decisionAfterChange": False}, POLICIES_DEFAULTS,
                     POLICIES_DEFAULTS._replace(decision_after_change=False),
                     id="decisionAfterChange off"),
        pytest.param({"expandCooldown": "90m"}, OFF,
                     OFF._replace(expand_cooldown=timedelta(minutes=90)), id="cooldown in minutes"),
        pytest.param({"expandCooldown": "0"}, OFF, OFF, id="cooldown 0 is off"),
        pytest.param({"expandCooldown": 0}, OFF, OFF, id="cooldown the number 0"),
        pytest.param({"expandCooldown": 3600}, OFF, OFF._replace(expand_cooldown=HOUR),
                     id="cooldown in seconds"),
        pytest.param({"expandCooldown": "366d"}, OFF, OFF._replace(expand_cooldown=366 * DAY),
                     id="cooldown at its limit"),
        pytest.param({"maxDeferral": "36h"}, OFF, OFF._replace(max_deferral=36 * HOUR),
                     id="maxDeferral"),
        pytest.param({"maxDeferral": "1s"}, OFF, OFF._replace(max_deferral=timedelta(seconds=1)),
                     id="maxDeferral at its floor"),
        pytest.param({"maxExpandStep": 1}, OFF, OFF._replace(max_expand_step=1),
                     id="maxExpandStep 1"),
        pytest.param({"freezeFile": None}, POLICIES_DEFAULTS,
                     POLICIES_DEFAULTS._replace(freeze_file=None), id="freezeFile null"),
        pytest.param({"maxExpandStep": 100}, OFF, OFF, id="maxExpandStep 100"),
        pytest.param({"budget": {"window": "24h", "maxExpands": 2}}, OFF,
                     OFF._replace(budget=Budget(24 * HOUR, 2, None)), id="budget of expands"),
        pytest.param({"budget": {"window": "90d", "maxExpandPercent": 100}}, OFF,
                     OFF._replace(budget=Budget(90 * DAY, None, 100)), id="budget of percent"),
        pytest.param({"budget": {"window": "1h", "maxExpands": 1000, "maxExpandPercent": 1}}, OFF,
                     OFF._replace(budget=Budget(HOUR, 1000, 1)), id="budget at its limits"),
        pytest.param({"budget": None}, OFF._replace(budget=Budget(HOUR, 1)), OFF,
                     id="budget null is off"),
        pytest.param({"freezeFile": ".superloop/freeze.json"}, OFF,
                     OFF._replace(freeze_file=".superloop/freeze.json"), id="freezeFile"),
        pytest.param({"maxExpandStep": 25}, POLICIES_DEFAULTS,
                     POLICIES_DEFAULTS._replace(max_expand_step=25),
                     id="keys not given keep the policies defaults"),
        pytest.param({"maxExpandStep": 25}, OFF, OFF._replace(max_expand_step=25),
                     id="keys not given keep the bash defaults"),
    ],
)  # fmt: skip
def test_the_guards_block_is_read_over_the_layouts_defaults(
    value: object, defaults: GuardSettings, expected: GuardSettings
) -> None:
    assert guard_settings.parse_guards(value, defaults) == (expected, [])


def test_the_layout_defaults_are_decision_after_change_only_or_nothing() -> None:
    assert POLICIES_DEFAULTS == GuardSettings(decision_after_change=True)
    assert POLICIES_DEFAULTS.freeze_file == "policies/freeze.yaml"
    assert OFF == GuardSettings(freeze_file=None)
    assert (OFF.max_expand_step, OFF.max_deferral, OFF.budget) == (100, 7 * DAY, None)


COOLDOWN = "guards.expandCooldown must be a duration between 0 (off) and 366d, such as 1h or 7d"
DEFERRAL = "guards.maxDeferral must be a duration between 1s and 366d, such as 1h or 7d"
STEP = "guards.maxExpandStep must be a whole percentage between 1 and 100"
WINDOW = "guards.budget.window must be a duration between 1s and 366d, such as 1h or 7d"
EXPANDS = "guards.budget.maxExpands must be a whole number between 1 and 1000"
PERCENT = "guards.budget.maxExpandPercent must be a whole percentage between 1 and 100"
NEEDS = "guards.budget needs maxExpands, maxExpandPercent or both"
FREEZE_FILE = (
    "guards.freezeFile must be a relative path inside the repository, such as policies/freeze.yaml"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("on", ["guards must be a mapping"], id="a string"),
        pytest.param([ISSUE_EXAMPLE], ["guards must be a mapping"], id="a list"),
        pytest.param({"cooldown": "1h"}, ['guards: unknown setting "cooldown"'], id="unknown key"),
        pytest.param({"decisionAfterChange": "yes"},
                     ["guards.decisionAfterChange must be true or false"], id="flag a string"),
        pytest.param({"decisionAfterChange": 1},
                     ["guards.decisionAfterChange must be true or false"], id="flag a number"),
        pytest.param({"decisionAfterChange": None},
                     ["guards.decisionAfterChange must be true or false"], id="flag null"),
        pytest.param({"expandCooldown": "-1h"}, [COOLDOWN], id="negative cooldown"),
        pytest.param({"expandCooldown": "soon"}, [COOLDOWN], id="cooldown not a duration"),
        pytest.param({"expandCooldown": True}, [COOLDOWN], id="cooldown a boolean"),
        pytest.param({"expandCooldown": None}, [COOLDOWN], id="cooldown null"),
        pytest.param({"expandCooldown": "367d"}, [COOLDOWN], id="cooldown too long"),
        pytest.param({"maxDeferral": "0s"}, [DEFERRAL], id="zero maxDeferral"),
        pytest.param({"maxDeferral": "1ms"}, [DEFERRAL], id="maxDeferral under a second"),
        pytest.param({"expandCooldown": "200ms"}, [COOLDOWN], id="cooldown under a second"),
        pytest.param({"maxDeferral": 0}, [DEFERRAL], id="maxDeferral the number 0"),
        pytest.param({"maxDeferral": "400d"}, [DEFERRAL], id="maxDeferral too long"),
        pytest.param({"maxDeferral": False}, [DEFERRAL], id="maxDeferral a boolean"),
        pytest.param({"maxExpandStep": 0}, [STEP], id="step 0"),
        pytest.param({"maxExpandStep": 101}, [STEP], id="step 101"),
        pytest.param({"maxExpandStep": -5}, [STEP], id="negative step"),
        pytest.param({"maxExpandStep": 25.0}, [STEP], id="step a float"),
        pytest.param({"maxExpandStep": "25"}, [STEP], id="step a string"),
        pytest.param({"maxExpandStep": True}, [STEP], id="step a boolean"),
        pytest.param({"budget": "24h"},
                     ["guards.budget must be a mapping (window, maxExpands, maxExpandPercent)"],
                     id="budget a string"),
        pytest.param({"budget": {"window": "24h"}}, [NEEDS], id="budget without a limit"),
        pytest.param({"budget": {"maxExpands": 2}}, [WINDOW], id="budget without a window"),
        pytest.param({"budget": {"window": "0s", "maxExpands": 2}}, [WINDOW], id="zero window"),
        pytest.param({"budget": {"window": "91d", "maxExpands": 2}},
                     ["guards.budget.window must be at most 90d"], id="window over 90d"),
        pytest.param({"budget": {"window": "24h", "maxExpands": 0}}, [EXPANDS], id="0 expands"),
        pytest.param({"budget": {"window": "24h", "maxExpands": 1001}}, [EXPANDS],
                     id="1001 expands"),
        pytest.param({"budget": {"window": "24h", "maxExpands": True}}, [EXPANDS],
                     id="expands a boolean"),
        pytest.param({"budget": {"window": "24h", "maxExpands": "2"}}, [EXPANDS],
                     id="expands a string"),
        pytest.param({"budget": {"window": "24h", "maxExpandPercent": 0}}, [PERCENT, NEEDS],
                     id="0 percent"),
        pytest.param({"budget": {"window": "24h", "maxExpandPercent": 101}}, [PERCENT, NEEDS],
                     id="101 percent"),
        pytest.param({"budget": {"windows": "24h", "maxExpands": 2}},
                     ['guards.budget: unknown setting "windows"', WINDOW],
                     id="misspelt budget window"),
        pytest.param({"freezeFile": "/etc/freeze.yaml"}, [FREEZE_FILE], id="absolute path"),
        pytest.param({"freezeFile": "../freeze.yaml"}, [FREEZE_FILE], id="outside the repo"),
        pytest.param({"freezeFile": "policies/../../x"}, [FREEZE_FILE], id="dot-dot inside"),
        pytest.param({"freezeFile": "./freeze.yaml"}, [FREEZE_FILE], id="dot component"),
        pytest.param({"freezeFile": "policies//freeze.yaml"}, [FREEZE_FILE], id="empty component"),
        pytest.param({"freezeFile": "policies/"}, [FREEZE_FILE], id="trailing slash"),
        pytest.param({"freezeFile": ".git/freeze.yaml"}, [FREEZE_FILE], id="in .git"),
        pytest.param({"freezeFile": ".GIT./freeze.yaml"}, [FREEZE_FILE],
                     id="in .git spelt otherwise"),
        pytest.param({"freezeFile": "policies\\freeze.yaml"}, [FREEZE_FILE], id="backslash"),
        pytest.param({"freezeFile": "policies/a\nb"}, [FREEZE_FILE], id="control character"),
        pytest.param({"freezeFile": ""}, [FREEZE_FILE], id="empty"),
        pytest.param({"freezeFile": 5}, [FREEZE_FILE], id="a number"),
        pytest.param(
            {"freezeFile": "/x", "budget": "b", "maxExpandStep": 0, "maxDeferral": "0",
             "expandCooldown": "x", "decisionAfterChange": "x", "extra": 1, "decisionAfter": 2},
            ['guards: unknown setting "extra"', 'guards: unknown setting "decisionAfter"',
             "guards.decisionAfterChange must be true or false", COOLDOWN, DEFERRAL, STEP,
             "guards.budget must be a mapping (window, maxExpands, maxExpandPercent)",
             FREEZE_FILE],
            id="every problem, one line each",
        ),
    ],
)  # fmt: skip
def test_a_bad_guards_block_returns_every_problem_and_the_defaults(
    value: object, expected: list[str]
) -> None:
    for defaults in (OFF, POLICIES_DEFAULTS):
        assert guard_settings.parse_guards(value, defaults) == (defaults, expected)


def test_good_keys_beside_a_bad_one_are_not_applied() -> None:
    settings, found = guard_settings.parse_guards({"maxExpandStep": 25, "expandCooldown": "x"}, OFF)
    assert settings == OFF
    assert found == [COOLDOWN]


@pytest.mark.parametrize(
    ("settings", "active"),
    [
        (OFF, False),
        (OFF._replace(freeze_file="policies/freeze.yaml"), False),
        (POLICIES_DEFAULTS, True),
        (OFF._replace(max_expand_step=25), True),
        (OFF._replace(expand_cooldown=HOUR), True),
        (OFF._replace(budget=Budget(DAY, 2)), True),
        # maxDeferral alone holds nothing: it only limits what another guard holds.
        (OFF._replace(max_deferral=DAY), False),
    ],
    ids=["off", "a freeze file alone", "policies defaults", "step", "cooldown", "budget",
         "maxDeferral alone"],
)  # fmt: skip
def test_guards_are_active_when_any_differs_from_off(settings: GuardSettings, active: bool) -> None:
    assert settings.is_active is active


# check_step -----------------------------------------------------------------------------------


def step_limits(step: int = 100, percent: int | None = None) -> GuardSettings:
    budget = Budget(DAY, None, percent) if percent is not None else None
    return OFF._replace(max_expand_step=step, budget=budget)


@pytest.mark.parametrize(
    ("settings", "intent", "step"),
    [
        pytest.param(OFF, "expand", 100, id="off"),
        pytest.param(step_limits(25), "expand", 25, id="at maxExpandStep"),
        pytest.param(step_limits(100, 50), "expand", 50, id="at maxExpandPercent"),
        pytest.param(OFF._replace(budget=Budget(DAY, 2)), "expand", 100,
                     id="a budget without percent"),
        pytest.param(step_limits(25, 10), "resume", 100, id="resume"),
        pytest.param(step_limits(25, 10), "rollback", 100, id="rollback"),
    ],
)  # fmt: skip
def test_a_step_within_the_limits_or_not_an_expand_passes(
    settings: GuardSettings, intent: str, step: int
) -> None:
    guards.check_step(settings, intent, step)


@pytest.mark.parametrize(
    ("settings", "step", "message"),
    [
        pytest.param(step_limits(25), 26,
                     "expandStep 26 is above guards.maxExpandStep (25); it is never clamped: open "
                     "a new intent with an expandStep of at most 25", id="above maxExpandStep"),
        pytest.param(step_limits(100, 20), 25,
                     "expandStep 25 is above guards.budget.maxExpandPercent (20); it is never "
                     "clamped: open a new intent with an expandStep of at most 20",
                     id="above maxExpandPercent: it could never fit"),
        pytest.param(step_limits(25, 20), 30,
                     "expandStep 30 is above guards.maxExpandStep (25); it is never clamped: open "
                     "a new intent with an expandStep of at most 25", id="above both"),
    ],
)  # fmt: skip
def test_an_expand_step_over_a_limit_is_rejected_never_clamped(
    settings: GuardSettings, step: int, message: str
) -> None:
    with pytest.raises(RefusalError) as caught:
        guards.check_step(settings, "expand", step)
    assert caught.value.reason is R.INTENT_EXPAND_STEP_OVER_LIMIT
    assert caught.value.message == message


# What the records say -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "change", "raised"),
    [
        pytest.param(expand("2026-11-24T10:00:00Z", 25, 35), True, 10, id="an expand"),
        pytest.param(expand("2026-11-24T10:00:00Z", 100, 100), False, 0, id="an expand at 100"),
        pytest.param(record("rollback", "2026-11-24T10:00:00Z", 50, 50, pause_after=True), True, 0,
                     id="a rollback that paused"),
        pytest.param(record("rollback", "2026-11-24T10:00:00Z", 50, 10, pause_after=True), True, 0,
                     id="a rollback to a lower canary"),
        pytest.param(record("resume", "2026-11-24T10:00:00Z", 50, 50, pause_before=True), True, 0,
                     id="a resume"),
        pytest.param(record("resume", "2026-11-24T10:00:00Z", 50, 50), False, 0,
                     id="a resume of nothing"),
        pytest.param({"intent": "expand", "timestamp": "2026-11-24T10:00:00Z"}, False, 0,
                     id="no rollout"),
        pytest.param({"intent": "expand", "rollout": {"before": {"canaryPercent": True},
                      "after": {"canaryPercent": 50}, "changed": "yes"}}, False, 0,
                     id="malformed rollout"),
        pytest.param({"intent": "expand", "rollout": {"before": {"canaryPercent": 50},
                      "after": {"canaryPercent": 25}, "changed": {"canaryPercent": True}}},
                     True, 0, id="an expand that lowered"),
    ],
)  # fmt: skip
def test_a_change_is_a_record_that_changed_canary_or_pause_and_only_expands_raise(
    found: dict[str, Any], change: bool, raised: int
) -> None:
    assert guards.is_change(found) is change
    assert guards.raised_by(found) == raised


def test_evidence_is_the_newest_change_since_the_decision_and_the_raising_expands() -> None:
    ledger = Ledger(
        expand("2026-11-24T08:00:00Z", 10, 25),
        record("rollback", "2026-11-24T09:00:00Z", 25, 25, pause_after=True),
        {"intent": "expand", "timestamp": "not a time", "rollout": {}},
        expand("2026-11-24T10:00:00Z", 25, 35),
        expand("2026-11-24T11:00:00Z", 100, 100),
    )
    settings = OFF._replace(decision_after_change=True)
    evidence, generated = guards.read_evidence(
        inputs(settings, ledger), decision("2026-11-24T08:30:00Z"), NOW
    )
    # Read from the decision's time: the 08:00 expand lies before it, the no-op after it.
    assert evidence == Evidence(
        at("2026-11-24T10:00:00Z"), (Expand(at("2026-11-24T10:00:00Z"), 10),)
    )
    assert generated == at("2026-11-24T08:30:00Z")
    # From the decision's time less the clock skew: a change that carried it is spent.
    assert ledger.calls == [at("2026-11-24T08:25:00Z")]


# assess: each guard alone ---------------------------------------------------------------------

DECIDES = OFF._replace(decision_after_change=True)


def test_nothing_is_held_when_no_guard_has_a_reason() -> None:
    ledger = Ledger(expand("2026-11-24T10:00:00Z", 25, 35))
    settings = GuardSettings(True, HOUR, Budget(DAY, 2, 50), 25, 7 * DAY, None)
    assert assess(inputs(settings, ledger), made=decision("2026-11-24T10:30:00Z")) is None


@pytest.mark.parametrize(
    ("records", "generated", "intent", "last_change"),
    [
        pytest.param([expand("2026-11-24T11:30:00Z", 25, 35)], "2026-11-24T11:00:00Z", "expand",
                     "2026-11-24T11:30:00Z", id="an expand after the decision"),
        pytest.param([expand("2026-11-24T11:00:00Z", 25, 35)], "2026-11-24T11:00:00Z", "expand",
                     "2026-11-24T11:00:00Z", id="a change in the same second as the decision"),
        pytest.param([record("rollback", "2026-11-24T11:30:00Z", 35, 35, pause_after=True)],
                     "2026-11-24T11:00:00Z", "resume", "2026-11-24T11:30:00Z",
                     id="a resume after a rollback"),
        pytest.param([expand("2026-11-24T11:10:00Z", 25, 35),
                      record("rollback", "2026-11-24T11:40:00Z", 35, 10, pause_after=True),
                      expand("2026-11-24T11:50:00Z", 100, 100)],
                     "2026-11-24T11:00:00Z", "resume", "2026-11-24T11:40:00Z",
                     id="the newest change, not a later no-op"),
    ],
)  # fmt: skip
def test_a_decision_generated_before_the_last_change_defers_until_a_new_decision(
    records: list[dict[str, Any]], generated: str, intent: str, last_change: str
) -> None:
    found = assess(inputs(DECIDES, Ledger(*records)), intent, made=decision(generated))
    assert found == Deferral(
        (R.GUARD_DECISION_PREDATES_CHANGE,),
        (
            f"waiting for a decision generated after {last_change} (the last change); "
            f"the current one was generated at {generated}",
        ),
        None,
    )


@pytest.mark.parametrize(
    ("records", "settings"),
    [
        pytest.param([expand("2026-11-24T10:00:00Z", 25, 35)], DECIDES,
                     id="the decision came after the change"),
        pytest.param([record("resume", "2026-11-24T11:30:00Z", 35, 35)], DECIDES,
                     id="a record that changed nothing"),
        pytest.param([expand("2026-11-24T11:30:00Z", 25, 35)], OFF, id="the guard is off"),
        pytest.param([], DECIDES, id="no records"),
    ],
)  # fmt: skip
def test_a_decision_is_not_held_without_a_change_after_it(
    records: list[dict[str, Any]], settings: GuardSettings
) -> None:
    assert assess(inputs(settings, Ledger(*records)), made=decision("2026-11-24T11:00:00Z")) is None


def test_a_decision_without_generated_at_waits_behind_any_change_on_record() -> None:
    ledger = Ledger(expand("2026-10-01T00:00:00Z", 10, 25))
    found = assess(inputs(DECIDES, ledger), made=decision(None))
    assert found is not None
    assert found.reasons == (R.GUARD_DECISION_PREDATES_CHANGE,)
    assert found.messages == (
        "waiting for a decision generated after 2026-10-01T00:00:00Z (the last change); "
        "the current one has no generatedAt",
    )
    assert found.not_before is None
    assert ledger.calls == [EPOCH]


def test_a_decision_without_generated_at_passes_when_nothing_changed() -> None:
    ledger = Ledger(record("resume", "2026-10-01T00:00:00Z", 25, 25))
    assert assess(inputs(DECIDES, ledger), made=decision(None)) is None
    assert ledger.calls == [EPOCH]


def test_no_decision_is_no_decision_guard() -> None:
    ledger = Ledger(expand("2026-11-24T11:30:00Z", 25, 35))
    assert guards.assess(inputs(DECIDES, ledger), "expand", 35, 10, None, NOW) is None


COOLS = OFF._replace(expand_cooldown=HOUR)


def test_an_expand_within_the_cooldown_waits_for_it_to_pass() -> None:
    ledger = Ledger(expand("2026-11-24T11:00:00Z", 10, 25), expand("2026-11-24T11:30:00Z", 25, 35))
    found = assess(inputs(COOLS, ledger))
    assert found == Deferral(
        (R.GUARD_EXPAND_COOLDOWN,),
        (
            "expand cooldown until 2026-11-24T12:30:00Z (1h after the last expand at "
            "2026-11-24T11:30:00Z)",
        ),
        at("2026-11-24T12:30:00Z"),
    )


@pytest.mark.parametrize(
    ("records", "intent"),
    [
        pytest.param([expand("2026-11-24T11:00:00Z", 25, 35)], "expand", id="exactly the cooldown"),
        pytest.param([expand("2026-11-24T10:00:00Z", 25, 35)], "expand", id="long ago"),
        pytest.param([expand("2026-11-24T11:30:00Z", 100, 100)], "expand",
                     id="an expand that raised nothing"),
        pytest.param([record("resume", "2026-11-24T11:30:00Z", 35, 35, pause_before=True)],
                     "expand", id="a resume is no expand"),
        pytest.param([expand("2026-11-24T11:30:00Z", 25, 35)], "resume",
                     id="a resume is not held by cooldown"),
    ],
)  # fmt: skip
def test_the_cooldown_holds_only_an_expand_soon_after_a_raising_expand(
    records: list[dict[str, Any]], intent: str
) -> None:
    assert assess(inputs(COOLS, Ledger(*records)), intent) is None


def budget(expands: int | None = None, percent: int | None = None) -> GuardSettings:
    return OFF._replace(budget=Budget(DAY, expands, percent))


def test_an_expand_over_the_expand_budget_waits_for_the_oldest_to_leave_the_window() -> None:
    ledger = Ledger(expand("2026-11-24T01:00:00Z", 10, 20), expand("2026-11-24T06:00:00Z", 20, 30))
    found = assess(inputs(budget(2), ledger))
    assert found == Deferral(
        (R.GUARD_BUDGET_EXPANDS,),
        ("expand budget used up: 2 of 2 expands in 24h; the next fits at 2026-11-25T01:00:00Z",),
        at("2026-11-25T01:00:00Z"),
    )
    assert ledger.calls == [NOW - DAY]


def test_with_more_expands_than_the_budget_the_next_fits_when_enough_have_left() -> None:
    ledger = Ledger(
        expand("2026-11-24T01:00:00Z", 10, 20),
        expand("2026-11-24T03:00:00Z", 20, 30),
        expand("2026-11-24T06:00:00Z", 30, 40),
    )
    found = assess(inputs(budget(2), ledger), canary=40)
    assert found is not None
    assert found.messages == (
        "expand budget used up: 3 of 2 expands in 24h; the next fits at 2026-11-25T03:00:00Z",
    )
    assert found.not_before == at("2026-11-25T03:00:00Z")


@pytest.mark.parametrize(
    ("records", "intent"),
    [
        pytest.param([expand("2026-11-24T06:00:00Z", 20, 30)], "expand", id="one of two"),
        pytest.param([expand("2026-11-23T12:00:00Z", 10, 20),
                      expand("2026-11-24T06:00:00Z", 20, 30)],
                     "expand", id="one has just left the window"),
        pytest.param([expand("2026-11-24T01:00:00Z", 10, 20),
                      expand("2026-11-24T06:00:00Z", 20, 30)],
                     "resume", id="a resume is not held by the budget"),
    ],
)  # fmt: skip
def test_the_expand_budget_counts_raising_expands_within_the_window(
    records: list[dict[str, Any]], intent: str
) -> None:
    assert assess(inputs(budget(2), Ledger(*records)), intent) is None


@pytest.mark.parametrize(
    ("records", "canary", "step", "message", "not_before"),
    [
        pytest.param(
            [expand("2026-11-24T01:00:00Z", 0, 25), expand("2026-11-24T06:00:00Z", 25, 35)], 35, 25,
            "percent budget used up: +35 of +50 in 24h, this expand adds +25; it fits at "
            "2026-11-25T01:00:00Z",
            "2026-11-25T01:00:00Z", id="the oldest leaving is enough",
        ),
        pytest.param(
            [expand("2026-11-24T01:00:00Z", 0, 10), expand("2026-11-24T03:00:00Z", 10, 20),
             expand("2026-11-24T06:00:00Z", 20, 40)], 40, 25,
            "percent budget used up: +40 of +50 in 24h, this expand adds +25; it fits at "
            "2026-11-25T03:00:00Z",
            "2026-11-25T03:00:00Z", id="two must leave",
        ),
        pytest.param(
            [expand("2026-11-24T01:00:00Z", 0, 25), expand("2026-11-24T06:00:00Z", 25, 60)], 80, 25,
            "percent budget used up: +60 of +50 in 24h, this expand adds +20; it fits at "
            "2026-11-25T06:00:00Z",
            "2026-11-25T06:00:00Z", id="near 100 the expand adds what is left",
        ),
    ],
)  # fmt: skip
def test_an_expand_over_the_percent_budget_waits_until_it_fits(
    records: list[dict[str, Any]], canary: int, step: int, message: str, not_before: str
) -> None:
    found = assess(inputs(budget(percent=50), Ledger(*records)), canary=canary, step=step)
    assert found == Deferral((R.GUARD_BUDGET_PERCENT,), (message,), at(not_before))


@pytest.mark.parametrize(
    ("canary", "step"),
    [(90, 25), (100, 25), (35, 15)],
    ids=["near 100 it raises only 10", "at 100 it raises nothing", "exactly fills the budget"],
)
def test_an_expand_that_fits_the_percent_budget_passes(canary: int, step: int) -> None:
    ledger = Ledger(expand("2026-11-24T01:00:00Z", 0, 25), expand("2026-11-24T06:00:00Z", 25, 35))
    assert assess(inputs(budget(percent=50), ledger), canary=canary, step=step) is None


def test_both_budgets_used_up_give_both_reasons_and_the_later_time() -> None:
    ledger = Ledger(expand("2026-11-24T01:00:00Z", 0, 20), expand("2026-11-24T06:00:00Z", 20, 50))
    found = assess(inputs(budget(2, 50), ledger), canary=50, step=25)
    assert found is not None
    assert found.reasons == (R.GUARD_BUDGET_EXPANDS, R.GUARD_BUDGET_PERCENT)
    assert found.not_before == at("2026-11-25T06:00:00Z")


YEAR_END = {
    "name": "year-end",
    "start": "2026-12-20T00:00:00Z",
    "end": "2027-01-04T00:00:00Z",
    "reason": "Year-end change freeze (CAB-900)",
}
BUSINESS_HOURS = {
    "name": "business-hours",
    "kind": "allow",
    "cron": "0 8 * * MON-FRI",
    "duration": "10h",
    "timezone": "America/New_York",
}


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_an_active_freeze_window_defers_until_it_ends(intent: str) -> None:
    now = at("2026-12-24T10:00:00Z")
    found = assess(inputs(calendar=calendar(YEAR_END)), intent, now=now)
    assert found == Deferral(
        (R.GUARD_FREEZE_WINDOW,),
        ("freeze window year-end (Year-end change freeze (CAB-900)) until 2027-01-04T00:00:00Z",),
        at("2027-01-04T00:00:00Z"),
    )


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_outside_every_allow_window_defers_until_one_opens(intent: str) -> None:
    now = at("2026-11-28T15:00:00Z")  # a Saturday
    found = assess(inputs(calendar=calendar(BUSINESS_HOURS)), intent, now=now)
    assert found == Deferral(
        (R.GUARD_OUTSIDE_ALLOW_WINDOW,),
        ("outside every allow window (business-hours); the next opens at 2026-11-30T13:00:00Z",),
        at("2026-11-30T13:00:00Z"),
    )


def test_inside_an_allow_window_and_outside_every_freeze_nothing_is_held() -> None:
    found = calendar(YEAR_END, BUSINESS_HOURS)
    assert assess(inputs(calendar=found), now=at("2026-11-24T15:00:00Z")) is None


def test_a_freeze_that_never_ends_within_a_year_defers_without_a_time() -> None:
    never = {"name": "never", "kind": "allow", "start": "2020-01-01T00:00:00Z",
             "end": "2020-01-02T00:00:00Z"}  # fmt: skip
    found = assess(inputs(calendar=calendar(never)))
    assert found is not None
    assert found.reasons == (R.GUARD_OUTSIDE_ALLOW_WINDOW,)
    assert found.not_before is None


# assess: queued behind an earlier deferral ------------------------------------------------------


def ahead(not_before: datetime | None, intent_file: str = "intents/a.yaml") -> Deferral:
    return Deferral((R.GUARD_EXPAND_COOLDOWN,), ("cooldown",), not_before, intent_file)


QUEUED = "queued behind intents/a.yaml, deferred in this pass: intents are applied in order"


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_an_intent_behind_a_deferred_one_is_queued_with_its_not_before(intent: str) -> None:
    found = assess(inputs(ahead=ahead(at("2026-11-24T13:00:00Z"))), intent)
    assert found == Deferral((R.QUEUED_BEHIND_DEFERRED,), (QUEUED,), at("2026-11-24T13:00:00Z"))


def test_an_unnamed_intent_ahead_is_called_an_earlier_intent() -> None:
    found = assess(inputs(ahead=ahead(None, "")))
    assert found is not None
    assert found.messages == (
        "queued behind an earlier intent, deferred in this pass: intents are applied in order",
    )
    assert found.not_before is None


def test_an_intent_ahead_waiting_for_a_decision_leaves_no_not_before() -> None:
    ledger = Ledger(expand("2026-11-24T11:30:00Z", 25, 35))
    found = assess(inputs(COOLS, ledger, ahead=ahead(None)))
    assert found is not None
    assert found.reasons == (R.GUARD_EXPAND_COOLDOWN, R.QUEUED_BEHIND_DEFERRED)
    assert found.not_before is None


@pytest.mark.parametrize(
    ("ahead_until", "expected"),
    [
        ("2026-11-24T12:10:00Z", "2026-11-24T12:30:00Z"),
        ("2026-11-24T14:00:00Z", "2026-11-24T14:00:00Z"),
    ],
    ids=["own cooldown later", "the intent ahead later"],
)
def test_queued_and_held_itself_it_waits_for_the_later_of_both(
    ahead_until: str, expected: str
) -> None:
    ledger = Ledger(expand("2026-11-24T11:30:00Z", 25, 35))
    found = assess(inputs(COOLS, ledger, ahead=ahead(at(ahead_until))))
    assert found is not None
    assert found.not_before == at(expected)


def test_a_not_before_ahead_in_the_past_is_now() -> None:
    found = assess(inputs(ahead=ahead(NOW - HOUR)))
    assert found is not None
    assert found.not_before == NOW


# assess: combined ------------------------------------------------------------------------------


def test_every_reason_is_given_in_order_and_a_decision_wait_leaves_no_not_before() -> None:
    settings = GuardSettings(True, HOUR, Budget(DAY, 1, 30), 25, 7 * DAY, None)
    ledger = Ledger(expand("2026-11-24T11:30:00Z", 25, 50))
    found = assess(
        inputs(settings, ledger, calendar(YEAR_END, BUSINESS_HOURS), ahead=ahead(NOW + HOUR)),
        canary=50,
        step=10,
        now=at("2026-11-24T11:45:00Z"),
    )
    assert found is not None
    assert found.reasons == (
        R.GUARD_DECISION_PREDATES_CHANGE,
        R.GUARD_EXPAND_COOLDOWN,
        R.GUARD_BUDGET_EXPANDS,
        R.GUARD_BUDGET_PERCENT,
        R.GUARD_OUTSIDE_ALLOW_WINDOW,
        R.QUEUED_BEHIND_DEFERRED,
    )
    assert len(found.messages) == len(found.reasons)
    assert found.not_before is None


def test_the_not_before_is_the_latest_clearing_time_pushed_past_freeze_windows() -> None:
    windows = calendar(
        {"name": "short", "start": "2026-11-24T12:00:00Z", "end": "2026-11-24T12:45:00Z"},
        {"name": "later", "start": "2026-11-24T12:55:00Z", "end": "2026-11-24T14:00:00Z"},
    )
    settings = OFF._replace(expand_cooldown=HOUR, budget=Budget(DAY, 2))
    ledger = Ledger(expand("2026-11-23T13:00:00Z", 10, 20), expand("2026-11-24T11:30:00Z", 20, 25))
    found = assess(inputs(settings, ledger, windows), canary=25)
    assert found is not None
    assert found.reasons == (R.GUARD_EXPAND_COOLDOWN, R.GUARD_BUDGET_EXPANDS, R.GUARD_FREEZE_WINDOW)
    # cooldown 12:30, budget 13:00 (the 13:00 expand leaves), freeze 12:45: then 12:55-14:00.
    assert stamp(found.not_before) == "2026-11-24T14:00:00Z"


def test_a_clearing_time_inside_a_freeze_not_yet_active_is_pushed_past_it() -> None:
    nightly = calendar({"name": "nightly", "cron": "0 23 * * *", "duration": "2h"})
    ledger = Ledger(expand("2026-11-24T22:30:00Z", 25, 35))
    found = assess(inputs(COOLS, ledger, nightly), now=at("2026-11-24T22:40:00Z"))
    assert found is not None
    assert found.reasons == (R.GUARD_EXPAND_COOLDOWN,)
    assert stamp(found.not_before) == "2026-11-25T01:00:00Z"


def test_a_queued_intents_not_before_is_pushed_past_a_freeze_too() -> None:
    windows = calendar(
        {"name": "f", "start": "2026-11-24T12:30:00Z", "end": "2026-11-24T15:00:00Z"}
    )
    found = assess(inputs(calendar=windows, ahead=ahead(at("2026-11-24T13:00:00Z"))))
    assert found is not None
    assert stamp(found.not_before) == "2026-11-24T15:00:00Z"


# assess: settings or freeze file invalid -------------------------------------------------------

FREEZE_PROBLEM = RefusalError(
    R.FREEZE_FILE_INVALID,
    "invalid freeze file: policies/freeze.yaml",
    details=["windows[0] (w): a", "windows[1] (x): b", "windows[2] (y): c", "windows[3] (z): d"],
)
SETTINGS_PROBLEM = RefusalError(R.GUARD_SETTINGS_INVALID, "invalid guards settings in repo")


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        pytest.param(
            FREEZE_PROBLEM,
            "invalid freeze file: policies/freeze.yaml: windows[0] (w): a; windows[1] (x): b; "
            "windows[2] (y): c; fix it by pull request",
            id="freeze file, three details at most",
        ),
        pytest.param(SETTINGS_PROBLEM, "invalid guards settings in repo; fix it by pull request",
                     id="settings, no details"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_invalid_guards_defer_with_their_reason_and_no_not_before(
    problem: RefusalError, message: str, intent: str
) -> None:
    ledger = Ledger(expand("2026-11-24T11:30:00Z", 25, 35))
    found = assess(inputs(COOLS, ledger, problem=problem), intent)
    assert found == Deferral((problem.reason,), (message,), None)
    assert ledger.calls == []


def test_invalid_guards_and_a_timed_intent_ahead_still_have_no_not_before() -> None:
    found = assess(inputs(problem=SETTINGS_PROBLEM, ahead=ahead(NOW + HOUR)))
    assert found is not None
    assert found.reasons == (R.GUARD_SETTINGS_INVALID, R.QUEUED_BEHIND_DEFERRED)
    assert found.not_before is None


# A rollback is never held ----------------------------------------------------------------------


def test_a_rollback_is_never_held_by_any_guard() -> None:
    settings = GuardSettings(True, HOUR, Budget(DAY, 1, 10), 10, timedelta(seconds=1), None)
    ledger = Ledger(expand("2026-12-24T09:00:00Z", 25, 35))
    everything = inputs(
        settings,
        ledger,
        calendar(YEAR_END, BUSINESS_HOURS),
        added_at=at("2026-01-01T00:00:00Z"),
        ahead=ahead(None),
    )
    now = at("2026-12-24T10:00:00Z")
    assert assess(everything, "rollback", made=decision("2026-12-01T00:00:00Z"), now=now) is None
    assert assess(everything._replace(problem=FREEZE_PROBLEM), "rollback", now=now) is None
    assert ledger.calls == []


# intent_deferral_expired ---------------------------------------------------------------------


def test_a_deferred_intent_added_longer_than_max_deferral_ago_is_rejected() -> None:
    ledger = Ledger(expand("2026-11-24T11:30:00Z", 25, 35))
    added = NOW - 7 * DAY - timedelta(seconds=1)
    with pytest.raises(RefusalError) as caught:
        assess(inputs(COOLS, ledger, added_at=added))
    assert caught.value.reason is R.INTENT_DEFERRAL_EXPIRED
    assert caught.value.message == (
        "deferred for longer than maxDeferral (168h): added at 2026-11-17T11:59:59Z; if it is "
        "still wanted, open a new pull request with a new intent"
    )


@pytest.mark.parametrize(
    "found",
    [
        inputs(ahead=ahead(NOW + HOUR)),
        inputs(problem=SETTINGS_PROBLEM),
        inputs(calendar=calendar(BUSINESS_HOURS)),
    ],
    ids=["queued", "invalid settings", "outside allow windows"],
)
def test_any_deferral_expires_after_max_deferral(found: GuardInputs) -> None:
    old = found._replace(added_at=at("2026-11-01T00:00:00Z"))
    with pytest.raises(RefusalError) as caught:
        assess(old, now=at("2026-11-28T15:00:00Z"))
    assert caught.value.reason is R.INTENT_DEFERRAL_EXPIRED


@pytest.mark.parametrize(
    ("held", "added_at", "deferred"),
    [
        pytest.param(True, NOW - 7 * DAY, True, id="exactly maxDeferral: still deferred"),
        pytest.param(True, None, True, id="not committed: never expires"),
        pytest.param(True, NOW - HOUR, True, id="recent"),
        pytest.param(False, NOW - 30 * DAY, False, id="old but not held: not expired"),
    ],
)  # fmt: skip
def test_max_deferral_rejects_only_what_would_be_deferred(
    held: bool, added_at: datetime | None, deferred: bool
) -> None:
    records = [expand("2026-11-24T11:30:00Z", 25, 35)] if held else []
    found = assess(inputs(COOLS, Ledger(*records), added_at=added_at))
    assert (found is not None) is deferred


def test_max_deferral_follows_the_setting() -> None:
    settings = COOLS._replace(max_deferral=HOUR)
    ledger = Ledger(expand("2026-11-24T11:30:00Z", 25, 35))
    with pytest.raises(RefusalError) as caught:
        assess(inputs(settings, ledger, added_at=NOW - 2 * HOUR))
    assert "maxDeferral (1h)" in caught.value.message


# One records_since call, from the earliest moment a guard looks at ------------------------------


@pytest.mark.parametrize(
    ("settings", "made", "since"),
    [
        pytest.param(OFF, decision(), NOW, id="every guard off"),
        pytest.param(COOLS, decision(), NOW - HOUR, id="cooldown"),
        pytest.param(COOLS._replace(budget=Budget(DAY, 2)), decision(), NOW - DAY,
                     id="budget window longer than cooldown"),
        pytest.param(OFF._replace(expand_cooldown=2 * DAY, budget=Budget(DAY, 2)), decision(),
                     NOW - 2 * DAY, id="cooldown longer than budget window"),
        pytest.param(DECIDES._replace(budget=Budget(DAY, 2)), decision("2026-11-20T00:00:00Z"),
                     at("2026-11-19T23:55:00Z"), id="an old decision"),
        pytest.param(DECIDES._replace(budget=Budget(DAY, 2)), decision("2026-11-24T11:00:00Z"),
                     NOW - DAY, id="a recent decision inside the budget window"),
        pytest.param(DECIDES, decision(None), EPOCH, id="a decision without generatedAt"),
        pytest.param(OFF._replace(budget=Budget(DAY, 2)), decision("2026-11-01T00:00:00Z"),
                     NOW - DAY, id="decision guard off: its time is not read"),
    ],
)  # fmt: skip
def test_the_records_are_read_once_from_the_earliest_moment_needed(
    settings: GuardSettings, made: Decision, since: datetime
) -> None:
    ledger = Ledger()
    assess(inputs(settings, ledger), made=made)
    assert ledger.calls == [since]


def test_without_a_decision_the_decision_guard_reads_nothing_extra() -> None:
    ledger = Ledger()
    guards.assess(
        inputs(DECIDES._replace(expand_cooldown=HOUR), ledger), "resume", 25, 0, None, NOW
    )
    assert ledger.calls == [NOW - HOUR]


def test_pass_guards_default_to_no_windows_and_no_problem() -> None:
    found = PassGuards(OFF)
    assert found.calendar == Calendar()
    assert found.problem is None


# The decision's time cannot be gamed -----------------------------------------------------------


def carried(minute: int, made: Decision, **extra: object) -> dict:
    """An applied expand at NOW - 1h + `minute` that was applied on `made`."""
    stamp = (NOW - HOUR + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "status": "applied", "intent": "expand", "timestamp": stamp,
        "decisionGeneratedAt": made.generated_at, "decisionTraceId": made.trace_id,
        "rollout": {"before": {"canaryPercent": 25, "manualPause": False},
                    "after": {"canaryPercent": 35, "manualPause": False},
                    "changed": {"canaryPercent": True, "manualPause": False}},
        **extra,
    }  # fmt: skip


@pytest.mark.parametrize(
    "generated", ["2026-11-24T12:04:00Z", "2099-01-01T00:00:00Z"], ids=["in the skew", "far"]
)
def test_a_decision_from_the_future_cannot_carry_a_second_change(generated: str) -> None:
    made = decision(generated)
    ledger = Ledger(carried(10, decision("2026-11-24T06:00:00Z")))

    held = assess(inputs(DECIDES, ledger), made=made)

    assert held is not None and held.reasons == (R.GUARD_DECISION_PREDATES_CHANGE,)
    assert f"the current one is dated in the future ({generated})" in held.messages[0]
    assert held.not_before == at(generated)  # then it may be orderable: the controller wakes
    assert ledger.calls == [EPOCH]  # every change on record counts, read in full only now


def test_a_decision_that_already_carried_a_change_is_spent_whatever_its_time() -> None:
    # The change was recorded a second before the decision's (skewed) generatedAt.
    made = decision("2026-11-24T11:10:01Z")
    ledger = Ledger(carried(10, made))

    held = assess(inputs(DECIDES, ledger), made=made)

    assert held is not None and held.reasons == (R.GUARD_DECISION_PREDATES_CHANGE,)
    assert held.messages[0] == (
        "waiting for a decision generated after 2026-11-24T11:10:00Z (the last change); the "
        "current one (generated at 2026-11-24T11:10:01Z) already carried it"
    )


def test_every_applied_rollback_is_a_change_even_on_a_paused_fleet() -> None:
    unchanged = {
        "status": "applied", "intent": "rollback",
        "rollout": {"changed": {"canaryPercent": False, "manualPause": False}},
    }  # fmt: skip
    assert guards.is_change(unchanged)


@pytest.mark.parametrize(
    ("reasons", "text"),
    [
        ((), "waits for a new decision"),
        (("guard_decision_predates_change",), "waits for a new decision"),
        (("guard_upstream_not_ready",), "waits for the upstream fleet"),
        # These said "waits for a new decision": no decision cures a settings typo.
        (("fleets_invalid",), "waits for its settings to be fixed by pull request"),
        (("guard_settings_invalid",), "waits for its settings to be fixed by pull request"),
        (("freeze_file_invalid",), "waits for its settings to be fixed by pull request"),
        (("queued_behind_deferred",), "waits for the intent ahead of it"),
        (
            ("guard_upstream_not_ready", "queued_behind_deferred"),
            "waits for the upstream fleet",
        ),
    ],
)
def test_what_a_deferral_without_a_time_waits_for(reasons: tuple[str, ...], text: str) -> None:
    assert guards.waiting_text(reasons) == text
