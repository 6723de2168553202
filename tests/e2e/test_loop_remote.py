"""`reconcile --once --push` as a real process against an unreachable remote: exit 75.

The push races between two clones run in-process in tests/loop/test_remote.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.support import gitrepos as g


def test_an_unreachable_remote_exits_75_retryable_and_consumes_nothing(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.git(repo, "remote", "add", "origin", str(tmp_path / "gone.git"))
    g.add_intents(repo, {"a.yaml": {}})
    before = g.head(repo)

    done = g.run_cli(repo, "--push", "--json")

    assert done.returncode == 75  # EX_TEMPFAIL: retryable
    assert done.stderr.splitlines()[-1] == "reason: remote_unavailable"
    assert g.head(repo) == before
    assert g.pending(repo) == ["a.yaml"]
    assert g.status(repo) == ""
