"""The telemetry history as segments: the active file, rotated segments, and their key indexes.

`promotion-apply.jsonl` is the active segment. When it passes `telemetryRotateBytes` it is
renamed to `promotion-apply.<first record time>.jsonl` (sealed: never written again) and a
fresh active file starts with the next record. Two small indexes beside the apply-state file
cache where the applied idempotency keys are, so that a replay never parses the history:

- `promotion-apply-index.json`: the active segment's keys (rewritten with every record; the
  format `reconcile apply` already keeps), and the size and CRC of the bytes it covers;
- `promotion-apply-segments.json`: the sealed segments' keys (rewritten at a rotation, or
  when it was found wrong), and each segment's name, size and CRC.

The records, not the indexes, say that a key was not applied: a key the indexes lack is
searched for in every segment's bytes. Records the indexes cover that are gone (a truncated
active file, a deleted or changed segment) are `telemetry_corrupt` until `reconcile
repair-index` accepts the files as they are. A Ledger holds all of it in memory for one
pass: the loop streams every change into its commits, then git writes the files.
"""

from __future__ import annotations

import os
import re
import zlib
from typing import Any, NamedTuple

from reconciler.adapters import files
from reconciler.core import applied_keys, jsontext
from reconciler.core.applied_keys import KeySearch
from reconciler.core.errors import RefusalError
from reconciler.core.timestamps import parse_timestamp
from reconciler.telemetry import active as store

SEGMENTS_INDEX_NAME = "promotion-apply-segments.json"
DEFAULT_ROTATE_BYTES = 256 * 1024
ACTIVE_LIMIT = 256 * 1024 * 1024

Record = dict[str, Any]


class Segment(NamedTuple):
    """A sealed telemetry segment: its file name (in the telemetry folder), size and CRC-32."""

    name: str
    size: int
    crc: int


def segment_pattern(active_name: str) -> re.Pattern[str]:
    """Return the pattern of sealed segment names for the active file `active_name`."""
    stem = re.escape(active_name.removesuffix(".jsonl"))
    return re.compile(rf"{stem}\.(\d{{8}}T\d{{6}}Z)(?:-(\d+))?\.jsonl")


def sealed_names(telemetry_path: str) -> list[str]:
    """Return the sealed segment names beside `telemetry_path`, oldest first."""
    folder, active = os.path.split(telemetry_path)
    pattern = segment_pattern(active)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.fullmatch(name)
        if match:
            found.append((match.group(1), int(match.group(2) or 1), name))
    return [name for _, _, name in sorted(found)]


def is_sealed_span(span: object, segments: list[Segment]) -> bool:
    """Whether `span` is a sealed index entry (segment, offset, length) inside `segments`."""
    if not (isinstance(span, list) and len(span) == 3):
        return False
    if not all(type(part) is int for part in span):
        return False
    index, offset, length = span
    if not 0 <= index < len(segments):
        return False
    return bool(offset >= 0 and 0 < length <= segments[index].size - offset)


