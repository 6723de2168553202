r"""Applied idempotency keys in telemetry bytes (core layer: bytes in, answers out, no I/O).

The records are the only authority for "was this key applied?". A key index is a cache:
its hits are checked by reading the record they point at, and a key it does not know is
looked up in the records themselves, by a byte search that parses only the lines holding the
key (`KeySearch`). An index also says which bytes it covers (`Coverage`): telemetry that lost
or changed some of them cannot answer "not applied" any more. The index format itself is
reconciler/telemetry/index.py's.

A line is the bytes up to and including a `\n`; a blank line is skipped; any other line that
is not a JSON object is corrupt. An applied record is a line whose `status` is `applied` and
whose `idempotencyKey` is a non-empty string; a key's span is (offset, length) of its last one.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Any, NamedTuple, Protocol, overload

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import parse_timestamp

Record = dict[str, Any]
Span = tuple[int, int]
TAIL_BYTES = 4096
FULL_PARSE_AFTER = 32
"""Searches of one blob before it is parsed once in full instead: a full parse costs about
as much as 40 searches, so a pass looking up many new keys pays at most about twice the best."""


class Blob(Protocol):
    """Telemetry bytes as searched here: `bytes`, or a read-only `mmap` of a sealed segment.

    (`files.map_bounded`: 25 MB of history are searched without being copied first.)
    """

    def __len__(self) -> int: ...

    def find(self, sub: bytes, start: int = ..., end: int = ..., /) -> int:
        """The first offset of `sub` in [start, end), or -1."""

    def rfind(self, sub: bytes, start: int = ..., end: int = ..., /) -> int:
        """The last offset of `sub` in [start, end), or -1."""

    @overload
    def __getitem__(self, index: int, /) -> int: ...

    @overload
    def __getitem__(self, index: slice, /) -> bytes: ...


class CorruptLineError(ValueError):
    """A line that is not a JSON object; `number` counts lines from the blob's start."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


def corrupt_line(path: str, number: int) -> RefusalError:
    """The refusal for a telemetry line that is not a JSON object."""
    return RefusalError(
        ReasonCode.TELEMETRY_CORRUPT, f"telemetry file is corrupt: {path}:{number}", path=path
    )


def records_lost(what: str, path: str, problem: str) -> RefusalError:
    """The refusal for telemetry that lost or changed records a key index covered."""
    return RefusalError(
        ReasonCode.TELEMETRY_CORRUPT,
        f"{what} {path} {problem}: applied keys may be missing; check its git history and "
        "restore it, or run `reconcile repair-index` on purpose to accept the files as they are",
        path=path,
    )


def loads_record(line: bytes) -> Record | None:
    """Decode one JSON object; None for anything else, however hostile (deep, huge, broken)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError, MemoryError):
        return None
    return value if isinstance(value, dict) else None


def applied_key(record: Record) -> str | None:
    """The record's idempotency key when it is an applied record with one, else None."""
    key = record.get("idempotencyKey")
    if isinstance(key, str) and key and record.get("status") == "applied":
        return key
    return None


def is_applied(record: Record | None, key: str) -> bool:
    """Whether `record` is an applied record with idempotency key `key`."""
    return record is not None and bool(key) and applied_key(record) == key


def line_number(data: Blob, offset: int) -> int:
    """The 1-based number of the line that holds `offset`."""
    return data[:offset].count(b"\n") + 1


class Scan(NamedTuple):
    """What parsing every line of a blob found: applied keys, and the span of record times."""

    keys: dict[str, Span]
    """Each applied key's last span."""
    earliest: datetime | None
    """The earliest `timestamp` of a record (any status); None when no record has one."""
    latest: datetime | None
    """The latest `timestamp` of a record (any status); None when no record has one."""


def index_applied(data: Blob, start: int = 0) -> dict[str, Span]:
    """Parse every line from `start` (a line start); return each applied key's last span.

    Raises:
        CorruptLineError: a line is not a JSON object.
    """
    return scan(data, start, times=False).keys


def scan(data: Blob, start: int = 0, *, times: bool = True) -> Scan:
    """Parse every line from `start` (a line start): applied keys and (with `times`) times.

    Raises:
        CorruptLineError: a line is not a JSON object.
    """
    keys: dict[str, Span] = {}
    earliest: datetime | None = None
    latest: datetime | None = None
    offset, end = start, len(data)
    while offset < end:
        stop = data.find(b"\n", offset)
        stop = end if stop < 0 else stop + 1
        line = data[offset:stop]
        if line.strip():
            record = loads_record(line)
            if record is None:
                raise CorruptLineError(line_number(data, offset))
            key = applied_key(record)
            if key is not None:
                keys[key] = (offset, stop - offset)
            # Only when asked: a key lookup's full parse need not pay for timestamps.
            when = parse_timestamp(record.get("timestamp")) if times else None
            if when is not None:
                earliest = when if earliest is None else min(earliest, when)
                latest = when if latest is None else max(latest, when)
        offset = stop
    return Scan(keys, earliest, latest)


