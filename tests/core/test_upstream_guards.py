"""Promotion order in the guards: an expand/resume waits for its upstream's soak, lazily read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core import commit_messages, guard_state, guards
from reconciler.core.decision import Decision
from reconciler.core.editing import RegistryText
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Calendar
from reconciler.core.guard_settings import OFF, GuardSettings, PassGuards
from reconciler.core.guards import Deferral, GuardInputs
from reconciler.core.passes import IntentSource, PassState, evaluate_pass
from reconciler.core.reasons import ReasonCode
from reconciler.core.registry import view_registry
from reconciler.core.timestamps import format_timestamp
from reconciler.core.upstream import Requirement, UpstreamFacts, UpstreamGate
from reconciler.render import text
from tests.support.gitrepos import EXAMPLE, intent_text

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FULL_DAY = Requirement("staging", 100, DAY)
DECISION = Decision("promote", "gates-1", "2026-11-24T06:00:00Z")
FILES = {
    "registryFile": "policies/registry.yaml",
    "promotionStateFile": "policies/promotion/decision.json",
    "applyStateFile": "policies/state/promotion-apply-state.json",
    "applyTelemetryFile": "policies/telemetry/promotion-apply.jsonl",
}


def expanded(when: datetime, before: int = 50, after: int = 100) -> dict[str, Any]:
    return {
        "status": "applied",
        "intent": "expand",
        "timestamp": format_timestamp(when),
        "rollout": {
            "before": {"canaryPercent": before, "manualPause": False},
            "after": {"canaryPercent": after, "manualPause": False},
            "changed": {"canaryPercent": True, "manualPause": False},
        },
    }


class Reads:
    """A fake upstream reader that counts its calls."""

    def __init__(self, found: UpstreamFacts) -> None:
        self.found = found
        self.calls = 0

    def __call__(self) -> UpstreamFacts:
        self.calls += 1
        return self.found


SOAKING = UpstreamFacts(100, False, (expanded(NOW - 2 * HOUR),), None)
SOAKED = UpstreamFacts(100, False, (expanded(NOW - 2 * DAY),), None)
BELOW = UpstreamFacts(50, False, (expanded(NOW - 2 * DAY, 25, 50),), None)


def gated(
    found: UpstreamFacts, settings: GuardSettings = OFF, **more: Any
) -> tuple[GuardInputs, Reads]:
    reads = Reads(found)
    gate = UpstreamGate(FULL_DAY, reads)
    return GuardInputs(settings, Calendar(), lambda _since: [], upstream=gate, **more), reads


def assess(found: GuardInputs, intent: str = "expand", canary: int = 25) -> Deferral | None:
    return guards.assess(found, intent, canary, 10, DECISION, NOW)


# guards.assess --------------------------------------------------------------------------------


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_an_upstream_still_soaking_defers_until_the_soak_completes(intent: str) -> None:
    found, reads = gated(SOAKING)
    ready_at = NOW - 2 * HOUR + DAY
    assert assess(found, intent) == Deferral(
        (ReasonCode.GUARD_UPSTREAM_NOT_READY,),
        (
            "waiting for upstream staging: held 100% unpaused since "
            f"{format_timestamp(NOW - 2 * HOUR)}, soak 24h: ready at {format_timestamp(ready_at)}",
        ),
        ready_at,
    )
    assert reads.calls == 1


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (BELOW, "waiting for upstream staging: at 50%, needs 100% unpaused"),
        (SOAKED._replace(paused=True), "waiting for upstream staging: paused"),
        (SOAKED._replace(problem="no such fleet"),
         "waiting for upstream staging: could not be read: no such fleet"),
    ],
    ids=["below", "paused", "unreadable"],
)  # fmt: skip
def test_an_upstream_not_there_now_defers_with_no_not_before(
    found: UpstreamFacts, message: str
) -> None:
    assert assess(gated(found)[0]) == Deferral(
        (ReasonCode.GUARD_UPSTREAM_NOT_READY,), (message,), None
    )


def test_an_upstream_that_has_soaked_holds_nothing() -> None:
    assert assess(gated(SOAKED)[0]) is None


@pytest.mark.parametrize("intent", ["rollback", "adopt"])
def test_a_rollback_or_adopt_is_never_held_and_never_reads_the_upstream(intent: str) -> None:
    found, reads = gated(BELOW)
    assert assess(found, intent) is None
    assert reads.calls == 0


def test_the_upstream_joins_the_other_holds_and_the_latest_time_wins() -> None:
    cooldown = OFF._replace(expand_cooldown=HOUR)
    reads = Reads(SOAKING)
    found = GuardInputs(
        cooldown,
        Calendar(),
        lambda _since: [expanded(NOW - 10 * 60 * timedelta(seconds=1), 15, 25)],
        upstream=UpstreamGate(FULL_DAY, reads),
    )
    deferral = assess(found)
    assert deferral is not None
    assert deferral.reasons == (
        ReasonCode.GUARD_EXPAND_COOLDOWN,
        ReasonCode.GUARD_UPSTREAM_NOT_READY,
    )
    assert deferral.not_before == NOW - 2 * HOUR + DAY


def test_invalid_guards_hold_without_reading_the_upstream() -> None:
    problem = RefusalError(ReasonCode.GUARD_SETTINGS_INVALID, "invalid guards settings")
    found, reads = gated(SOAKED, problem=problem)
    deferral = assess(found)
    assert deferral is not None and deferral.reasons == (ReasonCode.GUARD_SETTINGS_INVALID,)
    assert reads.calls == 0


def test_a_second_assessment_does_not_read_the_upstream_again() -> None:
    found, reads = gated(SOAKING)
    assert assess(found) is not None
    assert assess(found, "resume") is not None
    assert assess(found._replace(ahead=None)) is not None
    assert reads.calls == 1


def test_the_commit_subject_calls_it_upstream_not_ready() -> None:
    assert (
        commit_messages._SHORT_REASONS[ReasonCode.GUARD_UPSTREAM_NOT_READY] == "upstream not ready"
    )


# A pass: read once, and only for an expand or resume ------------------------------------------


def pass_state(found: PassGuards) -> PassState:
    parsed = RegistryText((EXAMPLE / "registry.yaml").read_text(), "yaml")
    assert isinstance(parsed.document, dict)
    return PassState(
        registry=parsed,
        view=view_registry(parsed.document),
        decision=DECISION,
        decision_problem=None,
        max_age=timedelta(hours=24),
        max_age_text="24h",
        files=FILES,
        base_commit="0" * 40,
        guards=found,
    )


def source(name: str, intent: str, **more: Any) -> IntentSource:
    data = intent_text(intent, **more).encode()
    return IntentSource(f"policies/intents/{name}", data, None, None, "b" * 40)


def run_pass(reads: Reads, *sources: IntentSource) -> list[tuple[str, tuple[str, ...]]]:
    state = pass_state(PassGuards(OFF, upstream=UpstreamGate(FULL_DAY, reads)))
    outcomes = evaluate_pass(state, sources, lambda: NOW, lambda _key: None, lambda _since: [])
    return [(outcome.status, outcome.reasons) for outcome, _ in outcomes]


def test_a_pass_without_intents_or_with_a_rollback_only_never_reads_the_upstream() -> None:
    reads = Reads(BELOW)
    assert run_pass(reads) == []
    found = run_pass(reads, source("a-rollback.yaml", "rollback"))
    assert [status for status, _ in found] == ["applied"]
    assert reads.calls == 0


def test_a_pass_of_many_expands_reads_the_upstream_once() -> None:
    reads = Reads(BELOW)
    names = [f"{n:02d}-expand.yaml" for n in range(10)]
    found = run_pass(reads, *(source(name, "expand", step=10) for name in names))
    assert found[0] == ("deferred", ("guard_upstream_not_ready",))
    assert all(status == "deferred" for status, _ in found)
    assert reads.calls == 1


def test_a_pass_applies_an_expand_once_the_upstream_has_soaked() -> None:
    reads = Reads(SOAKED)
    assert [status for status, _ in run_pass(reads, source("a.yaml", "expand", step=10))] == [
        "applied"
    ]


# What `status` shows --------------------------------------------------------------------------


def test_status_shows_the_upstream_soak() -> None:
    reads = Reads(SOAKING)
    found = PassGuards(OFF, upstream=UpstreamGate(FULL_DAY, reads))
    state = guard_state.describe_guards(found, lambda _since: [], DECISION, NOW)
    since, ready_at = NOW - 2 * HOUR, NOW - 2 * HOUR + DAY
    message = (
        f"upstream staging: held 100% unpaused since {format_timestamp(since)}, soak 24h: "
        f"ready at {format_timestamp(ready_at)}"
    )
    assert state["upstream"] == {
        "fleet": "staging",
        "minCanary": 100,
        "soak": "24h",
        "ready": False,
        "since": format_timestamp(since),
        "readyAt": format_timestamp(ready_at),
        "message": message,
    }
    assert f"after {message}" in text.guard_lines(state)
    assert set(state) == {
        "enabled", "problem", "decisionAfterChange", "cooldown", "budget", "maxExpandStep",
        "maxDeferral", "freeze", "upstream",
    }  # fmt: skip


def test_status_without_an_upstream_shows_null_and_the_gauges_never_read_it() -> None:
    state = guard_state.describe_guards(PassGuards(OFF), lambda _since: [], DECISION, NOW)
    assert state["upstream"] is None
    assert not any(line.startswith("after ") for line in text.guard_lines(state))
    reads = Reads(SOAKING)
    found = PassGuards(OFF, upstream=UpstreamGate(FULL_DAY, reads))
    state = guard_state.describe_guards(found, lambda _since: [], DECISION, NOW, upstream=False)
    assert (state["upstream"], reads.calls) == (None, 0)
