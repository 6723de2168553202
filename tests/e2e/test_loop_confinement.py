"""Issue 9: the loop's commands refuse reconciler.yaml paths out of the repository or in .git.

`--once`, `status`, `plan` (and `apply`, `validate`: tests/inputs/test_layouts_confinement.py)
refuse the same settings with the same code, before anything is read or consumed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import gitrepos as g


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("applyTelemetryFile: ../outside/.profile", "layout_path_outside_repo"),
        ("applyTelemetryFile: {outside}/.profile", "layout_path_outside_repo"),
        ("applyTelemetryFile: linked/.profile", "layout_path_outside_repo"),
        ("applyStateFile: .git/x.json", "layout_path_in_git_dir"),
        ("applyStateFile: .Git/x.json", "layout_path_in_git_dir"),
    ],
    ids=["dotdot", "absolute", "symlinked-folder", "git-dir", "git-dir-case"],
)
def test_every_loop_command_refuses_the_setting_with_one_code(
    tmp_path: Path, setting: str, reason: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".profile").write_text("export X=1\n")
    repo = g.make_policy_repo(tmp_path / "repo", settings=setting.format(outside=outside) + "\n")
    (repo / "linked").symlink_to(outside)  # untracked: the settings alone must refuse
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})
    head = g.head(repo)

    for command in (["--once", "--repo", "."], ["status", "--repo", "."], ["plan", "--repo",
                    ".", "--base", "HEAD~1"], ["validate", "--repo", "."]):  # fmt: skip
        done = g.reconcile(repo, *command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert f"reason: {reason}" in done.stderr, (command, done.stderr)

    assert g.head(repo) == head
    assert g.pending(repo) == ["a.yaml"]
    assert (outside / ".profile").read_text() == "export X=1\n"
    assert not (repo / ".git" / "x.json").exists()


def test_a_state_file_in_git_is_refused_before_any_commit_and_the_fix_just_works(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings="applyStateFile: .git/x.json\n")
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    done = g.run_cli(repo)
    assert done.returncode == 1
    assert "reason: layout_path_in_git_dir" in done.stderr
    assert g.bot_commits(repo) == []
    assert "worktree_dirty" not in done.stderr

    (repo / "reconciler.yaml").write_text("applyStateFile: policies/state/x.json\n")
    g.commit_all(repo, "state out of .git")
    fixed = g.run_cli(repo)
    assert fixed.returncode == 0, fixed.stderr
    assert g.pending(repo) == []
    assert g.status(repo) == ""
    assert "policies/state/x.json" in g.git(repo, "ls-tree", "-r", "--name-only", "HEAD")
