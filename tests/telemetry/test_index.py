"""The one key index format (v2), and the v1 formats it still reads.

The two v1 tests at the top moved here from tests/core/test_applied_keys.py with the index
parsing (`read_active_index` became `index.parse`); their cases are unchanged.
"""

from __future__ import annotations

import json
import re
import zlib
from datetime import UTC, datetime

import pytest

from reconciler.telemetry import index
from reconciler.telemetry.segments import Segment, segment_pattern

ACTIVE = re.compile(re.escape("t.jsonl"))
SEALED = segment_pattern("t.jsonl")


def line(key: str) -> bytes:
    return (json.dumps({"idempotencyKey": key, "status": "applied"}) + "\n").encode()


def raw(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_an_older_index_without_a_crc_is_checked_by_its_tail() -> None:
    data = line("a")
    doc = {"telemetryFile": "t.jsonl", "size": len(data), "tailCrc": zlib.crc32(data), "keys": {}}
    parsed = index.parse(raw(doc), "t.jsonl", ACTIVE)
    assert parsed is not None
    assert parsed.segments[0].problem(data, growing=True) is None
    assert parsed.segments[0].problem(b"", growing=True) is not None


@pytest.mark.parametrize(
    "doc",
    [None, [], {"telemetryFile": "other.jsonl", "size": 1, "crc": 1}, {"telemetryFile": "t.jsonl"}],
    ids=["none", "not-a-mapping", "another-file", "no-size"],
)
def test_an_index_that_claims_nothing_is_none(doc: object) -> None:
    assert index.parse(raw(doc), "t.jsonl", ACTIVE) is None


def test_the_format_reads_back_what_it_writes() -> None:
    early = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    late = datetime(2026, 11, 24, 12, 5, 0, 500000, tzinfo=UTC)  # a fraction is kept
    segments = [
        Segment("t.20261124T120000Z.jsonl", 300, 7, early, late),
        Segment("t.20261124T120500Z.jsonl", 200, 8, None, None),
    ]
    keys = {"a": (0, 0, 100), "b": (1, 100, 100)}

    written = index.dumps("../t.jsonl", segments, keys)
    parsed = index.parse(written, "../t.jsonl", SEALED)

    assert parsed == index.Index(tuple(segments), keys, True)
    assert json.loads(written)["segments"][0]["latest"] == "2026-11-24T12:05:00.500000Z"
    assert index.parse(written, "../other.jsonl", SEALED) is None  # another file's history


def test_a_v1_active_index_reads_as_one_segment_with_its_keys() -> None:
    data = line("a") + line("b")
    doc = {
        "schemaVersion": "v1",
        "telemetryFile": "t.jsonl",
        "size": len(data),
        "crc": zlib.crc32(data),
        "tailCrc": zlib.crc32(data),
        "keys": {"a": [0, len(line("a"))], "b": [len(line("a")), len(line("b"))]},
    }
    parsed = index.parse(raw(doc), "t.jsonl", ACTIVE)
    assert parsed is not None
    assert parsed.current is False
    assert parsed.segments == (
        Segment("t.jsonl", len(data), zlib.crc32(data), tail_crc=zlib.crc32(data)),
    )
    assert parsed.keys == {"a": (0, 0, len(line("a"))), "b": (0, len(line("a")), len(line("b")))}


def test_a_v1_segment_index_reads_without_times() -> None:
    doc = {
        "schemaVersion": "v1",
        "segments": [{"name": "t.20261124T120000Z.jsonl", "size": 10, "crc": 3}],
        "keys": {"a": [0, 0, 10]},
    }
    parsed = index.parse(raw(doc), "../t.jsonl", SEALED)
    assert parsed == index.Index(
        (Segment("t.20261124T120000Z.jsonl", 10, 3),), {"a": (0, 0, 10)}, False
    )


@pytest.mark.parametrize(
    "segments",
    [
        [{"name": "../../policies", "size": 1, "crc": 1}],
        [{"name": "t.20261124T120000Z.jsonl", "size": 1, "crc": 1}] * 2,
        [{"name": "t.20261124T120000Z.jsonl", "size": -1, "crc": 1}],
        [{"name": "t.20261124T120000Z.jsonl", "size": 1, "crc": 1e999}],
        [{"name": "t.20261124T120000Z.jsonl", "size": True, "crc": 1}],
        "nope",
    ],
    ids=["outside-the-folder", "twice", "negative-size", "huge-crc", "bool-size", "not-a-list"],
)
def test_a_hostile_listing_claims_nothing(segments: object) -> None:
    doc = {"schemaVersion": "v2", "telemetryFile": "../t.jsonl", "segments": segments, "keys": {}}
    assert index.parse(raw(doc), "../t.jsonl", SEALED) is None


@pytest.mark.parametrize(
    "keys",
    [{"a": [1, 0, 1]}, {"a": [0, 5, 6]}, {"a": [0, 0]}, {"a": [0, 0, 0]}, []],
    ids=["no-such-segment", "past-the-end", "two-parts", "empty", "not-a-mapping"],
)
def test_a_hostile_key_map_is_malformed_not_trusted(keys: object) -> None:
    doc = {
        "schemaVersion": "v2",
        "telemetryFile": "../t.jsonl",
        "segments": [{"name": "t.20261124T120000Z.jsonl", "size": 10, "crc": 1}],
        "keys": keys,
    }
    parsed = index.parse(raw(doc), "../t.jsonl", SEALED)
    assert parsed is not None
    assert parsed.keys is None
