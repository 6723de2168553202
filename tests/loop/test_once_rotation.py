"""Telemetry rotation in `reconcile --once`: sealed segments, their index, replays through them.

With `telemetryRotateBytes: 2048` (a record is ~1.1 KB) every second record seals the active
file as `promotion-apply.<time of its first record>.jsonl`, in the same commit that deletes
the active file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g

FOLDER = "policies/telemetry"
SEALED = re.compile(r"promotion-apply\.(\d{8}T\d{6}Z)(?:-\d+)?\.jsonl")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # Several expands per pass on one decision: the pacing guard (decisionAfterChange) off.
    return g.make_policy_repo(
        tmp_path / "repo", settings="telemetryRotateBytes: 2048\n", paced=False
    )


def sealed_names(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / FOLDER).iterdir() if SEALED.fullmatch(p.name))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def expand_intents(count: int, start: int = 0) -> dict[str, Any]:
    return {f"{n:03d}.yaml": {"step": 1} for n in range(start, start + count)}


def test_rotation_seals_segments_named_by_their_first_record(repo: Path) -> None:
    g.add_intents(repo, expand_intents(9))

    report = g.once(repo, clock=g.ticking_clock())

    assert [o.status for o in report.outcomes] == ["applied"] * 9
    names = sealed_names(repo)
    assert len(names) == 4
    for name in names:
        records = read_jsonl(repo / FOLDER / name)
        assert len(records) == 2
        stamp = SEALED.fullmatch(name).group(1)  # type: ignore[union-attr]
        first = records[0]["timestamp"].replace("-", "").replace(":", "")
        assert stamp == first
    # Every record is in exactly one file, in order; the active file holds the ninth.
    keys = [r["idempotencyKey"] for r in g.all_records(repo)]
    assert keys == [f"{n:03d}" for n in range(9)]
    assert [r["idempotencyKey"] for r in g.records(repo)] == ["008"]
    assert g.canary(repo) == 34
    assert g.status(repo) == ""


def test_each_segment_is_added_by_the_commit_that_deletes_the_active_file(repo: Path) -> None:
    g.add_intents(repo, expand_intents(6))

    report = g.once(repo, clock=g.ticking_clock())

    rotating = 0
    for sha in report.commits:
        changes = g.name_status(repo, sha)
        added = [p for s, p in changes if s == "A" and SEALED.fullmatch(p.rsplit("/", 1)[-1])]
        if added:
            rotating += 1
            assert len(added) == 1
            assert ("D", g.TELEMETRY) in changes
            assert ("M", g.SEGMENTS) in changes or ("A", g.SEGMENTS) in changes
            # The sealed segment ends with this commit's own record.
            last = g.show_file(repo, sha, added[0]).splitlines()[-1]
            base = g.git(repo, "rev-parse", f"{report.commits[0]}^")  # the pass's base commit
            assert json.loads(last)["git"]["baseCommit"] == base
            intent_file = json.loads(last)["git"]["intentFile"]
            assert intent_file == g.trailer(repo, sha, "Reconcile-Intent")
        else:
            assert ("D", g.TELEMETRY) not in changes
    assert rotating == 3
    assert not (repo / g.TELEMETRY).exists()  # the sixth record sealed the third segment
    index = json.loads((repo / g.SEGMENTS).read_text())
    assert [s["name"] for s in index["segments"]] == sealed_names(repo)
    for segment in index["segments"]:
        assert segment["size"] == (repo / FOLDER / segment["name"]).stat().st_size
    assert set(index["keys"]) == {f"{n:03d}" for n in range(6)}


def test_equal_first_record_times_get_numbered_segment_names(repo: Path) -> None:
    g.add_intents(repo, expand_intents(4))

    g.once(repo)  # the fixed clock: every record has the same timestamp

    assert sealed_names(repo) == [
        "promotion-apply.20261124T120000Z-2.jsonl",
        "promotion-apply.20261124T120000Z.jsonl",
    ]


def test_keys_in_sealed_segments_are_still_replayed_in_later_passes(repo: Path) -> None:
    g.add_intents(repo, expand_intents(7))
    g.once(repo, clock=g.ticking_clock())
    oldest = sealed_names(repo)[0]
    assert "000" in {r["idempotencyKey"] for r in read_jsonl(repo / FOLDER / oldest)}
    g.add_intents(
        repo,
        {
            "later-a.yaml": {"idempotencyKey": "000"},  # in the oldest sealed segment
            "later-b.yaml": {"idempotencyKey": "005"},  # in the newest sealed segment
            "later-c.yaml": {"idempotencyKey": "006"},  # in the active file
            "later-d.yaml": {"idempotencyKey": "new"},
        },
    )

    report = g.once(repo, clock=g.ticking_clock(g.FIXED.replace(hour=15)))

    assert g.statuses(report) == [
        ("later-a.yaml", "replayed"),
        ("later-b.yaml", "replayed"),
        ("later-c.yaml", "replayed"),
        ("later-d.yaml", "applied"),
    ]
    assert Counter(r["idempotencyKey"] for r in g.all_records(repo))["000"] == 1
    assert g.canary(repo) == 25 + 7 + 25


def test_a_lost_segment_index_is_rebuilt_and_replays_still_work(repo: Path) -> None:
    g.add_intents(repo, expand_intents(5))
    g.once(repo, clock=g.ticking_clock())
    index_before = (repo / g.SEGMENTS).read_text()
    (repo / g.SEGMENTS).unlink()
    g.commit_all(repo, "lose the segment index")
    g.add_intents(repo, {"again.yaml": {"idempotencyKey": "001"}, "fresh.yaml": {}})

    report = g.once(repo, clock=g.ticking_clock(g.FIXED.replace(hour=15)))

    assert g.statuses(report) == [("again.yaml", "replayed"), ("fresh.yaml", "applied")]
    rebuilt = json.loads((repo / g.SEGMENTS).read_text())
    old = json.loads(index_before)
    assert rebuilt["segments"][: len(old["segments"])] == old["segments"]
    assert g.status(repo) == ""


def test_a_tampered_segment_is_corrupt_not_reindexed(repo: Path) -> None:
    g.add_intents(repo, expand_intents(3))
    g.once(repo, clock=g.ticking_clock())
    segment = repo / FOLDER / sealed_names(repo)[0]
    # Someone removes a record by hand (committed): the index's sizes no longer match.
    lines = segment.read_text().splitlines(keepends=True)
    segment.write_text(lines[1])
    g.commit_all(repo, "edit history by hand")
    g.add_intents(repo, {"x.yaml": {"idempotencyKey": "000"}, "y.yaml": {"idempotencyKey": "001"}})
    index = (repo / g.SEGMENTS).read_bytes()

    report = g.once(repo, clock=g.ticking_clock(g.FIXED.replace(hour=15)))

    # The lost record's key cannot be told "not applied"; the key still there replays.
    assert g.statuses(report) == [("x.yaml", "rejected"), ("y.yaml", "replayed")]
    assert report.outcomes[0].reasons == ("telemetry_corrupt",)
    assert (repo / g.SEGMENTS).read_bytes() == index
