"""The status page's document on real repositories: one fleet, the history, the audit."""

from __future__ import annotations

from pathlib import Path

from reconciler.reports.status import repo_status
from reconciler.reports.status_page import HISTORY_SHOWN, fleet_json, page_document
from tests.support import gitrepos as g
from tests.support.gitrepos import FIXED, INTENTS


def test_the_document_holds_the_status_of_its_one_fleet_and_the_history(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.write_intent(repo, "20261124-expand.yaml", step=5, actor="mallory<b>")
    g.commit_all(repo, "intent")
    g.once(repo)
    g.write_intent(repo, "20261125-expand.yaml", step=5)
    doc = page_document(str(repo), now=lambda: FIXED, controller={"ready": True})

    report = repo_status(str(repo), now=lambda: FIXED)
    assert doc["fleets"] == [fleet_json(report)]
    [fleet] = doc["fleets"]
    assert (fleet["fleetId"], fleet["canaryPercent"], fleet["state"]) == ("fleet-a", 30, "running")
    assert fleet["governance"]["actor"] == "mallory<b>"
    assert [p["intentFile"] for p in fleet["pending"]] == [f"{INTENTS}/20261125-expand.yaml"]
    [entry] = doc["history"]
    assert (entry["fleet"], entry["action"], entry["status"]) == ("fleet-a", "expand", "applied")
    assert entry["canary"] == {"before": 25, "after": 30}
    assert entry["verification"] == "unsigned"
    assert doc["audit"] == report["audit"]
    assert doc["controller"] == {"ready": True}
    assert doc["generatedAt"] == "2026-11-24T12:00:00Z"


def test_the_governance_warning_comes_within_seven_days() -> None:
    report = {
        "posture": {"fleetId": "f", "canaryPercent": 5, "manualPause": True, "mode": "m"},
        "governance": {"daysLeft": 6.9, "reviewDue": True},
        "decision": {},
        "guards": {},
        "pending": [],
        "deferred": [],
    }
    assert fleet_json(report)["governance"]["warning"] is True
    assert fleet_json(report)["state"] == "paused"
    report["governance"] = {"daysLeft": 7.1, "reviewDue": False}
    assert fleet_json(report)["governance"]["warning"] is False
    # `status`'s own rule, not the rounded days: 6.99 days shows as 7.0 and is due (the CLI
    # warned while the page did not).
    report["governance"] = {"daysLeft": 7.0, "reviewDue": True}
    assert fleet_json(report)["governance"]["warning"] is True
    report["governance"] = {"daysLeft": None, "reviewDue": True}
    assert fleet_json(report)["governance"]["warning"] is True
    assert HISTORY_SHOWN == 50
