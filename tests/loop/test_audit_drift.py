"""Drift: a hand edit holds expand and resume until it is reverted or adopted (real repos)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.reports.auditing import auditor
from tests.support import gitrepos as g

START = 25


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    g.add_intents(repo, {"001-expand.yaml": {"step": 10}})
    assert _pass(repo) == [("001-expand.yaml", "applied", [])]
    return repo


def _pass(repo: Path) -> list[tuple[str, str, list[str]]]:
    report = g.once(repo, audit=auditor(str(repo)))
    return [(row.source.name, row.status, list(row.reasons)) for row in report.outcomes]


def _hand_edit(repo: Path, canary: int) -> str:
    registry = repo / g.REGISTRY
    text = registry.read_text()
    registry.write_text(
        text.replace(f"canaryPercent: {START + 10} ", f"canaryPercent: {canary} ", 1)
    )
    assert registry.read_text() != text
    return g.commit_all(repo, "tweak comments")


def test_a_hand_edit_holds_expand_and_resume_but_not_rollback(repo: Path) -> None:
    _hand_edit(repo, 100)
    g.add_intents(repo, {"002-expand.yaml": {"step": 10}, "003-resume.yaml": {"intent": "resume"}})
    rows = _pass(repo)
    assert [(name, status, reasons[:1]) for name, status, reasons in rows] == [
        ("002-expand.yaml", "rejected", ["audit_drift"]),
        ("003-resume.yaml", "rejected", ["audit_drift"]),
    ]
    problems = json.loads(g.git(repo, "show", f"HEAD:{g.TELEMETRY}").splitlines()[-1])["errors"]
    assert "revert the hand edit or merge an adopt intent" in problems[0]
    g.add_intents(repo, {"004-rollback.yaml": {"intent": "rollback"}})
    assert _pass(repo) == [("004-rollback.yaml", "applied", [])]


def test_an_adopt_records_the_hand_edit_as_the_new_baseline(repo: Path) -> None:
    edit = _hand_edit(repo, 100)
    g.add_intents(repo, {"002-adopt.yaml": {"intent": "adopt", "approval_ref": "INC-7"}})
    assert _pass(repo) == [("002-adopt.yaml", "applied", [])]
    assert g.trailers(repo, "HEAD")["Reconcile-Action"] == "adopt"
    assert (
        g.subject(repo, "HEAD") == "adopt fleet-a: canary 100%, running as the new baseline (INC-7)"
    )
    record = g.records(repo)[-1]
    assert record["intent"] == "adopt"
    assert record["rollout"]["before"] == {"canaryPercent": START + 10, "manualPause": False}
    assert record["rollout"]["after"] == {"canaryPercent": 100, "manualPause": False}
    assert g.canary(repo) == 100
    assert edit in g.git(repo, "log", "--format=%H")
    g.add_intents(repo, {"003-rollback.yaml": {"intent": "rollback", "to_percent": 50}})
    g.add_intents(repo, {"004-resume.yaml": {"intent": "resume"}})
    assert [row[1] for row in _pass(repo)] == ["applied", "applied"]
    done = g.reconcile(repo, "verify", "--repo", str(repo))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_revert_of_the_hand_edit_clears_the_drift(repo: Path) -> None:
    edit = _hand_edit(repo, 100)
    g.git(repo, "revert", "--no-edit", edit)
    g.add_intents(repo, {"002-expand.yaml": {"step": 10}})
    assert _pass(repo) == [("002-expand.yaml", "applied", [])]
    assert g.canary(repo) == START + 20


def test_status_and_verify_show_the_drift_and_the_cli_pass_holds_it(repo: Path) -> None:
    _hand_edit(repo, 100)
    g.add_intents(repo, {"002-expand.yaml": {"step": 10}})
    status = g.reconcile(repo, "status", "--repo", str(repo), "--json")
    doc = json.loads(status.stdout)
    assert doc["audit"]["blocking"][0].startswith("hand_edit ")
    assert doc["pending"][0]["reasonCodes"] == ["audit_drift"]
    text = g.reconcile(repo, "status", "--repo", str(repo)).stdout
    assert "audit: 1 blocking finding(s), expand and resume wait" in text
    assert g.reconcile(repo, "verify", "--repo", str(repo)).returncode == 4
    done = g.run_cli(repo, "--json")
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["reasonCodes"] == ["audit_drift"]


def test_an_expand_after_an_adopt_in_the_same_pass_is_decided_on_the_adopted_state(
    repo: Path,
) -> None:
    _hand_edit(repo, 60)
    g.add_intents(
        repo,
        {
            "002-rollback.yaml": {"intent": "rollback"},
            "003-adopt.yaml": {"intent": "adopt"},
            "004-resume.yaml": {"intent": "resume"},
        },
    )
    assert [row[:2] for row in _pass(repo)] == [
        ("002-rollback.yaml", "applied"),
        ("003-adopt.yaml", "applied"),
        ("004-resume.yaml", "applied"),
    ]
    adopt = [r for r in g.all_records(repo) if r.get("intent") == "adopt"][-1]
    # Its baseline is the rollback's record, applied earlier in the same pass.
    assert adopt["rollout"]["before"] == {"canaryPercent": 60, "manualPause": True}
    assert adopt["rollout"]["changed"] == {"canaryPercent": False, "manualPause": False}


def test_an_audit_that_crashes_never_stops_a_rollback(repo: Path) -> None:
    def broken(_checkout: object, _fleet: str | None) -> list[str]:
        raise RecursionError("maximum recursion depth exceeded")

    g.add_intents(
        repo, {"002-expand.yaml": {"step": 5}, "003-rollback.yaml": {"intent": "rollback"}}
    )
    report = g.once(repo, audit=broken)
    rows = [(row.source.name, row.status, list(row.reasons)[:1]) for row in report.outcomes]
    assert rows == [
        ("002-expand.yaml", "rejected", ["audit_drift"]),
        ("003-rollback.yaml", "applied", []),
    ]
    assert "the audit could not run: RecursionError" in report.outcomes[0].problems[0]


def test_a_drift_refusal_lists_at_most_twenty_findings(repo: Path) -> None:
    lines = [f"hand_edit {n:040d} policies/intents/applied/{n}.yaml: added" for n in range(500)]
    g.add_intents(repo, {"002-expand.yaml": {"step": 5}})
    report = g.once(repo, audit=lambda _checkout, _fleet: lines)
    (row,) = report.outcomes
    assert row.reasons == ("audit_drift",)
    assert len(row.problems) == 1 + 20 + 1  # the message, twenty findings, the count
    assert row.problems[-1] == "... and 480 more (reconcile verify lists them)"
