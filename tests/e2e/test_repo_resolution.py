"""One repository resolution for every command: `--repo` names the policy repository.

Issue 10: `history --repo <subfolder>` failed (`not_a_git_repo`) while `--once` and
`status` accepted a policy repository in a subfolder of a git worktree. Every command now
takes the folder given as the policy repository (`inputs.layouts.resolve_repo`) inside the
git worktree that holds it (`loop.checkout.open_checkout`). Real processes, so each
command's own flag handling is in the path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import gitrepos as g

GOVERNANCE = [
    "--by", "alice", "--approval-ref", "CAB-9", "--rationale", "subfolder", "--review-by",
    g.REVIEW_BY,
]  # fmt: skip
COMMANDS = {
    "once-dry-run": ["--once", "--dry-run"],
    "status": ["status"],
    "history": ["history"],
    "plan": ["plan", "--base", "main"],
    "validate": ["validate"],
    "dispatch": ["dispatch", "--mode", "dry_run"],
    "intent-new": ["intent", "new", "expand", "--step", "5", *GOVERNANCE],
    "repair-index": ["repair-index", "--no-commit"],
}


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """A git worktree whose policy repository is its subfolder `fleet/` (one pending intent)."""
    top = tmp_path / "monorepo"
    top.mkdir()
    g.git(top, "init", "-q", "-b", "main")
    shutil.copytree(g.EXAMPLE, top / "fleet" / "policies")
    g.write_decision(top / "fleet", generated_at=g.recent())
    g.write_intent(top / "fleet", "10-expand.yaml", step=10)
    (top / "docs").mkdir()
    (top / "docs" / "README.md").write_text("not policies\n")
    g.commit_all(top, "a policy repository in fleet/")
    return top


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_every_command_takes_a_policy_repository_in_a_subfolder(
    worktree: Path, tmp_path: Path, args: list[str]
) -> None:
    done = g.reconcile(tmp_path, *args, "--repo", str(worktree / "fleet"))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "error:" not in done.stderr


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_every_command_takes_the_subfolder_as_the_current_folder(
    worktree: Path, args: list[str]
) -> None:
    done = g.reconcile(worktree / "fleet", *args)

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_loop_status_and_history_see_the_same_repository(worktree: Path) -> None:
    fleet = str(worktree / "fleet")

    assert g.reconcile(worktree, "--once", "--repo", fleet).returncode == 0
    status = g.reconcile(worktree, "status", "--repo", fleet)
    mine = g.json_lines(g.reconcile(worktree, "history", "--repo", fleet, "--json").stdout)
    everything = g.json_lines(g.reconcile(worktree, "history", "--json").stdout)
    other = g.reconcile(worktree, "history", "--repo", str(worktree / "docs"))

    assert status.stdout.startswith("fleet fleet-a: canary 35%"), status.stdout
    assert [doc["commit"] for doc in mine] == [g.head(worktree)]
    assert mine[0]["intentFile"] == "fleet/policies/intents/10-expand.yaml"
    assert everything == mine  # the worktree's top: every policy repository in it
    assert (other.returncode, other.stdout) == (0, "no reconcile commits yet\n")


def test_a_folder_in_no_git_worktree_is_refused_alike(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(g.EXAMPLE, plain / "policies")

    for args in (["--once"], ["status"], ["history"], ["plan"]):
        done = g.reconcile(tmp_path, *args, "--repo", str(plain))
        assert done.returncode == 1, (args, done.stderr)
        assert "reason: not_a_git_repo" in done.stderr, (args, done.stderr)
