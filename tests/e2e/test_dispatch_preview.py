"""`reconcile dispatch --mode dry_run` needs no governance flags (issue 9, item 17).

The bash orchestrator, and the issue that defined `dispatch`, require governance only for
apply and rollback: a preview shows what the decision and the registry allow. Given flags are
still checked. Real processes on real git repositories; nothing may be written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import recent, reconcile


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo", generated_at=recent())


def tree(repo: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(repo)): path.read_bytes()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(repo).parts
    }


def test_dry_run_without_governance_previews(repo: Path, tmp_path: Path) -> None:
    before, head = tree(repo), g.head(repo)
    result_file = tmp_path / "result.json"

    done = reconcile(
        repo, "dispatch", "--mode", "dry_run", "--apply-intent", "expand", "--expand-step", "10",
        "--json", "--result-file", str(result_file),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["predicted"]) == ("preview", "applied")
    assert result["canary"] == {"before": 25, "after": 35}
    assert result["subject"] == "expand fleet-a canary 25% -> 35% (dry-run)"
    assert result["record"]["governance"]["actor"] == "dry-run"
    assert json.loads(result_file.read_text()) == result
    assert tree(repo) == before and g.head(repo) == head


def test_dry_run_with_some_governance_uses_what_is_given(repo: Path) -> None:
    done = reconcile(repo, "dispatch", "--mode", "dry_run", "--by", "alice", "--json")

    assert done.returncode == 0, done.stderr
    governance = json.loads(done.stdout)["record"]["governance"]
    assert (governance["actor"], governance["approvalRef"]) == ("alice", "dry-run")


def test_dry_run_still_checks_a_given_review_by(repo: Path) -> None:
    done = reconcile(
        repo, "dispatch", "--mode", "dry_run", "--review-by", "2020-01-01T00:00:00Z", "--json"
    )

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "reason: intent_review_by_past"


def test_dry_run_under_hold_without_governance_predicts_the_rejection(repo: Path) -> None:
    g.write_decision(repo, "hold", generated_at=recent())

    done = reconcile(repo, "dispatch", "--mode", "dry_run", "--json")

    assert done.returncode == 3
    assert json.loads(done.stdout)["reasonCodes"] == ["promotion_decision_not_promote"]


@pytest.mark.parametrize("mode", ["apply", "rollback"])
def test_apply_and_rollback_still_require_governance(repo: Path, mode: str) -> None:
    before = tree(repo)

    done = reconcile(repo, "dispatch", "--mode", mode)

    assert done.returncode == 1
    assert done.stderr == f"error: --by is required for mode {mode}\nreason: governance_missing\n"
    assert tree(repo) == before
