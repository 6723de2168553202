"""The byte search for applied keys answers exactly what parsing every record answers.

`KeySearch.find` must agree with `index_applied` (the full parse) for every key, however a
hand-written record spells its JSON: other spacing, field order, `\\u` escapes, `\\/`, UTF-8
BOMs, records that mention the key in another field, rejected records.
"""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import applied_keys
from reconciler.core.applied_keys import Coverage, KeySearch, index_applied, scan
from reconciler.core.timestamps import parse_timestamp


def line(key: object, status: str = "applied", **extra: object) -> bytes:
    return (json.dumps({"idempotencyKey": key, "status": status, **extra}) + "\n").encode()


def escaped(key: str) -> bytes:
    """The record with every character of the key written as a \\u escape."""
    spelled = "".join(f"\\u{ord(c):04X}" for c in key)
    return b'{ "status" : "applied", "idempotencyKey" : "' + spelled.encode() + b'" }\n'


def test_the_last_applied_record_is_found_and_others_are_not() -> None:
    data = line("a") + line("b", "rejected") + line("c", rationale='replay of "a"') + line("a")
    search = KeySearch(data)
    assert search.find("a") == (len(data) - len(line("a")), len(line("a")))
    assert search.find("a") == index_applied(data)["a"]
    assert search.find("b") is None  # rejected: never applied
    assert search.find("zzz") is None
    assert search.find("") is None


@pytest.mark.parametrize(
    "record",
    [
        escaped("key-1"),
        b'{"idempotencyKey":"key\\/1","status":"applied"}\n'.replace(b"key\\/1", b"key-1"),
        b'\xef\xbb\xbf{"idempotencyKey": "key-1", "status": "applied"}\n',
        '{"status":"applied","idempotencyKey":"key-1"}\n'.encode("utf-16-be"),
    ],
    ids=["unicode-escapes", "plain", "utf-8-bom", "utf-16-be"],
)
def test_a_hand_written_record_is_found_however_it_is_spelled(record: bytes) -> None:
    data = line("other") + record + line("other2")
    expected = index_applied(data).get("key-1")
    assert expected is not None
    assert KeySearch(data).find("key-1") == expected


def test_a_slash_escape_is_found() -> None:
    data = line("x") + b'{"idempotencyKey":"a\\/b","status":"applied"}\n'
    assert KeySearch(data).find("a/b") == (len(line("x")), len(data) - len(line("x")))


def test_a_corrupt_line_holding_the_key_is_an_error_not_a_miss() -> None:
    data = line("a") + b'{"idempotencyKey":"k", "status": "applied"\n'
    with pytest.raises(applied_keys.CorruptLineError) as caught:
        KeySearch(data).find("k")
    assert caught.value.number == 2


def test_many_searches_switch_to_one_full_parse() -> None:
    data = b"".join(line(f"k{n}") for n in range(100))
    search = KeySearch(data)
    answers = [search.find(f"k{n}") for n in range(100)]
    assert answers == [index_applied(data)[f"k{n}"] for n in range(100)]
    assert search.find("missing") is None


KEYS = st.sampled_from(["a", "b", "a/b", 'q"x', "é", "ü\\", "\x7f", "k\n", "-a", "a-"])


@st.composite
def records(draw: st.DrawFn) -> bytes:
    key = draw(KEYS)
    status = draw(st.sampled_from(["applied", "rejected"]))
    style = draw(st.sampled_from(["compact", "spaced", "ascii", "escaped", "other-field"]))
    if style == "escaped":
        return escaped(key) if status == "applied" else line(key, status)
    if style == "other-field":
        return line(draw(KEYS), status, rationale=key)
    doc = {"status": status, "idempotencyKey": key} if draw(st.booleans()) else {
        "idempotencyKey": key, "status": status
    }  # fmt: skip
    if style == "compact":
        return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    return (json.dumps(doc, ensure_ascii=style == "ascii", indent=None) + "\n").encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(records(), max_size=12), KEYS)
def test_the_search_agrees_with_the_full_parse(lines: list[bytes], key: str) -> None:
    data = b"".join(lines)
    assert KeySearch(data).find(key) == index_applied(data).get(key)


def test_coverage_catches_a_shrunk_or_changed_prefix_and_accepts_an_appended_one() -> None:
    data = line("a") + line("b")
    cover = Coverage(len(data), zlib.crc32(data), None)
    assert cover.problem(data) is None
    assert cover.problem(data + line("c")) is None
    assert cover.problem(line("a")) == (
        f"is shorter than its key index says ({len(line('a'))} of {len(data)} bytes)"
    )
    changed = data.replace(b'"b"', b'"x"')
    assert cover.problem(changed) == f"changed within the {len(data)} bytes its key index covers"


def test_a_scan_finds_the_keys_and_the_earliest_and_latest_record_times() -> None:
    data = (
        line("a", timestamp="2026-11-24T12:00:05Z")
        + line("b", "rejected", timestamp="2026-11-24T11:59:00Z")  # any status has a time
        + line("c", timestamp="not a time")
        + line("d", timestamp="2026-11-24T12:00:01Z")
    )
    found = scan(data)
    assert found.keys == index_applied(data)
    assert (found.earliest, found.latest) == (
        parse_timestamp("2026-11-24T11:59:00Z"),
        parse_timestamp("2026-11-24T12:00:05Z"),
    )
    assert scan(data, times=False).latest is None
    assert scan(line("x")).latest is None
