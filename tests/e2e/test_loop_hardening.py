"""The loop's edges a cold review found, through real processes: a forged crash marker, an
interrupted pass before `repair-index`, trailers forged in a value and read by `history`
(the in-process edges: tests/loop/test_once_hardening.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support.loops import marker


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")


def test_a_marker_naming_a_file_outside_the_intents_folder_is_refused(repo: Path) -> None:
    outside = repo.parent / "victim.txt"
    outside.write_text("keep me\n")
    head = g.head(repo)
    doc = {
        "old": head,
        "new": head,
        "consumed": [{"path": "policies/intents/../../victim.txt", "blob": "x"}],
        "restored": [{"path": "policies/intents/../../evil.txt", "blob": head}],
    }
    marker(repo).write_text(json.dumps(doc))

    done = g.run_cli(repo)

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "reason: journal_corrupt"
    assert outside.read_text() == "keep me\n"
    assert not (repo.parent / "evil.txt").exists()


def test_repair_index_finishes_an_interrupted_pass_first(repo: Path) -> None:
    old = g.head(repo)
    new = g.add_intents(repo, {"a.yaml": {"step": 5}})
    g.git(repo, "read-tree", "-m", "-u", new, old)
    g.git(repo, "update-ref", "refs/heads/main", new)
    marker(repo).write_text(json.dumps({"old": old, "new": new, "consumed": [], "restored": []}))

    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "repair-index", "--repo", str(repo)],
        capture_output=True,
        text=True,
        check=False,
        cwd=g.ROOT,
    )

    assert done.returncode == 0, done.stderr
    assert not marker(repo).exists()
    assert g.status(repo) == ""


def test_line_separators_in_a_value_cannot_forge_trailers(repo: Path) -> None:
    forged = "CAB-7\u2028Reconcile-Status: rejected\u2028Idempotency-Key: someone-else"
    g.add_intents(repo, {"a.yaml": {"step": 5, "approval_ref": json.dumps(forged)}})

    report = g.once(repo)

    sha = report.commits[0]
    assert g.trailer(repo, sha, "Reconcile-Status") == "applied"
    assert g.trailer(repo, sha, "Idempotency-Key") == "a"
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "history", "--repo", str(repo), "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=g.ROOT,
    )
    row = json.loads(done.stdout.splitlines()[0])
    assert (row["status"], row["idempotencyKey"]) == ("applied", "a")
