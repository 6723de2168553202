"""The test support's own `git daemon` remote (tests/support/daemons.py): it serves and stops.

In-process (git processes only); the replicas that use it run in tests/e2e/test_daemon_replicas.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import daemons as d
from tests.support import gitrepos as g
from tests.support.daemons import Remote


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with d.served_seed(tmp_path) as served:
        yield served


def test_git_daemon_fixture_serves_pushes_and_stops(tmp_path: Path, remote: Remote) -> None:
    other = d.clone_url(remote.daemon.url(), tmp_path / "other")
    g.write_intent(other, "x.yaml")
    g.commit_all(other, "one intent")
    g.git(other, "push", "-q", "origin", "main")
    assert g.head(remote.bare, "main") == g.head(other)
    remote.daemon.stop()
    failed = subprocess.run(
        ["git", "-C", str(other), "fetch", "-q", "origin"], capture_output=True, check=False
    )
    assert failed.returncode != 0
