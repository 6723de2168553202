"""`Ledger.applied_since`: applied records since a time, oldest first, without the old segments.

Histories are built by the Ledger itself with a small `rotate_bytes` (three records per
sealed segment, one minute apart), so segment names and index times are what the loop writes.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from tests.support.ledgers import START, History, counting_reads, record

SEALED = re.compile(r"promotion-apply\.\d{8}T\d{6}Z(-\d+)?\.jsonl")
ROTATE = 500
"""Bytes: a record is about 215, so every third record seals the active file."""


@pytest.fixture
def history(tmp_path: Path) -> History:
    """30 applied records at minutes 0..29: ten sealed segments of three, an empty active."""
    history = History(tmp_path)
    history.append([record(f"k{n:02d}", n) for n in range(30)], ROTATE)
    assert len(history.sealed()) == 10
    assert not history.telemetry.exists()  # the thirtieth record sealed the tenth segment
    return history


def keys(records: list[dict]) -> list[str]:
    return [r["idempotencyKey"] for r in records]


def sealed_reads(opened: list[str]) -> list[str]:
    """The sealed segments among the files read (not the active file nor the indexes)."""
    return [name for name in opened if SEALED.fullmatch(name)]


def test_records_since_a_time_inside_a_segment_come_oldest_first(history: History) -> None:
    history.append([record("k30", 30), record("k31", 31)], ROTATE)  # two in the active file

    since = START + timedelta(minutes=13, seconds=30)  # between k13 and k14, in segment 4
    found = history.ledger().applied_since(since)

    assert keys(found) == [f"k{n}" for n in range(14, 32)]


def test_a_record_exactly_at_the_time_is_included(history: History) -> None:
    found = history.ledger().applied_since(START + timedelta(minutes=12))
    assert keys(found)[0] == "k12"  # the first record of segment 4: its predecessor is read


def test_segments_wholly_before_the_time_are_never_opened(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    sealed = history.sealed()
    # Garble the six oldest segments (same size): opening one would make it telemetry_corrupt.
    for segment in sealed[:6]:
        segment.write_bytes(b"#" * segment.stat().st_size)
    since = START + timedelta(minutes=20, seconds=1)  # in segment 6 (k18..k20): k21 onwards

    with counting_reads(monkeypatch) as opened:
        found = history.ledger().applied_since(since)

    assert keys(found) == [f"k{n}" for n in range(21, 30)]
    # Segment 6 ends before the time but its successor starts after it: read, to be sure.
    assert sealed_reads(opened) == [segment.name for segment in sealed[6:]]


def test_a_time_after_every_record_reads_only_the_last_segment(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counting_reads(monkeypatch) as opened:
        found = history.ledger().applied_since(START + timedelta(hours=1))

    assert found == []
    # The active file is empty: nothing bounds the last segment's records by name.
    assert sealed_reads(opened) == [history.sealed()[-1].name]


def test_only_applied_records_with_a_time_count(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.append(
        [
            record("a", 0),
            record("b", 1, status="rejected"),
            record(None, 2),  # keyless: still applied
            record("c", 3, timestamp="yesterday"),
            record("d", 4),
        ],
        ROTATE,
    )
    found = history.ledger().applied_since(START)
    assert keys(found) == ["a", None, "d"]


def test_a_clock_set_back_is_caught_by_the_index_times(tmp_path: Path) -> None:
    history = History(tmp_path)
    # The writer of k02 had a clock an hour fast: its record sits in the oldest segment.
    records = [record(f"k{n:02d}", n) for n in range(12)]
    records[2] = record("k02", 90)
    history.append(records, ROTATE)

    found = history.ledger().applied_since(START + timedelta(minutes=60))

    assert keys(found) == ["k02"]
    found = history.ledger().applied_since(START + timedelta(minutes=10))
    assert keys(found) == ["k10", "k11", "k02"]  # oldest first, by their times


def test_an_index_without_times_reads_every_segment_and_answers_the_same(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = START + timedelta(minutes=25)
    expected = history.ledger().applied_since(since)
    doc = json.loads(history.segments.read_text())
    for segment in doc["segments"]:
        segment["earliest"] = segment["latest"] = None
    history.segments.write_text(json.dumps(doc))

    with counting_reads(monkeypatch) as opened:
        found = history.ledger().applied_since(since)

    assert found == expected
    assert len(sealed_reads(opened)) == 10


def test_lost_records_are_telemetry_corrupt_not_an_empty_answer(history: History) -> None:
    history.sealed()[-1].unlink()
    with pytest.raises(RefusalError) as caught:
        history.ledger().applied_since(START)
    assert caught.value.reason == "telemetry_corrupt"
    assert "is missing but the segment index lists it" in caught.value.message


def test_a_changed_segment_that_is_read_is_telemetry_corrupt(history: History) -> None:
    last = history.sealed()[-1]
    last.write_text(last.read_text().replace('"status":"applied"', '"status":"rejected"', 1))
    with pytest.raises(RefusalError) as caught:
        history.ledger().applied_since(START + timedelta(minutes=28))
    assert caught.value.reason == "telemetry_corrupt"


# Parsed: each file's applied records parsed once, extended as the loop appends -------------


def line(key: str, minute: int, status: str = "applied") -> bytes:
    stamp = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = {"idempotencyKey": key, "status": status, "timestamp": stamp}
    return (json.dumps(doc) + "\n").encode()


def test_parsed_extends_with_what_the_file_gained_and_parses_each_line_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reconciler.core import applied_keys
    from reconciler.telemetry import reading

    parsed_lines: list[bytes] = []
    real = applied_keys.loads_record

    def counting(data: bytes) -> object:
        parsed_lines.append(data)
        return real(data)

    monkeypatch.setattr(applied_keys, "loads_record", counting)
    real_all = reading._parse_all

    def counting_all(data: bytes) -> object:
        parsed_lines.extend(item for item in data.split(b"\n") if item.strip())
        return real_all(data)

    monkeypatch.setattr(reading, "_parse_all", counting_all)
    found = reading.Parsed()
    data = line("a", 0) + line("b", 1, "rejected")
    assert [r["idempotencyKey"] for _, r in found.update(data)] == ["a"]
    data += line("c", 2)
    assert [r["idempotencyKey"] for _, r in found.update(data)] == ["a", "c"]
    assert len(parsed_lines) == 3  # a and b once (one parse of both), then only c


def test_parsed_starts_over_when_the_bytes_it_read_changed() -> None:
    from reconciler.telemetry.reading import Parsed

    found = Parsed()
    found.update(line("a", 0) + line("b", 1))
    rewritten = line("x", 5)  # rotated (emptied) and written anew, or edited
    assert [r["idempotencyKey"] for _, r in found.update(rewritten)] == ["x"]
    assert [r["idempotencyKey"] for _, r in found.update(b"")] == []


def test_parsed_reads_a_last_line_without_its_newline_without_keeping_it() -> None:
    from reconciler.telemetry.reading import Parsed

    found = Parsed()
    data = line("a", 0) + line("b", 1).rstrip(b"\n")
    assert [r["idempotencyKey"] for _, r in found.update(data)] == ["a", "b"]
    assert found.data == line("a", 0)
    assert [r["idempotencyKey"] for _, r in found.update(data + b"\n")] == ["a", "b"]


@pytest.mark.parametrize("tail", [b"", b"\n"], ids=["no newline", "with newline"])
def test_a_corrupt_line_appended_later_is_numbered_from_the_files_start(tail: bytes) -> None:
    from reconciler.core import applied_keys
    from reconciler.telemetry.reading import Parsed

    found = Parsed()
    data = line("a", 0) + line("b", 1)
    found.update(data)
    with pytest.raises(applied_keys.CorruptLineError) as caught:
        found.update(data + b"not json" + tail)
    assert caught.value.number == 3


def test_records_since_in_a_pass_does_not_reparse_the_active_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 11: the guards ask before every intent; the pass appends a record after each.
    from reconciler.telemetry import reading
    from reconciler.telemetry.ledger import Ledger

    history = History(tmp_path)
    history.append([record(f"k{n:02d}", n) for n in range(50)], 1 << 20)
    ledger = Ledger(str(history.telemetry), str(history.state))
    calls: list[int] = []
    real = reading.applied_since

    def counting(data: bytes, since: object) -> object:
        calls.append(data.count(b"\n"))
        return real(data, since)  # type: ignore[arg-type]

    monkeypatch.setattr(reading, "applied_since", counting)
    for n in range(50, 60):
        assert len(ledger.applied_since(START)) == n
        ledger.append(record(f"k{n:02d}", n))
    assert calls == [50] + [1] * 9  # each line parsed once, not 50 + 51 + ... + 59


def test_a_line_holding_two_objects_or_none_is_read_line_by_line() -> None:
    """The one-parse shortcut never shifts records: any odd line falls back to per line."""
    import pytest as _pytest

    from reconciler.core import applied_keys
    from reconciler.telemetry import reading

    two = line("a", 0).rstrip(b"\n") + b"," + line("b", 1)
    with _pytest.raises(applied_keys.CorruptLineError):
        reading.applied_since(two, reading._EPOCH)
    array = b"[" + line("a", 0).rstrip(b"\n") + b"]\n"
    with _pytest.raises(applied_keys.CorruptLineError):
        reading.applied_since(array, reading._EPOCH)
    good = line("a", 0) + b"\n  \n" + line("b", 1)
    assert [r["idempotencyKey"] for _, r in reading.applied_since(good, reading._EPOCH)] == [
        "a",
        "b",
    ]
