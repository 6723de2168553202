"""A rollback always leaves the fleet paused: real processes on real git repos.

Issue 9, item 2: registry problems outside the fields a rollback writes are noted in its record
instead of blocking it, as `--once`, `apply`, `status`, `plan` and `validate --intents`
run by an operator or CI (the loop and `dispatch` in-process: tests/loop/test_once_rollback.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import REGISTRY
from tests.support.loops import break_registry, paused

ELSEWHERE = "registry_invalid_elsewhere"
TYPO = "loops[0]: transport must be local or sprite_service"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")


def test_once_applies_a_rollback_despite_a_typo_elsewhere(repo: Path) -> None:
    break_registry(repo)
    g.add_intents(repo, {"a-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-9"}})

    done = g.run_cli(repo, "--json")

    assert done.returncode == 0, done.stderr
    row = g.json_lines(done.stdout)[0]
    assert (row["status"], row["reasonCodes"]) == ("applied", [ELSEWHERE])
    assert row["problems"] == [TYPO]
    assert paused(repo)
    assert "transport: locall" in (repo / REGISTRY).read_text()  # left for the operator
    record = g.records(repo)[-1]
    assert record["warnings"] == [TYPO]
    assert g.state(repo) == record
    assert TYPO in g.git(repo, "log", "-1", "--format=%B")
    assert g.pending(repo) == [] and g.status(repo) == ""


def test_with_a_rollback_pending_expands_are_rejected_not_left_to_undo_it(repo: Path) -> None:
    g.write_decision(repo, "promote", generated_at=g.recent())  # fresh for the real clock
    break_registry(repo)
    g.add_intents(
        repo,
        {
            "a-expand.yaml": {"step": 10},
            "b-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-9"},
            "c-resume.yaml": {"intent": "resume"},
        },
    )

    done = g.run_cli(repo, "--json")

    assert done.returncode == 3, done.stderr
    rows = g.json_lines(done.stdout)[:3]
    assert [(r["intentFile"].rsplit("/", 1)[-1], r["status"]) for r in rows] == [
        ("a-expand.yaml", "rejected"),
        ("b-rollback.yaml", "applied"),
        ("c-resume.yaml", "rejected"),
    ]
    assert rows[0]["reasonCodes"] == rows[2]["reasonCodes"] == ["registry_invalid"]
    assert rows[0]["problems"] == ["invalid fleet registry: policies/registry.yaml", TYPO]
    assert rows[0]["subject"] == "reject a-expand: registry invalid"
    assert paused(repo)
    assert g.pending(repo) == []


def test_without_a_rollback_pending_a_typo_still_stops_the_pass(repo: Path) -> None:
    break_registry(repo)
    g.add_intents(repo, {"a.yaml": {}})
    before = g.head(repo)

    done = g.run_cli(repo)

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "reason: registry_invalid"
    assert g.head(repo) == before
    assert g.pending(repo) == ["a.yaml"]


def test_status_and_plan_predict_the_rollback_on_that_registry(repo: Path) -> None:
    break_registry(repo)
    g.git(repo, "switch", "-q", "-c", "incident")
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    status = g.reconcile(repo, "status", "--json")
    plan = g.reconcile(repo, "plan", "--base", "main", "--json")

    assert status.returncode == 0, status.stderr
    pending = json.loads(status.stdout)["pending"]
    assert [(p["status"], p["reasonCodes"]) for p in pending] == [("applied", [ELSEWHERE])]
    assert plan.returncode == 0, plan.stderr


def test_apply_cli_rolls_back_despite_the_typo(repo: Path) -> None:
    break_registry(repo)

    done = g.reconcile(repo, "apply", "--repo", ".", "--intent", "rollback", *GOVERNANCE)

    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["reasonCodes"] == [ELSEWHERE]
    assert record["warnings"] == [TYPO]
    assert done.stderr == ""
    assert paused(repo)


GOVERNANCE = [
    "--by", "bob", "--approval-ref", "INC-9", "--rationale", "error spike",
    "--review-by", "2099-01-01T00:00:00Z",
]  # fmt: skip


def test_validate_intents_accepts_such_a_rollback(repo: Path) -> None:
    path = g.write_intent(repo, "a.yaml", g.intent_text("rollback", colour="red"))

    done = g.reconcile(repo, "validate", "--intents", str(path))

    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        done.stdout == f'{path}: ok, with notes (intent_unknown_field)\n - unknown field "colour"\n'
    )
