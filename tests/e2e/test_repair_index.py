"""`reconcile repair-index` on real git repositories: rebuild the key indexes, commit once.

The repositories get their telemetry from real `--once` passes (in-process, fixed clock);
the command then runs as a real process (in-process, where the commit time matters:
tests/loop/test_repair.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import INDEX, SEGMENTS, TELEMETRY, reconcile
from tests.support.loops import two_passes


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository after two passes: two applied keys in the telemetry and its index."""
    return two_passes(tmp_path)


def repair_json(repo: Path, *args: str) -> dict[str, Any]:
    done = reconcile(repo, "repair-index", "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_healthy_repository_needs_nothing(repo: Path) -> None:
    head = g.head(repo)

    result = repair_json(repo)
    text = reconcile(repo, "repair-index")

    assert result == {"changed": [], "keys": 2, "segments": 1, "commit": None}
    assert text.returncode == 0
    assert text.stdout == (
        "indexes agree with the records (2 keys, 1 segment(s)); nothing changed\n"
    )
    assert g.head(repo) == head
    assert g.status(repo) == ""


def test_a_repository_without_telemetry_needs_nothing(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    head = g.head(repo)

    result = repair_json(repo)

    assert result == {"changed": [], "keys": 0, "segments": 1, "commit": None}
    assert g.head(repo) == head
    assert g.status(repo) == ""


def test_a_missing_index_is_rebuilt_and_committed_by_the_command(repo: Path) -> None:
    good = (repo / INDEX).read_bytes()
    (repo / INDEX).unlink()
    operator = g.commit_all(repo, "index deleted")

    result = repair_json(repo)

    assert result["changed"] == [str(repo / INDEX)]
    assert g.git(repo, "rev-parse", f"{result['commit']}^") == operator
    assert g.name_status(repo, "HEAD") == {("A", INDEX)}
    assert (repo / INDEX).read_bytes() == good
    assert g.status(repo) == ""
    assert repair_json(repo)["changed"] == []


def test_a_damaged_worktree_copy_is_restored_without_an_empty_commit(repo: Path) -> None:
    good = (repo / INDEX).read_bytes()
    head = g.head(repo)
    (repo / INDEX).write_text("garbage")

    result = repair_json(repo)

    assert result["changed"] == [str(repo / INDEX)]
    assert result["commit"] is None
    assert g.head(repo) == head
    assert (repo / INDEX).read_bytes() == good
    assert g.status(repo) == ""


def test_an_uncommitted_deletion_is_restored_and_a_committed_corruption_fixed(
    repo: Path,
) -> None:
    good = (repo / INDEX).read_bytes()
    (repo / INDEX).write_text("{}\n")
    operator = g.commit_all(repo, "bad index")
    (repo / INDEX).unlink()

    done = reconcile(repo, "repair-index")

    assert done.returncode == 0, done.stderr
    sha = g.head(repo)
    assert sha != operator
    assert done.stdout == f"rebuilt {repo / INDEX} (2 keys); committed {sha[:12]}\n"
    assert g.name_status(repo, sha) == {("M", INDEX)}
    assert (repo / INDEX).read_bytes() == good
    assert g.status(repo) == ""


def test_no_commit_only_writes_the_files(repo: Path) -> None:
    good = (repo / INDEX).read_bytes()
    (repo / INDEX).write_text("{}\n")
    operator = g.commit_all(repo, "bad index")

    result = repair_json(repo, "--no-commit")

    assert result["changed"] == [str(repo / INDEX)]
    assert result["commit"] is None
    assert g.head(repo) == operator
    assert (repo / INDEX).read_bytes() == good
    assert g.status(repo) == f" M {INDEX}"


def test_a_corrupt_telemetry_line_is_refused(repo: Path) -> None:
    telemetry = repo / TELEMETRY
    telemetry.write_text(telemetry.read_text() + "{not json\n")
    g.commit_all(repo, "corrupt telemetry")
    head = g.head(repo)
    index = (repo / INDEX).read_bytes()

    done = reconcile(repo, "repair-index")

    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert done.stderr.splitlines()[-1] == "reason: telemetry_corrupt"
    assert g.head(repo) == head
    assert (repo / INDEX).read_bytes() == index
    assert g.status(repo) == ""


def test_a_rotated_history_rebuilds_both_indexes(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings="telemetryRotateBytes: 1024\n")
    for number in range(3):
        g.add_intents(repo, {f"{number}-rollback.yaml": {"intent": "rollback"}})
        g.once(repo)
    assert (repo / SEGMENTS).exists()
    good = {path: (repo / path).read_bytes() for path in (INDEX, SEGMENTS)}
    for path in (INDEX, SEGMENTS):
        (repo / path).write_text("{}\n")
    g.commit_all(repo, "both indexes damaged")

    result = repair_json(repo)

    assert sorted(result["changed"]) == sorted(str(repo / path) for path in (INDEX, SEGMENTS))
    assert result["segments"] >= 2
    assert g.name_status(repo, "HEAD") == {("M", INDEX), ("M", SEGMENTS)}
    assert {path: (repo / path).read_bytes() for path in (INDEX, SEGMENTS)} == good
    assert g.status(repo) == ""


def test_a_plain_folder_gets_its_index_written(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(repo, {"10-expand.yaml": {"step": 10}})
    g.once(repo)
    good = (repo / INDEX).read_bytes()
    (repo / INDEX).unlink()
    plain = tmp_path / "plain"
    plain.mkdir()
    (repo / "policies").rename(plain / "policies")

    result = repair_json(plain)

    assert result["changed"] == [str(plain / INDEX)]
    assert result["commit"] is None
    assert (plain / INDEX).read_bytes() == good
