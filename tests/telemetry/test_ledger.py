"""The Ledger across segments: one lookup for apply and the loop, lazy reads, v1 indexes.

Repositories already hold indexes in the v1 format (docs/artifacts.md, "Key index"); they are
read without a false `telemetry_corrupt`, keep every guarantee, and are rewritten in v2 by the
next write.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.telemetry import index, prefetch
from tests.support.ledgers import History, counting_reads, record, unchained, write

ROTATE = 500
"""Bytes: a record is about 215, so every third record seals the active file."""


@pytest.fixture
def history(tmp_path: Path) -> History:
    """Eight records: two sealed segments (k0..k2, k3..k5) and k6, k7 in the active file."""
    history = History(tmp_path)
    history.append([record(f"k{n}", n) for n in range(8)], ROTATE)
    assert len(history.sealed()) == 2
    return history


def write_v1_indexes(history: History) -> None:
    """Both indexes as the previous release wrote them, from the files on disk."""
    data = history.telemetry.read_bytes()
    active_keys = {}
    offset = 0
    for line in data.splitlines(keepends=True):
        active_keys[json.loads(line)["idempotencyKey"]] = [offset, len(line)]
        offset += len(line)
    active = {
        "schemaVersion": "v1",
        "telemetryFile": "../telemetry/promotion-apply.jsonl",
        "size": len(data),
        "crc": zlib.crc32(data),
        "tailCrc": zlib.crc32(data[-4096:]),
        "keys": active_keys,
    }
    history.index.write_text(json.dumps(active))
    segments, sealed_keys = [], {}
    for number, path in enumerate(history.sealed()):
        blob = path.read_bytes()
        segments.append({"name": path.name, "size": len(blob), "crc": zlib.crc32(blob)})
        offset = 0
        for line in blob.splitlines(keepends=True):
            sealed_keys[json.loads(line)["idempotencyKey"]] = [number, offset, len(line)]
            offset += len(line)
    history.segments.write_text(
        json.dumps({"schemaVersion": "v1", "segments": segments, "keys": sealed_keys})
    )


def test_one_lookup_finds_keys_in_every_segment(history: History) -> None:
    ledger = history.ledger()
    for n in range(8):
        assert unchained(ledger.find_applied(f"k{n}")) == record(f"k{n}", n)
    assert ledger.find_applied("new") is None


def test_a_key_of_the_active_file_opens_no_sealed_segment(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counting_reads(monkeypatch) as opened:
        ledger = history.ledger()
        assert unchained(ledger.find_applied("k7")) == record("k7", 7)
    assert opened == ["promotion-apply.jsonl", "promotion-apply-index.json"]


def test_a_key_in_the_sealed_index_opens_only_its_segment(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counting_reads(monkeypatch) as opened:
        assert unchained(history.ledger().find_applied("k1")) == record("k1", 1)
    assert history.sealed()[0].name in opened
    assert history.sealed()[1].name not in opened


def test_v1_indexes_are_read_without_a_false_telemetry_corrupt(history: History) -> None:
    write_v1_indexes(history)

    ledger = history.ledger(ROTATE)

    assert ledger.problem is None
    assert unchained(ledger.find_applied("k1")) == record("k1", 1)
    assert unchained(ledger.find_applied("k7")) == record("k7", 7)
    assert ledger.find_applied("new") is None  # every segment searched and checked
    # The next record rewrites both indexes in v2, times included: what repair-index builds.
    write(ledger.append(record("k8", 8)))
    rebuilt = history.ledger(trust_indexes=False)
    assert history.index.read_bytes() == rebuilt.active_index_bytes()
    assert history.segments.read_bytes() == rebuilt.segments_index_bytes()
    assert json.loads(history.segments.read_text())["schemaVersion"] == "v2"


def test_a_v1_segment_index_is_rewritten_even_by_a_pass_that_reads_no_segment(
    history: History,
) -> None:
    write_v1_indexes(history)
    ledger = history.ledger(ROTATE)
    assert unchained(ledger.find_applied("k7")) == record("k7", 7)  # the active file answers

    changes = dict(ledger.append(record("k8", 8)))

    doc = json.loads(changes[str(history.segments)] or b"")
    assert doc["schemaVersion"] == "v2"
    # Times not read yet stay unknown (null): a reader by time reads those segments.
    assert [segment["latest"] for segment in doc["segments"]] == [
        None,
        None,
        "2026-11-24T12:08:00Z",
    ]


def test_v1_indexes_keep_the_lost_record_guarantees(history: History) -> None:
    write_v1_indexes(history)
    segment = history.sealed()[0]
    segment.write_bytes(segment.read_bytes().splitlines(keepends=True)[1])

    ledger = history.ledger(ROTATE)

    assert unchained(ledger.find_applied("k1")) == record("k1", 1)  # still there: applied
    with pytest.raises(RefusalError) as caught:
        ledger.find_applied("k0")  # lost with the edit: cannot be told "not applied"
    assert caught.value.reason == "telemetry_corrupt"
    assert f"{segment} changed" in caught.value.message
    assert ledger.append(record("k9", 9)) == [(str(history.telemetry), ledger.active)]


def test_a_v1_active_index_over_a_truncated_file_is_corrupt(history: History) -> None:
    write_v1_indexes(history)
    history.telemetry.write_bytes(history.telemetry.read_bytes().splitlines(keepends=True)[0])

    ledger = history.ledger()

    assert ledger.active_problem is not None
    assert "is shorter than its key index says" in ledger.active_problem.message
    with pytest.raises(RefusalError):
        ledger.find_applied("k7")


def test_a_key_the_indexes_lack_is_searched_for_and_written_back(history: History) -> None:
    doc = json.loads(history.segments.read_text())
    del doc["keys"]["k4"]
    history.segments.write_text(json.dumps(doc))

    ledger = history.ledger(ROTATE)
    assert unchained(ledger.find_applied("k4")) == record("k4", 4)
    changes = dict(ledger.append(record("k8", 8)))

    written = json.loads(changes[str(history.segments)] or b"")
    assert (
        written["keys"]["k4"]
        == [1, 211, 211]
        == list(history.ledger(trust_indexes=False).sealed_keys["k4"])
    )


def test_a_segment_on_disk_the_index_does_not_list_is_added(history: History) -> None:
    doc = json.loads(history.segments.read_text())
    doc["segments"].pop()
    doc["keys"] = {key: span for key, span in doc["keys"].items() if span[0] == 0}
    history.segments.write_text(json.dumps(doc))

    ledger = history.ledger()

    assert ledger.problem is None
    assert [s.name for s in ledger.sealed] == [p.name for p in history.sealed()]
    assert unchained(ledger.find_applied("k4")) == record("k4", 4)
    assert ledger.segments_stale


def test_repair_index_rebuilds_what_the_loop_wrote(history: History) -> None:
    ledger = history.ledger(trust_indexes=False)
    assert ledger.active_index_bytes() == history.index.read_bytes()
    assert ledger.segments_index_bytes() == history.segments.read_bytes()


def test_a_malformed_entry_of_the_key_looked_up_is_answered_by_the_records(
    history: History,
) -> None:
    doc = json.loads(history.segments.read_text())
    doc["keys"]["k4"] = [9, -1, "x"]
    history.segments.write_text(json.dumps(doc))

    ledger = history.ledger(ROTATE)
    assert unchained(ledger.find_applied("k4")) == record("k4", 4)
    changes = dict(ledger.append(record("k8", 8)))

    # The whole map was checked (found malformed), rebuilt from the records and rewritten.
    written = json.loads(changes[str(history.segments)] or b"")
    assert written["keys"]["k4"] == [1, 211, 211]
    assert all(span[0] < len(written["segments"]) for span in written["keys"].values())


def test_a_new_key_is_not_held_up_by_the_rest_of_the_map_nor_trusts_it(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = json.loads(history.segments.read_text())
    doc["keys"]["other"] = [0, 0, 10**9]  # malformed, but not the key looked up
    del doc["keys"]["k4"]  # an applied key the map lost
    history.segments.write_text(json.dumps(doc))
    ledger = history.ledger(ROTATE)  # the active index is read (and checked) here
    checked: list[object] = []
    real = index.checked_keys

    def counted(*args: Any) -> Any:
        checked.append(args)
        return real(*args)

    monkeypatch.setattr(index, "checked_keys", counted)

    assert ledger.find_applied("never-applied") is None
    assert unchained(ledger.find_applied("k4")) == record("k4", 4)  # the records, not the map
    assert checked == []  # no whole-map check for lookups
    assert "other" not in ledger.sealed_keys  # a full read still refuses the malformed map
    assert len(checked) == 1


def outcome(ledger: Any, key: str) -> object:
    try:
        return ledger.find_applied(key)
    except RefusalError as exc:
        return (exc.reason, exc.message)


@pytest.mark.parametrize("mapped", [True, False])
@pytest.mark.parametrize(
    "damage",
    ["none", "changed-same-size", "truncated", "deleted", "symlink", "folder", "corrupt-line"],
)
def test_a_prefetched_proof_answers_exactly_as_a_read_one(
    history: History, damage: str, mapped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass's thread maps (or reads) and checks the segments: the same answers."""
    if not mapped:
        monkeypatch.setattr(prefetch, "MAP_LIMIT", 0)
    first, second = history.sealed()
    if damage == "changed-same-size":
        first.write_bytes(first.read_bytes().replace(b'"k1"', b'"kX"'))
    elif damage == "truncated":
        second.write_bytes(second.read_bytes()[:-10])
    elif damage == "deleted":
        first.unlink()
    elif damage == "symlink":
        target = history.telemetry.parent.parent / "elsewhere.jsonl"
        target.write_bytes(second.read_bytes())
        second.unlink()
        second.symlink_to(target)
    elif damage == "folder":
        second.unlink()
        second.mkdir()
    elif damage == "corrupt-line":
        data = first.read_bytes()
        first.write_bytes(data[:-20] + b'{"k3 not json  ...\n'[:20])
    for key in ("k1", "k4", "k7", "never-applied"):
        plain = history.ledger(ROTATE)
        fetched = history.ledger(ROTATE)
        fetched.prefetch_sealed()

        assert outcome(fetched, key) == outcome(plain, key), (damage, key)
        assert plain.sealed == fetched.sealed  # both listings loaded now
        assert [p and p.message for p in (fetched.problem, plain.problem)] == [
            plain.problem and plain.problem.message
        ] * 2
    if damage == "none":
        assert outcome(history.ledger(ROTATE), "never-applied") is None
    else:
        assert outcome(history.ledger(ROTATE), "never-applied")[0] == "telemetry_corrupt"  # type: ignore[index]


