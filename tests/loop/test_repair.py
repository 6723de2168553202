"""`loop.repair.repair_index` in-process on real git repositories, where the commit time matters.

The repositories get their telemetry from real `--once` passes (in-process, fixed clock); the
command `reconcile repair-index` runs as a real process in tests/e2e/test_repair_index.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.loop.repair import repair_index
from tests.support import gitrepos as g
from tests.support.gitrepos import FIXED, INDEX
from tests.support.loops import two_passes


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository after two passes: two applied keys in the telemetry and its index."""
    return two_passes(tmp_path)


def test_a_corrupt_committed_index_is_rebuilt_in_one_commit(repo: Path) -> None:
    good = (repo / INDEX).read_bytes()
    (repo / INDEX).write_text('{"schemaVersion":"v1","keys":{}}\n')
    operator = g.commit_all(repo, "hand edit of the index")

    result = repair_index(str(repo), commit=True, now=lambda: FIXED)

    assert result["changed"] == [str(repo / INDEX)]
    assert result["keys"] == 2
    sha = result["commit"]
    assert sha == g.head(repo)
    assert g.git(repo, "rev-parse", f"{sha}^") == operator
    assert g.subject(repo, sha) == "repair telemetry index (promotion-apply-index.json)"
    assert g.git(repo, "log", "-1", "--format=%an <%ae>", sha) == g.BOT
    assert g.git(repo, "log", "-1", "--format=%at", sha) == str(int(FIXED.timestamp()))
    assert g.name_status(repo, sha) == {("M", INDEX)}
    assert (repo / INDEX).read_bytes() == good
    assert g.status(repo) == ""
