"""The loop's edges a cold review found: hostile history, crash states, hooks, odd settings.

In-process passes on real git repositories (the edges that need a real process:
tests/e2e/test_loop_hardening.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.loop import checkout as checkouts
from reconciler.loop import head_move, remote
from tests.support import gitrepos as g
from tests.support.loops import marker


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")


@pytest.mark.parametrize(
    "path",
    [
        "policies/intents/../../../tmp/pwned.gitconfig",
        "policies/intents/applied/x.yaml",
        "policies/x.yaml",
        "/etc/passwd",
        "policies/intents/..",
        "policies/intents/",
    ],
)
def test_only_files_directly_in_the_intents_folder_are_ever_consumed_or_restored(
    path: str,
) -> None:
    with pytest.raises(RefusalError) as caught:
        head_move.check_pending_path(path, "policies/intents")
    assert caught.value.reason == "journal_corrupt"
    head_move.check_pending_path("policies/intents/a.yaml", "policies/intents")


def test_a_forged_trailer_in_history_never_writes_outside_the_intents_folder(
    tmp_path: Path,
) -> None:
    seed = g.make_policy_repo(tmp_path / "seed")
    bare = g.make_remote(tmp_path, seed)
    a = g.clone(bare, tmp_path / "a")
    # A local commit, made as the bot, whose trailer points outside the repository.
    (a / g.INTENTS / "applied").mkdir(parents=True)
    (a / g.INTENTS / "applied" / "m.yaml").write_text("intent: rollback\n")
    g.git(a, "add", "-A")
    message = "forged\n\nReconcile-Intent: ../../pwned.txt\nReconcile-Status: applied\n"
    env = {**os.environ, "GIT_AUTHOR_EMAIL": "reconciler@localhost"}
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=a, check=True, env=env)
    g.git(seed, "commit", "-q", "--allow-empty", "-m", "upstream moves on")
    g.git(seed, "push", "-q", "origin", "main")
    g.git(a, "fetch", "-q", "origin")

    restored = remote.rescue_intents(
        checkouts.open_checkout(str(a)), g.head(a, "origin/main"), g.INTENTS
    )

    assert restored == []
    assert not (tmp_path / "pwned.txt").exists()


def test_recovery_does_not_delete_pending_intents_beside_the_telemetry(tmp_path: Path) -> None:
    settings = "applyTelemetryFile: policies/promotion-apply.jsonl\n"
    repo = g.make_policy_repo(tmp_path / "repo", settings=settings)
    g.write_intent(repo, "p2.yaml", step=5)  # untracked, pending
    head = g.head(repo)
    doc = {"old": head, "new": head, "consumed": [], "restored": []}
    marker(repo).write_text(json.dumps(doc))

    report = g.once(repo)

    assert report.recovered
    assert g.statuses(report) == [("p2.yaml", "applied")]
    assert g.status(repo) == ""


def test_recovery_finishes_a_fast_forward_killed_before_its_files_were_written(
    repo: Path,
) -> None:
    old = g.head(repo)
    g.add_intents(repo, {"pr1.yaml": {"step": 5}})
    (repo / "other.txt").write_text("operator file\n")
    new = g.commit_all(repo, "another change")
    # The branch moved (update-ref done), the files did not (read-tree never ran).
    g.git(repo, "read-tree", "-m", "-u", new, old)
    g.git(repo, "update-ref", "refs/heads/main", new)
    doc = {"old": old, "new": new, "consumed": [], "restored": []}
    marker(repo).write_text(json.dumps(doc))

    report = g.once(repo)

    assert report.recovered
    assert (repo / "other.txt").read_text() == "operator file\n"
    assert g.statuses(report) == [("pr1.yaml", "applied")]
    assert g.status(repo) == ""


def test_recovery_refuses_a_file_changed_after_the_crash_and_keeps_it(repo: Path) -> None:
    old = g.head(repo)
    (repo / "other.txt").write_text("v1\n")
    new = g.commit_all(repo, "add other")
    g.git(repo, "read-tree", "-m", "-u", new, old)
    g.git(repo, "update-ref", "refs/heads/main", new)
    (repo / "other.txt").write_text("someone's edit\n")
    marker(repo).write_text(json.dumps({"old": old, "new": new, "consumed": [], "restored": []}))

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "worktree_dirty"
    assert (repo / "other.txt").read_text() == "someone's edit\n"


def test_a_huge_untracked_intent_is_rejected_as_a_small_note_not_committed_whole(
    repo: Path,
) -> None:
    big = g.write_intent(repo, "big.yaml", b"x" * (10 * 1024 * 1024))

    report = g.once(repo)

    assert g.statuses(report) == [("big.yaml", "rejected")]
    note = g.show_file(repo, "HEAD", f"{g.INTENTS}/rejected/big.yaml")
    assert len(note) < 1024
    assert "10485760 bytes" in note
    assert not big.exists()
    assert g.status(repo) == ""


def test_a_symlinked_intent_is_recorded_as_a_note_naming_its_target(repo: Path) -> None:
    (repo / g.INTENTS).mkdir(parents=True, exist_ok=True)
    os.symlink("/etc/passwd", repo / g.INTENTS / "pw.yaml")

    report = g.once(repo)

    assert g.statuses(report) == [("pw.yaml", "rejected")]
    mode = g.git(repo, "ls-tree", "HEAD", f"{g.INTENTS}/rejected/pw.yaml").split()[0]
    assert mode == "100644"
    assert "/etc/passwd" in g.show_file(repo, "HEAD", f"{g.INTENTS}/rejected/pw.yaml")
    assert g.status(repo) == ""


@pytest.mark.parametrize(
    ("folder", "reason"),
    [
        ("policies", "layout_paths_collide"),
        (".", "layout_paths_collide"),
        # Issue 9: a managed path inside .git has its own code, for every command.
        (".git/queue", "layout_path_in_git_dir"),
        ("policies/state", "layout_paths_collide"),
    ],
)
def test_an_intents_folder_holding_other_files_is_refused(
    tmp_path: Path, folder: str, reason: str
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings=f"intentsDir: {folder}\n")

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == reason


def test_a_push_refused_by_a_hook_is_not_retried_and_keeps_the_commits(tmp_path: Path) -> None:
    seed = g.make_policy_repo(tmp_path / "seed")
    bare = g.make_remote(tmp_path, seed)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'bot pushes need a signed commit' >&2\nexit 1\n")
    hook.chmod(0o755)
    a = g.clone(bare, tmp_path / "a")
    g.add_intents(a, {"a.yaml": {"step": 5}})

    with pytest.raises(RefusalError) as caught:
        g.once(a, push=True)

    assert caught.value.reason == "push_rejected"
    assert "signed commit" in caught.value.message
    assert g.bot_commits(a) and g.status(a) == ""