def test_a_pointer_to_another_keys_record_beside_a_malformed_entry_is_no_crash(
    history: History,
) -> None:
    doc = json.loads(history.segments.read_text())
    doc["keys"]["ghost"] = doc["keys"]["k0"]  # well formed, but k0's record
    doc["keys"]["junk"] = "x"  # malformed: the whole map is rebuilt from the records
    history.segments.write_text(json.dumps(doc))

    ledger = history.ledger(ROTATE)

    assert ledger.find_applied("ghost") is None
    assert unchained(ledger.find_applied("k0")) == record("k0", 0)
    assert "ghost" not in ledger.sealed_keys and "junk" not in ledger.sealed_keys


def test_an_unreadable_segment_index_stops_only_the_lookups_that_need_it(
    history: History,
) -> None:
    target = history.segments.parent / "elsewhere.json"
    target.write_bytes(history.segments.read_bytes())
    history.segments.unlink()
    history.segments.symlink_to(target)
    ledger = history.ledger(ROTATE)

    ledger.prefetch_sealed()  # a pass starts it: no refusal yet

    assert unchained(ledger.find_applied("k7")) == record("k7", 7)  # in the active file
    with pytest.raises(RefusalError) as caught:
        ledger.find_applied("k1")
    assert caught.value.reason == "file_not_regular"
    with pytest.raises(RefusalError):  # and again: nothing half-loaded is trusted
        ledger.find_applied("never-applied")


def test_a_ledger_and_its_mapped_segments_go_without_waiting_for_the_cycle_collector(
    history: History,
) -> None:
    """A controller runs pass after pass: each pass's mappings (a descriptor each) must go."""
    import gc
    import weakref

    gc.disable()
    try:
        ledger = history.ledger(ROTATE)
        ledger.prefetch_sealed()
        assert ledger.find_applied("never-applied") is None  # every segment mapped
        gone = weakref.ref(ledger.segments)
        del ledger
        assert gone() is None
    finally:
        gc.enable()
