"""The core's rules on values: their order, what a rollback gets past, the clock, the messages.

`apply` and the loop both decide through `rules.evaluate` (tests/commands/
test_rules_every_path.py runs every path); here the rules themselves are checked, and that
the loop's rejections read as apply's refusals (one message per rule).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core import applying, rules
from reconciler.core.decision import Decision
from reconciler.core.editing import RegistryText
from reconciler.core.errors import RefusalError
from reconciler.core.passes import IntentSource, PassState, evaluate_intent
from reconciler.core.reasons import ReasonCode
from reconciler.core.registry import view_registry
from tests.support.gitrepos import EXAMPLE, intent_text

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FILES = {
    "registryFile": "policies/registry.yaml",
    "promotionStateFile": "policies/promotion/decision.json",
    "applyStateFile": "policies/state/promotion-apply-state.json",
    "applyTelemetryFile": "policies/telemetry/promotion-apply.jsonl",
}
EXAMPLE_TEXT = (EXAMPLE / "registry.yaml").read_text()
PROMOTE = Decision("promote", "gates-1", "2026-11-24T06:00:00Z")
TELEMETRY_CORRUPT = RefusalError(ReasonCode.TELEMETRY_CORRUPT, "telemetry file is corrupt: t:3")
NO_DECISION = RefusalError(ReasonCode.PROMOTION_STATE_MISSING, "promotion state file not found")
NO_REGISTRY = RefusalError(ReasonCode.REGISTRY_MISSING, "fleet registry file not found: r")


def registry_text(*, mode: str = "guarded_auto", manual: bool = False) -> RegistryText:
    text = EXAMPLE_TEXT.replace("mode: guarded_auto ", f"mode: {mode} ", 1)
    text = text.replace("manual: false ", f"manual: {'true' if manual else 'false'} ", 1)
    return RegistryText(text, "yaml")


def request(intent: str = "expand", key: str | None = "key-1") -> applying.ApplyRequest:
    args = applying.ApplyArgs(
        intent, "10", "alice", "CAB-1", "why", "2099-01-01T00:00:00Z", idempotency_key=key
    )
    return applying.validate_args(args)


def inputs(intent: str = "expand", **changes: Any) -> rules.Inputs:
    values: dict[str, Any] = {
        "request": request(intent),
        "trace_id": "trace-1",
        "files": FILES,
        "registry": registry_text(),
        "decision": PROMOTE,
    }
    values.update(changes)
    return rules.Inputs(**values)


def fixed() -> datetime:
    return NOW


def refusal(given: rules.Inputs, clock: Callable[[], datetime] = fixed) -> RefusalError:
    with pytest.raises(RefusalError) as caught:
        rules.evaluate(given, clock)
    return caught.value


def test_a_valid_expand_is_applied() -> None:
    verdict = rules.evaluate(inputs(), fixed)
    assert verdict.status == "applied"
    assert verdict.record["rollout"]["after"] == {"canaryPercent": 35, "manualPause": False}
    assert verdict.registry is not None and "canaryPercent: 35 " in verdict.registry.text


def test_the_first_problem_in_rule_order_is_the_one_reported() -> None:
    # Everything wrong at once; take the problems away one by one, in RULES' order.
    problems: dict[str, Any] = {
        "telemetry_problem": TELEMETRY_CORRUPT,
        "decision": NO_DECISION,
        "request": request()._replace(review_by="not a time"),
        "registry": NO_REGISTRY,
    }
    expected = [
        ReasonCode.TELEMETRY_CORRUPT,
        ReasonCode.PROMOTION_STATE_MISSING,
        ReasonCode.REVIEW_BY_INVALID,
        ReasonCode.REGISTRY_MISSING,
    ]
    for field, reason in zip(list(problems), expected, strict=True):
        assert refusal(inputs(**problems)).reason is reason
        del problems[field]
    assert refusal(inputs(registry=registry_text(mode="advisory"))).reason is (
        ReasonCode.REGISTRY_NOT_GUARDED_AUTO
    )


def test_a_rollback_gets_past_what_refuses_expand_and_notes_it() -> None:
    given = inputs(
        "rollback",
        request=request("rollback"),
        telemetry_problem=TELEMETRY_CORRUPT,
        decision=NO_DECISION,
        registry=registry_text(mode="advisory"),
    )
    verdict = rules.evaluate(given, fixed)
    assert verdict.status == "applied"
    assert set(verdict.record["reasonCodes"]) == {
        "telemetry_corrupt",
        "rollback_without_decision",
        "promotion_state_missing",
        "rollback_in_advisory_mode",
    }
    assert verdict.record["decision"] is None
    assert verdict.record["rollout"]["after"]["manualPause"] is True


def test_a_replay_needs_the_registry_only_for_a_rollback() -> None:
    prior = {"intent": "expand", "expandStep": 10, "reasonCodes": [], "status": "applied"}
    # An expand replays whatever the registry and decision are (they are never looked at).
    replayed = rules.evaluate(
        inputs(prior=prior, registry=NO_REGISTRY, decision=NO_DECISION), fixed
    )
    assert (replayed.status, replayed.record["replayed"]) == ("replayed", True)
    # A rollback replays only onto a paused fleet, so it needs the registry to tell.
    rollback = inputs("rollback", request=request("rollback"), prior=prior)
    paused = rules.evaluate(rollback._replace(registry=registry_text(manual=True)), fixed)
    assert paused.status == "replayed"
    running = rules.evaluate(rollback, fixed)
    assert running.status == "applied"
    assert "idempotency_replay_overridden" in running.record["reasonCodes"]
    error = refusal(rollback._replace(registry=NO_REGISTRY))
    assert (error.reason, error.footer) == (ReasonCode.REGISTRY_MISSING, rules.REGISTRY_FOOTER)


def test_the_clock_is_read_for_the_decision_the_review_by_and_the_mutation() -> None:
    readings: list[str] = []

    def clock() -> datetime:
        readings.append("read")
        return NOW

    rules.evaluate(inputs(), clock)
    assert len(readings) == 3
    readings.clear()
    refusal(inputs(decision=Decision("hold", None, None)), clock)
    assert len(readings) == 1  # refused at the decision: nothing later read the clock


def test_a_registry_the_caller_validated_is_not_validated_again() -> None:
    # The loop validates once per pass and passes the problems: the rules trust them.
    given = inputs(registry_problems=["loops[0]: transport must be local or sprite_service"])
    error = refusal(given)
    assert error.reason is ReasonCode.REGISTRY_INVALID
    assert error.message == "invalid fleet registry: policies/registry.yaml"
    assert error.details == ("loops[0]: transport must be local or sprite_service",)
    assert rules.evaluate(inputs(registry_problems=()), fixed).status == "applied"


@pytest.mark.parametrize(
    ("mode", "decision", "message"),
    [
        ("advisory", PROMOTE, "promotion apply requires policy.mode guarded_auto"),
        (
            "guarded_auto",
            Decision("hold", None, None),
            "intent expand requires promotion decision promote (found: hold)",
        ),
    ],
    ids=["mode", "decision"],
)
def test_the_loop_rejects_with_the_message_apply_refuses_with(
    mode: str, decision: Decision, message: str
) -> None:
    assert refusal(inputs(registry=registry_text(mode=mode), decision=decision)).message == message
    parsed = registry_text(mode=mode)
    assert isinstance(parsed.document, dict)
    state = PassState(
        registry=parsed,
        view=view_registry(parsed.document),
        decision=decision,
        decision_problem=None,
        max_age=timedelta(hours=24),
        max_age_text="24h",
        files=FILES,
        base_commit="0" * 40,
    )
    data = intent_text("expand", step=10).encode()
    source = IntentSource("policies/intents/x.yaml", data, None, None, "b" * 40)
    outcome = evaluate_intent(state, source, NOW, lambda _key: None)
    assert (outcome.status, outcome.problems) == ("rejected", (message,))
