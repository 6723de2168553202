"""Issue 9: `reconcile --once --push` as a real process refuses a committed symlinked folder.

Nothing is consumed, committed or pushed, and the host folder the link points at is never
read or written (the pass in-process, every other symlink: tests/loop/test_symlinks.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support import gitrepos as g
from tests.support.hostfiles import HOST_LINE, host_dir, link_folder


def test_a_committed_symlinked_telemetry_folder_is_refused_by_once_push(tmp_path: Path) -> None:
    host = host_dir(tmp_path)
    repo = g.make_policy_repo(tmp_path / "repo")
    link_folder(repo, "policies/telemetry", host)
    g.commit_all(repo, "telemetry elsewhere")
    bare = g.make_remote(tmp_path, repo)
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})
    g.git(repo, "push", "-q", "origin", "main")
    remote_head = g.head(bare, "main")

    done = g.run_cli(repo, "--push")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "reason: layout_path_outside_repo" in done.stderr
    assert (host / "promotion-apply.jsonl").read_bytes() == HOST_LINE
    assert sorted(p.name for p in host.iterdir()) == ["promotion-apply.jsonl"]
    assert g.head(bare, "main") == remote_head
    assert g.bot_commits(repo) == []
    assert g.pending(repo) == ["a.yaml"]
    assert os.path.islink(repo / "policies" / "telemetry")
