"""`reconcile status` on real git repositories: posture, governance, decision, predictions.

The report is built in-process with an injected clock (exact ages and deadlines); the command
runs as a real process for its output and to prove it is read-only in tests/e2e/test_status.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.reports.status import repo_status
from tests.support import gitrepos as g
from tests.support.gitrepos import DECISION, FIXED, INTENTS
from tests.support.statuses import REVIEW_BY, set_review_by, stamp


def status_at(repo: Path, moment: datetime = FIXED) -> dict[str, Any]:
    return repo_status(str(repo), now=lambda: moment)


def set_failed_gates(repo: Path, gates: list[str]) -> None:
    path = repo / DECISION
    doc = json.loads(path.read_text())
    doc["summary"]["failedGates"] = gates
    path.write_text(json.dumps(doc, indent=2) + "\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")


# Posture, governance, decision -----------------------------------------------------------


def test_a_healthy_repository_reports_its_posture_governance_and_fresh_decision(
    repo: Path,
) -> None:
    report = status_at(repo)

    assert report["repo"] == str(repo)
    assert report["head"] == g.head(repo)
    assert report["posture"] == {
        "fleetId": "fleet-a",
        "mode": "guarded_auto",
        "canaryPercent": 25,
        "manualPause": False,
    }
    assert report["governance"] == {
        "actor": "ops-initial",
        "approvalRef": "CAB-100",
        "rationale": "Initial guarded rollout",
        "changedAt": "2026-11-01T09:00:00Z",
        "reviewBy": REVIEW_BY,
        "daysLeft": 401.5,
        "reviewDue": False,
        "reviewExpired": False,
    }
    assert report["decision"] == {
        "decision": "promote",
        "traceId": "gates-2026-11-24-0600",
        "generatedAt": "2026-11-24T06:00:00Z",
        "ageSeconds": 6 * 3600,
        "age": "6h",
        "maxAge": "24h",
        "stale": False,
        "failedGates": [],
    }
    assert report["pending"] == []
    assert report["warnings"] == []


@pytest.mark.parametrize(
    ("review_by", "days_left", "warning"),
    [
        pytest.param(
            FIXED + timedelta(days=3), 3.0,
            "governance review due in 72h (2026-11-27T12:00:00Z)", id="due-in-3-days",
        ),
        pytest.param(
            FIXED + timedelta(days=7) - timedelta(seconds=1), 7.0,
            "governance review due in 167h59m59s (2026-12-01T11:59:59Z)", id="just-under-7-days",
        ),
        pytest.param(FIXED + timedelta(days=7), 7.0, None, id="exactly-7-days"),
        pytest.param(
            FIXED - timedelta(days=2, hours=6), -2.2,
            "governance review expired 54h ago (2026-11-22T06:00:00Z); the next intent must "
            "renew it", id="expired",
        ),
        pytest.param(
            FIXED, 0.0,
            "governance review expired 0s ago (2026-11-24T12:00:00Z); the next intent must "
            "renew it", id="expiring-now",
        ),
    ],
)  # fmt: skip
def test_governance_review_deadline_warnings(
    repo: Path, review_by: datetime, days_left: float, warning: str | None
) -> None:
    set_review_by(repo, stamp(review_by))

    report = status_at(repo)

    assert report["governance"]["daysLeft"] == days_left
    assert report["warnings"] == ([warning] if warning else [])
    assert report["governance"]["reviewDue"] is (warning is not None)
    assert report["governance"]["reviewExpired"] is (warning is not None and "expired" in warning)


def test_a_missing_review_deadline_is_a_warning(repo: Path) -> None:
    set_review_by(repo, None)

    report = status_at(repo)

    assert report["governance"]["reviewBy"] is None
    assert report["governance"]["daysLeft"] is None
    assert report["governance"]["reviewDue"] is True
    assert report["warnings"] == ["governance.reviewBy is missing or not a timestamp"]


def test_a_stale_decision_is_flagged_and_pending_expands_are_predicted_rejected(
    repo: Path,
) -> None:
    g.write_decision(repo, "promote", generated_at=FIXED - timedelta(hours=25, minutes=3))
    g.add_intents(repo, {"10-expand.yaml": {"step": 10}})

    report = status_at(repo)

    assert report["decision"]["stale"] is True
    assert report["decision"]["age"] == "25h3m"
    assert report["decision"]["ageSeconds"] == 25 * 3600 + 180
    assert report["warnings"] == [
        "promotion decision is stale: 25h3m old (max 24h); expand and resume will be rejected"
    ]
    (row,) = report["pending"]
    assert (row["status"], row["reasonCodes"]) == ("rejected", ["promotion_decision_stale"])


def test_a_decision_from_the_future_is_flagged(repo: Path) -> None:
    g.write_decision(repo, "promote", generated_at=FIXED + timedelta(minutes=10))
    g.add_intents(repo, {"10-expand.yaml": {"step": 10}})

    report = status_at(repo)

    assert report["decision"]["ageSeconds"] == -600
    assert report["warnings"] == [
        "promotion decision is from the future (2026-11-24T12:10:00Z, more than 5m ahead); "
        "expand and resume will be rejected"
    ]
    (row,) = report["pending"]
    assert row["reasonCodes"] == ["promotion_decision_future"]


def test_a_decision_within_the_clock_skew_is_fresh(repo: Path) -> None:
    g.write_decision(repo, "promote", generated_at=FIXED + timedelta(minutes=4))

    report = status_at(repo)

    assert report["decision"]["stale"] is False
    assert report["warnings"] == []


def test_max_decision_age_comes_from_reconciler_yaml(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings="maxDecisionAge: 1h\n")

    report = status_at(repo)

    assert report["decision"]["maxAge"] == "1h"
    assert report["decision"]["stale"] is True
    assert report["warnings"] == [
        "promotion decision is stale: 6h old (max 1h); expand and resume will be rejected"
    ]


def test_a_hold_decision_lists_its_failed_gates(repo: Path) -> None:
    g.write_decision(repo, "hold", trace_id="gates-hold")
    set_failed_gates(repo, ["outcomeReliability", "drillRecency"])

    report = status_at(repo)

    assert report["decision"]["decision"] == "hold"
    assert report["decision"]["traceId"] == "gates-hold"
    assert report["decision"]["failedGates"] == ["outcomeReliability", "drillRecency"]
    assert report["decision"]["stale"] is False
    assert report["warnings"] == []


def test_a_missing_decision_is_reported_and_only_rollback_is_predicted_applied(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", decision=None)
    g.add_intents(
        repo,
        {
            "10-expand.yaml": {"step": 10},
            "20-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-7"},
        },
    )

    report = status_at(repo)

    decision = report["decision"]
    assert decision["decision"] is None
    assert decision["stale"] is True
    assert decision["reason"] == "promotion_state_missing"
    assert DECISION.rsplit("/", 1)[-1] in decision["problem"]
    assert report["warnings"] == [f"promotion decision unusable: {decision['problem']}"]
    expand, rollback = report["pending"]
    assert (expand["status"], expand["reasonCodes"]) == ("rejected", ["promotion_state_missing"])
    assert rollback["status"] == "applied"
    assert rollback["reasonCodes"] == ["promotion_state_missing", "rollback_without_decision"]
    assert rollback["manualPause"] == {"before": False, "after": True}


def test_an_unreadable_decision_is_reported_with_its_reason(repo: Path) -> None:
    (repo / DECISION).write_text("{not json")

    report = status_at(repo)

    assert report["decision"]["decision"] is None
    assert report["decision"]["reason"] == "promotion_state_invalid"
    assert report["warnings"][0].startswith("promotion decision unusable: ")


# Pending intents -------------------------------------------------------------------------


def test_pending_intents_are_predicted_in_order_on_the_state_each_leaves(
    tmp_path: Path,
) -> None:
    # A resume right after the rollback, on the same decision: pacing off.
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    adding = g.add_intents(
        repo,
        {
            "10-expand.yaml": {"step": 10, "approval_ref": "CAB-1"},
            "20-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-2"},
        },
    )
    g.write_intent(repo, "30-resume.yaml", intent="resume", approval_ref="CAB-3")  # uncommitted
    g.write_intent(repo, "40-typo.yaml", "intent: expand\nexpandStpe: 5\n")

    report = status_at(repo)

    rows = report["pending"]
    assert [row["intentFile"] for row in rows] == [
        f"{INTENTS}/{name}"
        for name in ("10-expand.yaml", "20-rollback.yaml", "30-resume.yaml", "40-typo.yaml")
    ]
    assert [
        (row["status"], row["canary"]["after"], row["manualPause"]["after"]) for row in rows
    ] == [("applied", 35, False), ("applied", 35, True), ("applied", 35, False),
          ("rejected", 35, False)]  # fmt: skip
    assert [row["subject"] for row in rows[:3]] == [
        "expand fleet-a canary 25% -> 35% (CAB-1)",
        "rollback fleet-a: pause at canary 35% (INC-2)",
        "resume fleet-a: paused -> running (CAB-3)",
    ]
    assert [row["intentCommit"] for row in rows] == [adding, adding, None, None]
    assert all(row["commit"] is None for row in rows)
    assert report["posture"]["canaryPercent"] == 25  # the posture is the current one


def test_a_replayed_key_is_predicted_as_replayed(repo: Path) -> None:
    g.add_intents(repo, {"10-expand.yaml": {"step": 10, "idempotencyKey": "k-1"}})
    g.once(repo)
    g.add_intents(repo, {"20-expand.yaml": {"step": 10, "idempotencyKey": "k-1"}})

    report = status_at(repo)

    assert report["posture"]["canaryPercent"] == 35
    assert report["governance"]["approvalRef"] == "CAB-123"
    (row,) = report["pending"]
    assert row["status"] == "replayed"


def test_corrupt_telemetry_is_the_guard_states_problem_and_a_rollback_still_shows_applied(
    repo: Path,
) -> None:
    g.add_intents(repo, {"a.yaml": {"step": 10}})
    g.once(repo)
    with (repo / g.TELEMETRY).open("a") as handle:
        handle.write("not json\n")
    g.commit_all(repo, "damage the telemetry")
    g.add_intents(repo, {"b.yaml": {"intent": "rollback"}})

    report = status_at(repo)

    assert report["guards"]["problem"]["reason"] == "telemetry_corrupt"
    assert [(row["status"], row["action"]) for row in report["pending"]] == [
        ("applied", "rollback")
    ]
    assert report["warnings"][-1].startswith(
        "the progression guards cannot be computed: telemetry file is corrupt"
    )
