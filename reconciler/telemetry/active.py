"""The active telemetry segment in memory: its bytes checked against its index, keys, times.

The index covers a prefix of the file (size and CRC): records appended after it (by another
writer, or since a crash before the index was written) are parsed; a file shorter than that
prefix, or changed within it, lost records the index knew, and so does a file with a line that
is not a JSON object: `problem` says so, and the file can then no longer say that a key was not
applied. Without an index (or with one for another file) every record is parsed.
"""

from __future__ import annotations

import os
import zlib
from datetime import datetime

from reconciler.core import applied_keys
from reconciler.core.applied_keys import KeySearch, Record, Span
from reconciler.core.errors import RefusalError
from reconciler.core.timestamps import parse_timestamp
from reconciler.telemetry.index import Index
from reconciler.telemetry.segments import Segment


class ActiveSegment:
    """The active file's bytes, a cache of its applied keys, and what is wrong with it."""

    def __init__(self, path: str, data: bytes, index: Index | None, *, trust: bool) -> None:
        """Check `data` (the file's bytes) against its `index` and load the keys to look up.

        Without `trust` the index is ignored and a bad line raises (repair-index).

        Raises:
            RefusalError: without `trust`, a line is not a JSON object.
        """
        self.path = path
        self.data = data
        self.crc = zlib.crc32(data)
        """CRC-32 of `data`, kept up to date by `append`."""
        self.keys: dict[str, Span] = {}
        """Idempotency key -> span of its last applied record: a cache (a hit is checked
        against the record, a miss against `search`)."""
        self.search: KeySearch | None = None
        """Searches the loaded bytes for a key `keys` lacks; None when `keys` come from
        parsing every record (then a key not in them was never applied here)."""
        self.problem: RefusalError | None = None
        """Why the file cannot tell that a key was not applied, nor take a record and index."""
        self.times: tuple[datetime | None, datetime | None] | None = None
        """(earliest, latest) record time; None while unknown (an old index)."""
        try:
            self._load(index if trust else None)
        except applied_keys.CorruptLineError as exc:
            self.problem = applied_keys.corrupt_line(path, exc.number)
            if not trust:
                raise self.problem from None
            self.keys, self.search = {}, KeySearch(data)

    def _load(self, index: Index | None) -> None:
        if index is None or len(index.segments) != 1:  # an index of one file lists one segment
            found = applied_keys.scan(self.data)
            self.keys, self.times = found.keys, (found.earliest, found.latest)
            return
        listed = index.segments[0]
        covered = {key: (offset, length) for key, (_, offset, length) in (index.keys or {}).items()}
        lost = listed.problem(self.data, growing=True)
        if lost is not None:
            applied_keys.index_applied(self.data)  # a corrupt line is the more precise message
            self.problem = applied_keys.records_lost("telemetry file", self.path, lost)
            self.keys, self.search = covered, KeySearch(self.data)
            return
        if index.keys is None:  # a malformed key map: parse every record instead
            found = applied_keys.scan(self.data)
            self.keys, self.times = found.keys, (found.earliest, found.latest)
            return
        start = self.data.rfind(b"\n", 0, listed.size) + 1  # the last covered line
        found = applied_keys.scan(self.data, start)
        covered.update(found.keys)
        self.keys = covered
        self.search = KeySearch(self.data)
        if index.current:  # an older index has no times: `entry` parses them when needed
            self.times = _merged((listed.earliest, listed.latest), (found.earliest, found.latest))

    @property
    def name(self) -> str:
        """The file's name in the telemetry folder."""
        return os.path.basename(self.path)

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return len(self.data)

    @property
    def ends_with_newline(self) -> bool:
        """Whether a new line can be appended as is (else a repair newline goes first)."""
        return not self.data or self.data.endswith(b"\n")

    def find(self, key: str) -> Record | None:
        """The last applied record of `key` in this file, or None (problems aside).

        Raises:
            RefusalError: a line that may hold the key is not a JSON object.
        """
        span = self.keys.get(key)
        if span is not None:
            record = applied_keys.record_at(self.data, span, key)
            if record is not None:
                return record
            del self.keys[key]  # a stale pointer (an edited index)
        if self.search is None:
            return None
        try:
            found = self.search.find(key)
        except applied_keys.CorruptLineError as exc:
            raise applied_keys.corrupt_line(self.path, exc.number) from None
        if found is None:
            return None
        self.keys[key] = found
        return applied_keys.record_at(self.data, found, key)

    def append(self, data: bytes, record: Record) -> None:
        """Take `data`, the line of `record` (maybe after a repair newline), as appended."""
        line = data.removeprefix(b"\n")
        key = applied_keys.applied_key(record)
        if key is not None:
            self.keys[key] = (len(self.data) + len(data) - len(line), len(line))
        self.data += data
        self.crc = zlib.crc32(data, self.crc)
        if self.times is not None:
            when = parse_timestamp(record.get("timestamp"))
            self.times = _merged(self.times, (when, when))

    def entry(self) -> Segment:
        """This file as an index lists it (its times parsed from the records if unknown)."""
        if self.times is None:
            try:
                found = applied_keys.scan(self.data)
            except applied_keys.CorruptLineError:
                found = applied_keys.Scan({}, None, None)  # unknown: readers read it whole
            self.times = (found.earliest, found.latest)
        return Segment(self.name, self.size, self.crc, *self.times)


def _merged(
    one: tuple[datetime | None, datetime | None], other: tuple[datetime | None, datetime | None]
) -> tuple[datetime | None, datetime | None]:
    earliest = [when for when in (one[0], other[0]) if when is not None]
    latest = [when for when in (one[1], other[1]) if when is not None]
    return (min(earliest) if earliest else None, max(latest) if latest else None)
