"""The telemetry hash chain: a tampered record is found at its line."""

from __future__ import annotations

import json

import pytest

from reconciler.core import audit_chain
from reconciler.core.audit_chain import GENESIS, ChainLine, check_chain, line_hash


def chained(count: int, *, old: int = 0) -> list[bytes]:
    """`old` records without prevHash, then `count` chained ones."""
    lines: list[bytes] = []
    for number in range(old + count):
        record: dict[str, object] = {"n": number}
        if number >= old:
            record["prevHash"] = line_hash(lines[-1] if lines else None)
        lines.append(json.dumps(record).encode())
    return lines


def found(lines: list[bytes]) -> list[tuple[int, str]]:
    items = [ChainLine("t.jsonl", number, line) for number, line in enumerate(lines, start=1)]
    return [(b.number, b.detail.split(" ")[0]) for b in check_chain(items)]


def test_the_first_record_names_the_genesis_value() -> None:
    assert json.loads(chained(1)[0])["prevHash"] == GENESIS == "sha256:" + "0" * 64


def test_an_intact_chain_has_no_break() -> None:
    assert found(chained(5)) == []


def test_last_line_skips_trailing_newlines() -> None:
    assert audit_chain.last_line(b"a\nb\n\n") == b"b"
    assert audit_chain.last_line(b"") is None


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda ls: [*ls[:2], ls[2].replace(b'"n": 2', b'"n": 7'), *ls[3:]], [(3, "changed")]),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], [(2, "reordered:")]),
        (lambda ls: [*ls[:2], *ls[3:]], [(2, "changed")]),
        (lambda ls: ls[1:], [(1, "its")]),
        (lambda ls: [*ls[:3], b'{"n": 9}', *ls[3:]], [(4, "has")]),
        (lambda ls: [*ls[:3], b"not json", *ls[3:]], [(4, "is")]),
    ],
    ids=["edited", "reordered", "deleted", "first-deleted", "unchained-inserted", "garbage"],
)
def test_a_tampered_record_breaks_the_chain_at_its_line(tamper, expected) -> None:
    assert found(tamper(chained(6))) == expected


def test_an_inserted_record_with_a_valid_link_is_found_at_its_line() -> None:
    lines = chained(5)
    forged = json.dumps({"n": 99, "prevHash": line_hash(lines[1])}).encode()
    assert found([*lines[:2], forged, *lines[2:]]) == [(3, "inserted:")]


def test_old_records_are_accepted_up_to_the_first_chained_one() -> None:
    lines = chained(3, old=2)
    assert found(lines) == []
    assert found([*lines, b'{"n": "old again"}']) == [(6, "has")]


def test_a_deeply_nested_line_has_no_prev_hash_and_is_a_break() -> None:
    deep = b'{"prevHash":' + b"[" * 100_000
    assert audit_chain.prev_hash_of(deep) is None
    lines = [
        audit_chain.ChainLine("t.jsonl", 1, b'{"prevHash":"' + audit_chain.GENESIS.encode() + b'"}')
    ]
    lines.append(audit_chain.ChainLine("t.jsonl", 2, deep))
    assert [(b.number, b.detail) for b in audit_chain.check_chain(lines)] == [
        (2, "is not a JSON object after the chain started")
    ]
