"""Exactly once in `reconcile --once`, against edits of the committed indexes and telemetry.

Real git repositories; every attack is a normal, committed operator change. A key index is
only a cache: a key it lacks is found in the records (replayed, never applied twice). Records
it covers that are gone are `telemetry_corrupt`: expand and resume are rejected, a rollback
still pauses (its record says the replay could not be checked), no index is rewritten, and
only `reconcile repair-index` accepts the files as they are. The tests here run a real process
(`validate`, `apply`, `repair-index`); the in-process ones are in
tests/loop/test_once_exactly_once.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import INDEX, SEGMENTS, TELEMETRY, reconcile
from tests.support.loops import (
    applied_keys,
    drop_index_key,
    rotated_repo,
    sealed,
    two_expands_applied,
)


def validate(repo: Path) -> dict[str, Any]:
    done = reconcile(repo, "validate", "--json")
    report: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if report["ok"] else 1), done.stderr
    return report


def paused(repo: Path) -> bool:
    for line in (repo / g.REGISTRY).read_text().splitlines():
        if line.strip().startswith("manual:"):
            return line.split(":", 1)[1].split("#", 1)[0].strip() == "true"
    raise AssertionError("no pause.manual line")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two expands applied by the loop: keys 10-expand and 20-expand."""
    return two_expands_applied(tmp_path)


@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    """Three expands with telemetryRotateBytes 2048: keys 000 and 001 sealed, 002 active."""
    return rotated_repo(tmp_path)


# Item 7: the index is a cache ------------------------------------------------------------


def test_a_key_removed_from_the_committed_index_replays(repo: Path) -> None:
    drop_index_key(repo, INDEX, "10-expand")
    report = validate(repo)
    assert report["telemetry"]["reasonCode"] == "telemetry_index_mismatch"
    assert "1 applied key(s) missing, e.g. '10-expand'" in report["telemetry"]["summary"]
    canary = g.canary(repo)
    g.add_intents(repo, {"30-again.yaml": {"step": 10, "idempotencyKey": "10-expand"}})

    outcome = g.once(repo).outcomes[0]

    assert outcome.status == "replayed"
    assert g.canary(repo) == canary
    assert applied_keys(repo)["10-expand"] == 1
    assert reconcile(repo, "repair-index").returncode == 0
    assert validate(repo)["telemetry"]["ok"] is True


def test_a_key_removed_from_the_segment_index_replays(rotated: Path) -> None:
    drop_index_key(rotated, SEGMENTS, "000")
    assert validate(rotated)["telemetry"]["reasonCode"] == "telemetry_index_mismatch"
    g.add_intents(rotated, {"x.yaml": {"step": 1, "idempotencyKey": "000"}})

    outcome = g.once(rotated, at=g.FIXED.replace(hour=15)).outcomes[0]

    assert outcome.status == "replayed"
    assert applied_keys(rotated)["000"] == 1


# Item 8: lost telemetry is corrupt until repair-index --------------------------------------


def check_corrupt_pass(repo: Path, lost_key: str, culprit: str) -> None:
    """Expand with a lost key is rejected, a rollback still pauses, no index is rewritten."""
    indexes = {
        path: (repo / path).read_bytes() for path in (INDEX, SEGMENTS) if (repo / path).exists()
    }
    g.add_intents(
        repo,
        {
            "50-again.yaml": {"step": 10, "idempotencyKey": lost_key},
            "60-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-9"},
        },
    )

    report = g.once(repo, at=g.FIXED.replace(hour=15))

    again, rollback = report.outcomes
    assert again.status == "rejected"
    assert again.reasons == ("telemetry_corrupt",)
    assert culprit in again.problems[0]
    assert "reconcile repair-index" in again.problems[0] or culprit.endswith(":3")
    assert rollback.status == "applied"
    assert "telemetry_corrupt" in rollback.record["reasonCodes"]
    assert paused(repo)
    assert {path: (repo / path).read_bytes() for path in indexes} == indexes
    assert g.status(repo) == ""
    # Still corrupt on the next pass (appending did not make the index agree again).
    report = validate(repo)["telemetry"]
    assert (report["ok"], report["reasonCode"]) == (False, "telemetry_corrupt")
    g.add_intents(repo, {"70-expand.yaml": {"step": 10}})
    assert g.once(repo, at=g.FIXED.replace(hour=16)).outcomes[0].reasons == ("telemetry_corrupt",)


