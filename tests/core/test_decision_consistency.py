"""A `promote` that contradicts itself allows nothing (issue 9, item 12): pure, table-driven."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.decision import check_decision_allows, read_decision
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EXAMPLE = json.loads(
    (Path(__file__).parents[2] / "policies" / "promotion" / "decision.json").read_text()
)


def decision_doc(summary: dict[str, Any] | None = None, **gates: str) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLE)
    doc["summary"].update(summary or {})
    for name, status in gates.items():
        doc["gates"][name]["status"] = status
    return doc


def allows(doc: dict[str, Any], intent: str) -> None:
    check_decision_allows(intent, read_decision(doc), NOW, timedelta(days=1), "24h")


CONSISTENT = [
    pytest.param(decision_doc(), id="the example"),
    pytest.param({"summary": {"decision": "promote"}}, id="only summary.decision"),
    pytest.param(
        decision_doc({"promote": None, "failedGates": None, "gateFailCount": None}),
        id="null fields claim nothing",
    ),
    pytest.param(decision_doc({"gateFailCount": 0, "failedGates": []}), id="zero and empty"),
    pytest.param(decision_doc(governance="skipped"), id="a gate status other than fail"),
    pytest.param(decision_doc() | {"gates": "not a mapping"}, id="gates not a mapping"),
]
CONTRADICTING = [
    pytest.param(decision_doc({"promote": False}), ["summary.promote is false"], id="promote"),
    pytest.param(
        decision_doc({"failedGates": ["governance"]}),
        ['summary.failedGates is ["governance"]'],
        id="failedGates",
    ),
    pytest.param(decision_doc({"gateFailCount": 2}), ["summary.gateFailCount is 2"], id="count"),
    pytest.param(
        decision_doc(drillRecency="fail"), ["gates.drillRecency.status is fail"], id="a gate"
    ),
    pytest.param(decision_doc({"promote": "true"}), ['summary.promote is "true"'], id="a string"),
    pytest.param(decision_doc({"promote": 1}), ["summary.promote is 1"], id="one"),
    pytest.param(
        decision_doc({"failedGates": "governance"}),
        ['summary.failedGates is "governance"'],
        id="failedGates not a list",
    ),
    pytest.param(decision_doc({"failedGates": {}}), ["summary.failedGates is {}"], id="object"),
    pytest.param(
        decision_doc({"gateFailCount": False}), ["summary.gateFailCount is false"], id="bool"
    ),
    pytest.param(
        decision_doc(
            {"promote": False, "failedGates": ["governance", "drillRecency"], "gateFailCount": 2},
            governance="fail",
            drillRecency="fail",
        ),
        [
            "summary.promote is false",
            'summary.failedGates is ["governance", "drillRecency"]',
            "summary.gateFailCount is 2",
            "gates.governance.status is fail",
            "gates.drillRecency.status is fail",
        ],
        id="all of them",
    ),
    pytest.param(
        decision_doc() | {"gates": {"a\nb": {"status": "fail"}}},
        ['gates."a\\nb".status is fail'],
        id="an odd gate name stays on one line",
    ),
]


@pytest.mark.parametrize("doc", CONSISTENT)
@pytest.mark.parametrize("intent", ["expand", "resume", "rollback"])
def test_a_consistent_promote_allows_every_intent(doc: dict[str, Any], intent: str) -> None:
    doc = {**doc, "generatedAt": "2026-11-24T06:00:00Z"}
    assert read_decision(doc).contradictions == ()
    allows(doc, intent)


@pytest.mark.parametrize(("doc", "found"), CONTRADICTING)
@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_a_contradicting_promote_refuses_expand_and_resume(
    doc: dict[str, Any], found: list[str], intent: str
) -> None:
    assert list(read_decision(doc).contradictions) == found
    with pytest.raises(RefusalError) as caught:
        allows(doc, intent)
    assert caught.value.reason == ReasonCode.PROMOTION_DECISION_INCONSISTENT
    assert caught.value.message == (
        f"intent {intent} refused: the promotion decision says promote but "
        f"{' and '.join(found)}; regenerate it"
    )
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(("doc", "found"), CONTRADICTING)
def test_a_contradicting_promote_still_allows_a_rollback(
    doc: dict[str, Any], found: list[str]
) -> None:
    allows(doc, "rollback")


def test_a_hold_is_refused_as_not_promote_whatever_its_other_fields_say() -> None:
    doc = decision_doc({"decision": "hold", "promote": True})
    assert read_decision(doc).contradictions == ()
    with pytest.raises(RefusalError) as caught:
        allows(doc, "expand")
    assert caught.value.reason == ReasonCode.PROMOTION_DECISION_NOT_PROMOTE


def test_inconsistency_is_reported_before_staleness() -> None:
    doc = decision_doc({"promote": False})
    doc["generatedAt"] = "2020-01-01T00:00:00Z"
    with pytest.raises(RefusalError) as caught:
        allows(doc, "expand")
    assert caught.value.reason == ReasonCode.PROMOTION_DECISION_INCONSISTENT


def test_a_long_failed_gates_list_is_shortened_in_the_message() -> None:
    doc = decision_doc({"failedGates": ["gate"] * 100})
    [found] = read_decision(doc).contradictions
    assert found.startswith('summary.failedGates is ["gate", "gate"') and found.endswith("...")
    assert len(found) < 120