class Ledger:
    """One layout's telemetry history, in memory for a pass; `append` returns file changes.

    Both indexes are caches: a hit is checked against its record, a key they lack is
    searched for in the records. What they cover (the active file's size and CRC, each
    sealed segment's name, size and CRC) must still be there: otherwise `problem` is set,
    a key not found is `telemetry_corrupt` instead of "not applied", and no index is
    rewritten (nor the active file sealed) until `reconcile repair-index` accepts the files.
    """

    def __init__(
        self, telemetry_path: str, state_file: str, rotate_bytes: int, *, trust_indexes: bool = True
    ) -> None:
        """Load every segment and both indexes, and check what the indexes cover.

        Without `trust_indexes` both indexes are rebuilt from the records (repair-index).

        Raises:
            RefusalError: without `trust_indexes`, a telemetry line is not a JSON object;
                a file cannot be read (a symlink, too large).
        """
        self.path = telemetry_path
        self.folder, self.active_name = os.path.split(telemetry_path)
        self.index_file = store.index_path(state_file)
        self.segments_file = os.path.join(os.path.dirname(state_file), SEGMENTS_INDEX_NAME)
        self.rotate_bytes = rotate_bytes
        self.trust_indexes = trust_indexes
        self.problem: RefusalError | None = None
        """Why the telemetry cannot tell that a key was not applied (None: it can)."""
        data = files.read_bounded(telemetry_path, ACTIVE_LIMIT, what="telemetry file")
        self.active = data or b""
        self.active_crc = zlib.crc32(self.active)
        """CRC-32 of `active`, kept up to date by `append`."""
        self.active_keys, self.active_search = self._load_active_keys()
        self.sealed: list[Segment] = []
        self.sealed_keys: dict[str, tuple[int, int, int]] = {}
        self.segment_data: list[bytes] = []
        """Each sealed segment's bytes, as `sealed` (empty for a missing one)."""
        self.searches: list[KeySearch | None] = []
        """Each sealed segment's search for keys the index lacks (None: it knows them all)."""
        self.segments_stale = not self._load_sealed()
        """True when the sealed index on disk was wrong and must be rewritten."""

    # Loading -------------------------------------------------------------------------

    def _fail(self, problem: RefusalError) -> None:
        if not self.trust_indexes:
            raise problem
        if self.problem is None:
            self.problem = problem

    def _load_active_keys(self) -> tuple[dict[str, tuple[int, int]], KeySearch | None]:
        if not self.trust_indexes:
            return self._scan(self.active, self.path), None
        keys, search, problem = store.read_active_keys(self.path, self.active, self.index_file)
        if problem is not None:
            self._fail(problem)
        return keys, search

    def _scan(self, data: bytes, path: str) -> dict[str, tuple[int, int]]:
        try:
            return applied_keys.index_applied(data)
        except applied_keys.CorruptLineError as exc:
            self._fail(applied_keys.corrupt_line(path, exc.number))
            return {}

    def _read_segment(self, name: str) -> bytes | None:
        path = os.path.join(self.folder, name)
        return files.read_bounded(path, ACTIVE_LIMIT, what="telemetry segment")

    def _load_sealed(self) -> bool:
        """Load the segments; return False when the sealed index must be rewritten."""
        names = sealed_names(self.path)
        raw = files.read_bounded(self.segments_file, store.INDEX_LIMIT, what="segment index")
        doc = None if raw is None or not self.trust_indexes else applied_keys.loads_record(raw)
        listed = _listed_segments(doc, segment_pattern(self.active_name))
        if listed is None:
            if not names and raw is None:
                return True  # nothing sealed and no index: nothing to rebuild or write
            self._rebuild_sealed(names)
            return False
        self._check_listed(listed)
        extras = [name for name in names if name not in {s.name for s in listed}]
        if extras and self.problem is None:
            self._rebuild_sealed(names)  # every listed segment is intact: nothing is lost
            return False
        for name in extras:  # while a problem stands nothing is rewritten: just read them
            self._add_segment(name, self._read_segment(name) or b"", scan=True)
        assert isinstance(doc, dict)
        spans = doc.get("keys")
        if isinstance(spans, dict) and all(is_sealed_span(s, listed) for s in spans.values()):
            keys = {str(key): (span[0], span[1], span[2]) for key, span in spans.items()}
            self.sealed_keys = {**keys, **self.sealed_keys}
            return not extras
        for index, data in enumerate(self.segment_data):  # a malformed key map: parse all
            for key, (offset, length) in self._scan(data, self._segment_path(index)).items():
                self.sealed_keys[key] = (index, offset, length)
        return False

    def _segment_path(self, index: int) -> str:
        return os.path.join(self.folder, self.sealed[index].name)

    def _check_listed(self, listed: list[Segment]) -> None:
        """Load the listed segments; a missing, shrunk or changed one is a problem."""
        for segment in listed:
            path = os.path.join(self.folder, segment.name)
            data = self._read_segment(segment.name)
            if data is None:
                self._fail(
                    applied_keys.records_lost(
                        "telemetry segment", path, "is missing but the segment index lists it"
                    )
                )
            elif len(data) != segment.size or zlib.crc32(data) != segment.crc:
                self._fail(
                    applied_keys.records_lost(
                        "telemetry segment",
                        path,
                        f"changed ({len(data)} bytes, the segment index says {segment.size})",
                    )
                )
            self.sealed.append(segment)
            self.segment_data.append(data or b"")
            self.searches.append(KeySearch(data) if data else None)

    def _rebuild_sealed(self, names: list[str]) -> None:
        self.sealed, self.sealed_keys, self.segment_data, self.searches = [], {}, [], []
        for name in names:
            self._add_segment(name, self._read_segment(name) or b"", scan=True)

    def _add_segment(self, name: str, data: bytes, *, scan: bool) -> None:
        index = len(self.sealed)
        self.sealed.append(Segment(name, len(data), zlib.crc32(data)))
        self.segment_data.append(data)
        self.searches.append(None)
        if scan:
            for key, (offset, length) in self._scan(data, self._segment_path(index)).items():
                self.sealed_keys[key] = (index, offset, length)

    # Lookups -------------------------------------------------------------------------

    def find_applied(self, key: str) -> Record | None:
        """Return the last applied record with `key`, newest segment first; None if none.

        Raises:
            RefusalError: `telemetry_corrupt`: the key was not found and `problem` is set,
                or a line that may hold the key is not a JSON object.
        """
        span = self.active_keys.get(key)
        if span is not None:
            record = applied_keys.record_at(self.active, span, key)
            if record is not None:
                return record
            del self.active_keys[key]  # a stale pointer (an edited index)
        sealed = self.sealed_keys.get(key)
        if sealed is not None:
            index, offset, length = sealed
            record = applied_keys.record_at(self.segment_data[index], (offset, length), key)
            if record is not None:
                return record
            del self.sealed_keys[key]
            self.segments_stale = True
        # Not in the indexes: the records themselves say whether it was applied.
        if self.active_search is not None:
            found = self._search(self.active_search, key, self.path)
            if found is not None:
                self.active_keys[key] = found
                return applied_keys.record_at(self.active, found, key)
        for index in reversed(range(len(self.sealed))):
            search = self.searches[index]
            found = None if search is None else self._search(search, key, self._segment_path(index))
            if found is not None:
                self.sealed_keys[key] = (index, *found)
                self.segments_stale = True
                return applied_keys.record_at(self.segment_data[index], found, key)
        if self.problem is not None:
            raise self.problem
        return None

    def _search(self, search: KeySearch, key: str, path: str) -> tuple[int, int] | None:
        try:
            return search.find(key)
        except applied_keys.CorruptLineError as exc:
            raise applied_keys.corrupt_line(path, exc.number) from None

    # Appending -----------------------------------------------------------------------

    def append(self, record: Record) -> list[tuple[str, bytes | None]]:
        """Append one record; return the changed files (absolute path, bytes or None: deleted)."""
        line = (jsontext.dumps_compact(record) + "\n").encode("utf-8")
        prefix = b"" if not self.active or self.active.endswith(b"\n") else b"\n"
        offset = len(self.active) + len(prefix)
        self.active += prefix + line
        self.active_crc = zlib.crc32(prefix + line, self.active_crc)
        key = applied_keys.applied_key(record)
        if key is not None:
            self.active_keys[key] = (offset, len(line))
        if self.problem is not None:
            return [(self.path, self.active)]  # indexes and segments stay until repair-index
        changes: list[tuple[str, bytes | None]] = []
        if self.segments_stale:
            changes.append((self.segments_file, self.segments_index_bytes()))
            self.segments_stale = False
        if len(self.active) > self.rotate_bytes:
            changes += self._rotate()
        else:
            changes.append((self.path, self.active))
        changes.append((self.index_file, self.active_index_bytes()))
        return changes

    def _rotate(self) -> list[tuple[str, bytes | None]]:
        name = self._segment_name()
        index = len(self.sealed)
        self.sealed.append(Segment(name, len(self.active), self.active_crc))
        for key, (offset, length) in self.active_keys.items():
            self.sealed_keys[key] = (index, offset, length)
        self.segment_data.append(self.active)
        self.searches.append(self.active_search)  # same offsets: the loaded bytes come first
        self.active_search = None
        sealed = os.path.join(self.folder, name)
        changes: list[tuple[str, bytes | None]] = [(sealed, self.active), (self.path, None)]
        self.active, self.active_keys, self.active_crc = b"", {}, 0
        changes.append((self.segments_file, self.segments_index_bytes()))
        return changes

    def _segment_name(self) -> str:
        first = self.active.split(b"\n", 1)[0]
        record = applied_keys.loads_record(first) or {}
        when = parse_timestamp(record.get("timestamp"))
        stamp = when.strftime("%Y%m%dT%H%M%SZ") if when else "00000000T000000Z"
        stem = self.active_name.removesuffix(".jsonl")
        taken = {segment.name for segment in self.sealed}
        name, number = f"{stem}.{stamp}.jsonl", 1
        while name in taken or files.exists(os.path.join(self.folder, name)):
            number += 1
            name = f"{stem}.{stamp}-{number}.jsonl"
        return name

    def active_index_bytes(self) -> bytes:
        """The active segment's index, in the format `reconcile apply` reads."""
        relative = os.path.relpath(self.path, os.path.dirname(self.index_file))
        data = self.active
        doc = applied_keys.index_doc(relative, len(data), self.active_crc, data, self.active_keys)
        return (jsontext.dumps_compact(doc) + "\n").encode("utf-8")

    def segments_index_bytes(self) -> bytes:
        """The sealed segments' index."""
        doc = {
            "schemaVersion": "v1",
            "segments": [segment._asdict() for segment in self.sealed],
            "keys": {key: list(span) for key, span in self.sealed_keys.items()},
        }
        return (jsontext.dumps_compact(doc) + "\n").encode("utf-8")