def check_repair_clears(repo: Path) -> None:
    done = reconcile(repo, "repair-index")
    assert done.returncode == 0, done.stderr
    assert validate(repo)["telemetry"]["ok"] is True
    g.add_intents(repo, {"80-expand.yaml": {"step": 10}})
    assert g.once(repo, at=g.FIXED.replace(hour=17)).outcomes[0].status == "applied"
    assert g.status(repo) == ""


def test_a_truncated_active_file_is_corrupt_until_repair_index(repo: Path) -> None:
    telemetry = repo / TELEMETRY
    telemetry.write_text(telemetry.read_text().splitlines(keepends=True)[0])
    g.commit_all(repo, "truncate the telemetry")

    check_corrupt_pass(repo, "20-expand", str(telemetry))
    check_repair_clears(repo)


def test_an_emptied_active_file_is_corrupt(repo: Path) -> None:
    (repo / TELEMETRY).write_text("")
    g.commit_all(repo, "empty the telemetry")

    check_corrupt_pass(repo, "10-expand", str(repo / TELEMETRY))


def test_a_git_rm_of_a_listed_segment_is_corrupt_until_repair_index(rotated: Path) -> None:
    segment = sealed(rotated)[0]
    g.git(rotated, "rm", "-q", str(segment.relative_to(rotated)))
    g.commit_all(rotated, "drop old telemetry")

    check_corrupt_pass(rotated, "000", str(segment))
    check_repair_clears(rotated)


def test_a_shrunk_segment_is_corrupt(rotated: Path) -> None:
    segment = sealed(rotated)[0]
    segment.write_text(segment.read_text().splitlines(keepends=True)[1])
    g.commit_all(rotated, "edit old telemetry")

    check_corrupt_pass(rotated, "000", str(segment))


def test_validate_reads_every_segment_line(rotated: Path) -> None:
    segment = sealed(rotated)[0]
    segment.write_text(segment.read_text() + "<<<<<<< HEAD\n")
    g.commit_all(rotated, "a merge conflict in old telemetry")

    report = validate(rotated)["telemetry"]

    assert report["reasonCode"] == "telemetry_corrupt"
    assert f"telemetry file is corrupt: {segment}:3" in report["problems"]


def drop_every_sealed_segment(repo: Path) -> None:
    for segment in sealed(repo):
        g.git(repo, "rm", "-q", str(segment.relative_to(repo)))
    g.commit_all(repo, "drop every old segment")


def test_apply_refuses_an_expand_with_a_key_of_a_removed_segment(rotated: Path) -> None:
    drop_every_sealed_segment(rotated)
    done = reconcile(
        rotated, "apply", "--repo", ".", "--intent", "expand", "--idempotency-key", "000",
        "--by", "alice", "--approval-ref", "CAB-1", "--rationale", "r", "--review-by", g.REVIEW_BY,
    )  # fmt: skip

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "reason: telemetry_corrupt"
    assert "is missing but the segment index lists it" in done.stderr
    assert applied_keys(rotated)["000"] == 0  # gone with the segment, never applied again


def test_apply_rollback_with_a_key_of_a_removed_segment_still_pauses(rotated: Path) -> None:
    # One rulebook (issue 10): as in the loop, telemetry that cannot tell whether the key was
    # applied stops expand and resume, never a rollback (pausing twice is harmless).
    drop_every_sealed_segment(rotated)
    done = reconcile(
        rotated, "apply", "--repo", ".", "--intent", "rollback", "--idempotency-key", "000",
        "--by", "alice", "--approval-ref", "INC-1", "--rationale", "r", "--review-by", g.REVIEW_BY,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "applied"
    assert "telemetry_corrupt" in record["reasonCodes"]
    assert record["rollout"]["after"]["manualPause"] is True


def test_the_next_commit_puts_a_key_found_in_the_records_back_into_the_index(repo: Path) -> None:
    drop_index_key(repo, INDEX, "10-expand")
    g.add_intents(
        repo,
        {"30-again.yaml": {"step": 10, "idempotencyKey": "10-expand"}, "40-new.yaml": {"step": 1}},
    )

    assert g.statuses(g.once(repo)) == [("30-again.yaml", "replayed"), ("40-new.yaml", "applied")]

    assert validate(repo)["telemetry"]["ok"] is True


def test_a_corrupt_line_rejects_expand_and_still_pauses(repo: Path) -> None:
    telemetry = repo / TELEMETRY
    telemetry.write_text(telemetry.read_text() + "<<<<<<< HEAD\n")
    g.commit_all(repo, "a merge conflict in the telemetry")

    check_corrupt_pass(repo, "99-new", f"{telemetry}:3")  # refused on every path, key or not
