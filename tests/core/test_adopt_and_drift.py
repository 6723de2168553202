"""The adopt intent and the audit_drift rule, in the core's rules (every path decides by them)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core import applying, rules
from reconciler.core.drift import Drift
from reconciler.core.errors import RefusalError
from reconciler.core.intents import IntentRejected, decode_intent
from reconciler.core.reasons import ReasonCode
from tests.core.test_rules import NOW, fixed, inputs, registry_text, request

DRIFT = Drift(("hand_edit abc1234 policies/registry.yaml: canaryPercent 25 -> 100",), None)


def adopt_request() -> applying.ApplyRequest:
    return request("expand")._replace(intent="adopt", expand_step=applying.DEFAULT_EXPAND_STEP)


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_drift_refuses_expand_and_resume(intent: str) -> None:
    given = inputs(intent, drift=DRIFT, registry=registry_text(manual=intent == "resume"))
    with pytest.raises(RefusalError) as caught:
        rules.evaluate(given, fixed)
    assert caught.value.reason is ReasonCode.AUDIT_DRIFT
    assert "revert the hand edit or merge an adopt intent" in caught.value.message
    assert list(caught.value.details) == list(DRIFT.blocking)


def test_drift_never_stops_a_rollback() -> None:
    verdict = rules.evaluate(inputs("rollback", drift=DRIFT), fixed)
    assert verdict.status == "applied"
    assert verdict.record["rollout"]["after"]["manualPause"] is True


def test_without_drift_an_expand_is_applied() -> None:
    assert rules.evaluate(inputs(drift=Drift()), fixed).status == "applied"


def test_adopt_records_the_file_as_the_new_baseline_from_the_recorded_one() -> None:
    baseline = {"canaryPercent": 10, "manualPause": True}
    given = inputs(request=adopt_request(), drift=Drift(DRIFT.blocking, baseline))
    verdict = rules.evaluate(given, fixed)
    assert verdict.status == "applied"
    rollout: dict[str, Any] = verdict.record["rollout"]
    assert rollout["before"] == baseline
    assert rollout["after"] == {"canaryPercent": 25, "manualPause": False}
    assert rollout["changed"] == {"canaryPercent": True, "manualPause": True}
    assert verdict.record["intent"] == "adopt"
    assert "rollout_unchanged" not in verdict.record["reasonCodes"]
    assert verdict.mutation is not None
    assert set(verdict.mutation.changes) == set(applying.GOVERNANCE_FIELD_PATHS)  # no rollout edit


@pytest.mark.parametrize(
    "changes",
    [
        {"decision": RefusalError(ReasonCode.PROMOTION_DECISION_MISSING, "no decision")},
        {"registry": registry_text(mode="advisory")},
    ],
)
def test_adopt_needs_no_decision_and_works_in_any_mode(changes: dict[str, Any]) -> None:
    verdict = rules.evaluate(inputs(request=adopt_request(), **changes), fixed)
    assert verdict.status == "applied"
    assert verdict.record["reasonCodes"] == ["rollout_unchanged"]


def test_an_adopt_file_takes_governance_and_no_step_or_target() -> None:
    text = (
        "intent: adopt\ngovernance:\n  actor: alice\n  approvalRef: CAB-9\n"
        "  rationale: hotfix by hand during INC-7\n  reviewBy: 2099-01-01T00:00:00Z\n"
    )
    assert decode_intent(text.encode(), "001-adopt.yaml", NOW).intent == "adopt"
    with pytest.raises(IntentRejected) as caught:
        decode_intent((text + "expandStep: 5\n").encode(), "002-adopt.yaml", NOW)
    assert (
        "expandStep is only allowed with intent expand (not adopt)"
        in caught.value.problems[0].message
    )
