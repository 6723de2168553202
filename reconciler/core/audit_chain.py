"""The telemetry hash chain (core layer): each record's `prevHash` names the line before it.

`prevHash` is `sha256:` and the hex SHA-256 of the previous record's line, its exact bytes
without the newline, across rotation (the first record of an active file after a rotation
names the sealed segment's last line). The first record of a history names `GENESIS`.
Records written before chaining have no `prevHash`; they are accepted up to the first
chained one. Written by telemetry/ledger.py, checked by `check_chain` for `reconcile verify`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

PREFIX = "sha256:"
GENESIS = PREFIX + "0" * 64
"""The `prevHash` of a history's first record (no line before it)."""


def line_hash(line: bytes | None) -> str:
    """The `prevHash` of the record after `line` (its bytes, no newline); None: `GENESIS`."""
    if line is None:
        return GENESIS
    return PREFIX + hashlib.sha256(line).hexdigest()


def last_line(data: bytes) -> bytes | None:
    """The last non-empty line of `data` (no newline), found from the end; None: none."""
    end = len(data)
    while end > 0:
        start = data.rfind(b"\n", 0, end) + 1
        if start < end:
            return data[start:end]
        end = start - 1
    return None


class ChainLine(NamedTuple):
    """One record line of the history, where it is."""

    path: str
    number: int
    """1-based line number in its segment."""
    data: bytes


class ChainBreak(NamedTuple):
    """A link of the chain that does not hold: the line it points at and what happened."""

    path: str
    number: int
    detail: str


def record_lines(path: str, data: bytes, first: int = 1) -> Iterator[ChainLine]:
    """The non-empty lines of one segment's bytes, numbered from `first`."""
    for number, line in enumerate(data.split(b"\n"), start=first):
        if line:
            yield ChainLine(path, number, line)


def prev_hash_of(line: bytes) -> str | None:
    """A line's `prevHash` (None: absent, or not a JSON object with a string there)."""
    if b'"prevHash"' not in line:  # old records: no parse needed
        return None
    try:
        value = json.loads(line)
    except (ValueError, RecursionError, MemoryError):  # hostile nesting: not a record
        return None
    found = value.get("prevHash") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def check_chain(
    lines: Iterable[ChainLine],
    *,
    before: bytes | None = None,
    chained: bool = False,
    prev_hashes: Sequence[str | None] | None = None,
) -> list[ChainBreak]:
    """Check every link of `lines`, oldest first: one break per tampered record, at its line.

    A record may be changed, deleted, inserted or reordered. `before` is the line before the
    first one (None: the history starts here, `GENESIS`), `chained` whether a chained record
    came before (an incremental check). Lines before the
    first one with a `prevHash` are old records and accepted. A mismatch at line j is read as:
    line j-1 inserted (line j names the line before it), lines j and j+1 swapped (each names
    the other's predecessor), or else line j-1 changed or a record after it deleted (the hash
    cannot tell which; the break is reported at line j-1).
    """
    items = list(lines)
    hashes = [line_hash(item.data) for item in items]
    found = list(prev_hashes) if prev_hashes is not None else [prev_hash_of(i.data) for i in items]
    chain = _Chain(items, hashes, found, line_hash(before))
    breaks: dict[tuple[str, int], ChainBreak] = {}
    started, skip_until = chained, -1
    for index, item in enumerate(items):
        named = found[index]
        if named is None and not started:
            continue  # an old record, before the chain started
        started = True
        if index <= skip_until or named == chain.expected(index):
            continue
        if named is None:
            what = "is not a JSON object" if not _is_object(item.data) else "has no prevHash"
            found_break = ChainBreak(item.path, item.number, f"{what} after the chain started")
        else:
            found_break = chain.classify(index)
            if found_break.detail.startswith("reordered"):
                skip_until = index + 2  # both swapped lines and the one after them
        breaks.setdefault((found_break.path, found_break.number), found_break)
    return list(breaks.values())


class _Chain(NamedTuple):
    items: list[ChainLine]
    hashes: list[str]
    found: list[str | None]
    start: str

    def expected(self, index: int) -> str:
        """What line `index`'s prevHash must be."""
        return self.hashes[index - 1] if index > 0 else self.start

    def classify(self, index: int) -> ChainBreak:
        item, named = self.items[index], self.found[index]
        if index >= 1 and named == self.expected(index - 1):
            prior = self.items[index - 1]
            return ChainBreak(
                prior.path, prior.number, "inserted: the record after it names the one before it"
            )
        if (
            index + 1 < len(self.items)
            and named == self.hashes[index + 1]
            and self.found[index + 1] == self.expected(index)
        ):
            return ChainBreak(
                item.path, item.number, "reordered: it and the record after it are swapped"
            )
        if index == 0:
            return ChainBreak(
                item.path, item.number, "its prevHash names no line before it: a record deleted"
            )
        prior = self.items[index - 1]
        return ChainBreak(
            prior.path,
            prior.number,
            f"changed (it no longer hashes to the prevHash of {item.path}:{item.number}), or "
            "a record after it was deleted",
        )


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError, MemoryError):
        return False