def _listed_segments(doc: Record | None, pattern: re.Pattern[str]) -> list[Segment] | None:
    """The segments a sealed index lists; None when it lists nothing usable.

    Only names of segments beside the active file count: an index naming any other path
    (`../x`) is not followed.
    """
    if doc is None:
        return None
    try:
        listed = [
            Segment(str(item["name"]), int(item["size"]), int(item["crc"]))
            for item in doc["segments"]
        ]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError):
        return None
    names = [segment.name for segment in listed]
    if len(set(names)) != len(names) or not all(pattern.fullmatch(name) for name in names):
        return None
    return listed


def find_sealed_applied(telemetry_path: str, state_file: str, key: str) -> Record | None:
    """Return the last applied record with `key` in the telemetry segments, or None.

    `reconcile apply` asks this after the active file, so a key the loop applied before a
    rotation is still replayed, never applied twice.

    Raises:
        RefusalError: `telemetry_corrupt`: not found, and a listed segment is missing or
            changed (or a line is not JSON).
    """
    segments_file = os.path.join(os.path.dirname(state_file), SEGMENTS_INDEX_NAME)
    if not sealed_names(telemetry_path) and not files.exists(segments_file):
        return None
    return Ledger(telemetry_path, state_file, DEFAULT_ROTATE_BYTES).find_applied(key)
