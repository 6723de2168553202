"""Trailers against records, and the owned registry fields against the last record."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core import audit

RECORD = {
    "status": "applied",
    "intent": "expand",
    "idempotencyKey": "k",
    "traceId": "t",
    "decisionTraceId": "d",
    "timestamp": "2026-11-24T12:00:00Z",
    "governance": {"actor": "alice", "approvalRef": "CAB-1", "rationale": "r", "reviewBy": "x"},
    "rollout": {
        "before": {"canaryPercent": 25, "manualPause": False},
        "after": {"canaryPercent": 35, "manualPause": False},
    },
    "git": {"intentFile": "policies/intents/k.yaml", "intentCommit": "c", "baseCommit": "b"},
}
TRAILERS = {
    "Reconcile-Intent": "policies/intents/k.yaml",
    "Reconcile-Status": "applied",
    "Reconcile-Action": "expand",
    "Idempotency-Key": "k",
    "Trace-Id": "t",
    "Decision-Trace-Id": "d",
    "Actor": "alice",
    "Approval-Ref": "CAB-1",
    "Canary": "25 -> 35",
    "Manual-Pause": "false -> false",
    "Intent-Commit": "c",
}


def registry(canary: object = 35, actor: str = "alice") -> dict[str, object]:
    governance = {"actor": actor, "approvalRef": "CAB-1", "rationale": "r", "reviewBy": "x"}
    governance["changedAt"] = "2026-11-24T12:00:00Z"
    rollout = {"canaryPercent": canary, "pause": {"manual": False}}
    return {"policy": {"autonomous": {"rollout": rollout, "governance": governance}}}


def test_trailers_that_match_their_record_agree() -> None:
    assert audit.trailer_disagreements(TRAILERS, RECORD) == []
    assert audit.trailer_identity(TRAILERS) == audit.record_identity(RECORD)


def test_a_trailer_that_differs_from_its_record_is_named() -> None:
    lines = audit.trailer_disagreements({**TRAILERS, "Canary": "25 -> 90"}, RECORD)
    assert lines == ["Canary says '25 -> 90', its record '25 -> 35'"]


def test_the_owned_registry_fields_equal_to_the_record_pass() -> None:
    assert audit.replay_problems(registry(), RECORD) == []


def test_an_owned_registry_field_unlike_the_last_record_is_named() -> None:
    problems = audit.replay_problems(registry(canary=90, actor="bob"), RECORD)
    assert [line.split(" ")[0] for line in problems] == [
        "policy.autonomous.rollout.canaryPercent",
        "policy.autonomous.governance.actor",
    ]
    assert audit.replay_problems(registry(canary="35"), RECORD) != []  # types count


DOCS = Path(__file__).parent.parent.parent / "docs"


@pytest.mark.parametrize("kind", list(audit.FindingKind), ids=str)
def test_every_finding_kind_is_documented_for_operators(kind: audit.FindingKind) -> None:
    assert f"| `{kind}` |" in (DOCS / "audit.md").read_text()
    assert f"| `{kind}` (finding" in (DOCS / "reason-codes.md").read_text()