def record_at(data: Blob, span: Span, key: str) -> Record | None:
    """The applied record of `key` that starts a line at `span`, or None (a stale pointer)."""
    offset, length = span
    if offset < 0 or length <= 0 or offset + length > len(data):
        return None
    if offset and data[offset - 1 : offset] != b"\n":
        return None
    record = loads_record(data[offset : offset + length])
    return record if is_applied(record, key) else None


class KeySearch:
    r"""Find the last applied record of a key in JSONL bytes without parsing every line.

    A key's JSON string can be written in other ways than `json.dumps` writes it only with a
    `\u` or `\/` escape, and a line that JSON decodes as UTF-16 or UTF-32 holds a NUL byte.
    So the last applied record of a key is in a line holding the key's JSON text or in one of
    those few lines, which are parsed once. After FULL_PARSE_AFTER searches the blob is
    parsed in full once and answers from that.
    """

    def __init__(self, data: Blob) -> None:
        self.data = data
        self._searches = 0
        self._full: dict[str, Span] | None = None
        self._escaped: dict[str, Span] | None = None

    def find(self, key: str) -> Span | None:
        """The span of the last applied record of `key`, or None.

        Raises:
            CorruptLineError: a line that may hold the key is not a JSON object.
        """
        if not key:
            return None
        self._searches += 1
        if self._full is None and self._searches > FULL_PARSE_AFTER:
            self._full = index_applied(self.data)
        if self._full is not None:
            return self._full.get(key)
        try:
            needle = json.dumps(key, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no literal form to search for
            self._full = index_applied(self.data)
            return self._full.get(key)
        found = self._search(needle, key)
        escaped = self._escaped_keys().get(key)
        if found is None or (escaped is not None and escaped[0] > found[0]):
            return escaped
        return found

    def _line(self, offset: int) -> Span:
        start = self.data.rfind(b"\n", 0, offset) + 1
        stop = self.data.find(b"\n", offset)
        stop = len(self.data) if stop < 0 else stop + 1
        return start, stop - start

    def _parse(self, span: Span) -> Record:
        record = loads_record(self.data[span[0] : span[0] + span[1]])
        if record is None:
            raise CorruptLineError(line_number(self.data, span[0]))
        return record

    def _search(self, needle: bytes, key: str) -> Span | None:
        end = len(self.data)
        while (hit := self.data.rfind(needle, 0, end)) >= 0:
            span = self._line(hit)
            if is_applied(self._parse(span), key):
                return span
            end = span[0]
        return None

    def _escaped_keys(self) -> dict[str, Span]:
        if self._escaped is None:
            self._escaped = {}
            for span in sorted(self._escaped_lines()):
                key = applied_key(self._parse(span))
                if key is not None:
                    self._escaped[key] = span
        return self._escaped

    def _escaped_lines(self) -> set[Span]:
        lines: set[Span] = set()
        data, position = self.data, 0
        while (position := data.find(b"\\", position)) >= 0:
            if data[position + 1 : position + 2] in (b"u", b"/"):
                lines.add(self._line(position))
            position += 1
        position = 0
        while (position := data.find(b"\x00", position)) >= 0:
            lines.add(self._line(position))
            position += 1
        return lines


class Coverage(NamedTuple):
    """Which bytes of a telemetry file an index was built from: a prefix, by size and CRC."""

    size: int
    crc: int | None
    """CRC-32 of the whole prefix; None in an index written before it was recorded."""
    tail_crc: int | None
    """CRC-32 of the prefix's last TAIL_BYTES bytes (all an older index recorded)."""

    def problem(self, data: bytes) -> str | None:
        """What is wrong with `data` as a file this index covers: None when nothing is."""
        if len(data) < self.size:
            return f"is shorter than its key index says ({len(data)} of {self.size} bytes)"
        prefix = memoryview(data)[: self.size]
        if self.crc is not None:
            same = zlib.crc32(prefix) == self.crc
        else:
            same = zlib.crc32(prefix[max(self.size - TAIL_BYTES, 0) :]) == self.tail_crc
        return None if same else f"changed within the {self.size} bytes its key index covers"
