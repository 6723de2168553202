"""Exactly once in the `--once` pass, in-process, against edits of the committed indexes.

Real git repositories; every attack is a normal, committed operator change. A key index is
only a cache: a key it lacks, or points at another record, is found in the records (replayed,
never applied twice), and a segment index naming a path outside the telemetry folder is not
followed (the commands as real processes, and lost telemetry: tests/e2e/test_exactly_once_loop.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import INDEX, SEGMENTS
from tests.support.loops import (
    applied_keys,
    drop_index_key,
    rotated_repo,
    sealed,
    two_expands_applied,
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two expands applied by the loop: keys 10-expand and 20-expand."""
    return two_expands_applied(tmp_path)


@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    """Three expands with telemetryRotateBytes 2048: keys 000 and 001 sealed, 002 active."""
    return rotated_repo(tmp_path)


def test_an_index_pointing_a_key_at_another_record_still_replays_the_key(repo: Path) -> None:
    doc = json.loads((repo / INDEX).read_text())
    doc["keys"]["10-expand"] = doc["keys"]["20-expand"]
    (repo / INDEX).write_text(json.dumps(doc) + "\n")
    g.commit_all(repo, "point a key elsewhere")
    g.add_intents(repo, {"30-again.yaml": {"step": 10, "idempotencyKey": "10-expand"}})

    outcome = g.once(repo).outcomes[0]

    assert outcome.status == "replayed"
    assert outcome.record["idempotencyKey"] == "10-expand"


def test_a_key_dropped_from_the_index_replays_after_its_file_was_sealed(rotated: Path) -> None:
    drop_index_key(rotated, INDEX, "002")
    # The first intent's record seals the active file (which holds 002) in this very pass.
    g.add_intents(rotated, {"x.yaml": {"step": 1}, "y.yaml": {"step": 1, "idempotencyKey": "002"}})

    report = g.once(rotated, clock=g.ticking_clock(g.FIXED.replace(hour=15)))

    assert g.statuses(report) == [("x.yaml", "applied"), ("y.yaml", "replayed")]
    assert len(sealed(rotated)) == 2
    assert applied_keys(rotated)["002"] == 1


def test_a_segment_index_naming_a_path_outside_the_telemetry_folder_is_not_followed(
    rotated: Path,
) -> None:
    doc = json.loads((rotated / SEGMENTS).read_text())
    doc["segments"].append({"name": "../../policies", "size": 1, "crc": 1})
    (rotated / SEGMENTS).write_text(json.dumps(doc) + "\n")
    g.commit_all(rotated, "a hostile segment index")
    g.add_intents(rotated, {"x.yaml": {"step": 1, "idempotencyKey": "000"}})

    outcome = g.once(rotated, at=g.FIXED.replace(hour=15)).outcomes[0]

    assert outcome.status == "replayed"  # the index was ignored and rebuilt from the segments
