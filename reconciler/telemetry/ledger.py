"""One layout's telemetry history: the Ledger that `reconcile apply` and the loop both use.

The history is the active file plus the sealed segments (reconciler/telemetry/segments.py);
two indexes of one format (index.py) cache where the applied keys are. A Ledger holds it in
memory for one apply or one pass: `find_applied` answers "was this key applied?" for every
path, `applied_since` reads the applied records since a time, `previous_canary` the newest
expand that raised the canary (newest first, for a rollback's target), `append` returns the file
changes of one record (the loop commits them; apply writes its line through its journal and
takes the index from `append_written`).

The records, not the indexes, say that a key was not applied: a key the indexes lack is
searched for in every segment's bytes. Records the indexes cover that are gone (a truncated
active file, a deleted or changed segment) set `problem`: a key not found is then
`telemetry_corrupt` instead of "not applied", and no index is rewritten (nor the active file
sealed) until `reconcile repair-index` accepts the files as they are. Sealed segments are
read when first needed, and checked against their listing then, so a replay found in the
active file or a read of recent records never opens the old ones.
"""

from __future__ import annotations

import mmap
import os
import re
import zlib
from collections.abc import Mapping
from datetime import datetime

from reconciler.adapters import files
from reconciler.core import applied_keys, jsontext
from reconciler.core.applied_keys import KeySearch, Record
from reconciler.core.errors import RefusalError
from reconciler.telemetry import index, reading
from reconciler.telemetry.active import ActiveSegment
from reconciler.telemetry.index import SealedSpan
from reconciler.telemetry.segments import (
    Segment,
    sealed_name,
    sealed_names,
    segment_pattern,
    unreadable,
)

Mapped = bytes | mmap.mmap
"""A sealed segment's bytes: mapped (`files.map_bounded`) or read."""

DEFAULT_ROTATE_BYTES = 256 * 1024
ACTIVE_LIMIT = 256 * 1024 * 1024

Change = tuple[str, bytes | None]
"""A file to write: absolute path, and its new bytes (None: delete it)."""


class Ledger:
    """One layout's telemetry history, in memory for one apply or pass."""

    def __init__(
        self,
        telemetry_path: str,
        state_file: str,
        rotate_bytes: int | None = None,
        *,
        trust_indexes: bool = True,
    ) -> None:
        """Load the active file and both indexes; list the sealed segments (read later).

        `rotate_bytes` None never seals the active file (apply: only the loop rotates).
        Without `trust_indexes` both indexes are rebuilt from the records (repair-index).

        Raises:
            RefusalError: without `trust_indexes`, a telemetry line is not a JSON object;
                a file cannot be read (a symlink, too large).
        """
        self.path = telemetry_path
        self.folder, self.active_name = os.path.split(telemetry_path)
        self.index_file = index.index_path(state_file)
        self.segments_file = index.sealed_index_path(state_file)
        self.rotate_bytes = rotate_bytes
        self.trust_indexes = trust_indexes
        self._relative = index.relative_telemetry(telemetry_path, self.index_file)
        self.pattern = segment_pattern(self.active_name)
        self.parsed: dict[str, reading.Parsed] = {}
        """The applied records read so far by `applied_since`, per file (parsed once)."""
        data = files.read_bounded(telemetry_path, ACTIVE_LIMIT, what="telemetry file") or b""
        listed = None
        if trust_indexes:
            raw = index.read_raw(self.index_file, "telemetry index")
            listed = index.parse(raw, self._relative, re.compile(re.escape(self.active_name)))
        self.active_segment = ActiveSegment(telemetry_path, data, listed, trust=trust_indexes)
        self.sealed_problem: RefusalError | None = None
        """Why the sealed segments cannot tell that a key was not applied (None: they can)."""
        self._sealed: list[Segment] = []
        self._sealed_keys: dict[str, SealedSpan] = {}
        self._unchecked: Mapping[str, object] | None = None
        """The listed key map, before `_check_keys` (`_sealed_keys` entries come first)."""
        self._data: list[Mapped | None] = []
        """Each sealed segment's bytes, as `sealed` (None: not read yet; b"": missing), mapped
        until a caller needs them as `bytes` (`segment_bytes`)."""
        self._searches: list[KeySearch | None] = []
        """Each segment's search for keys the index lacks (None: it knows them all)."""
        self.segments_stale = False
        """True when the sealed index on disk is wrong or old and must be rewritten."""
        self._sealed_loaded = False
        """The sealed index is read when first needed: an apply replaying a key of the
        active file, or one without a key, never reads it."""

    # The active file, as `reconcile apply` checks and appends to it -----------------------

    @property
    def active(self) -> bytes:
        """The active file's bytes."""
        return self.active_segment.data

    @property
    def active_keys(self) -> dict[str, tuple[int, int]]:
        """The active file's key cache (key -> offset, length)."""
        return self.active_segment.keys

    @property
    def active_problem(self) -> RefusalError | None:
        """Why the active file must not take a record (nor its index be rewritten)."""
        return self.active_segment.problem

    @active_problem.setter
    def active_problem(self, problem: RefusalError | None) -> None:
        self.active_segment.problem = problem

    @property
    def indexed(self) -> bool:
        """Whether the active file may take a record and its index (no `active_problem`)."""
        return self.active_problem is None

    @property
    def size(self) -> int:
        """The active file's size in bytes."""
        return self.active_segment.size

    @property
    def ends_with_newline(self) -> bool:
        """Whether a line can be appended as is (else a repair newline goes first)."""
        return self.active_segment.ends_with_newline

    @property
    def problem(self) -> RefusalError | None:
        """Why the history cannot tell that a key was not applied (None: it can)."""
        return self.active_problem or self.sealed_problem

    # Loading the sealed segments ---------------------------------------------------------

    @property
    def sealed(self) -> list[Segment]:
        """The sealed segments, oldest first, as listed (or rebuilt from the files)."""
        self._ensure_sealed()
        return self._sealed

    @property
    def sealed_keys(self) -> dict[str, SealedSpan]:
        """The sealed segments' key cache (key -> segment number, offset, length)."""
        self._ensure_sealed()
        self._check_keys()
        return self._sealed_keys

    def _check_keys(self) -> None:
        """Check the whole listed key map; a malformed one is rebuilt from the records."""
        if self._unchecked is None:
            return
        keys, self._unchecked = index.checked_keys(self._unchecked, self._sealed), None
        if keys is None:
            self._keys_from_records()
        else:
            self._sealed_keys = {**keys, **self._sealed_keys}

    def _sealed_span(self, key: str) -> SealedSpan | None:
        """Where the key cache says `key`'s record is (only its own listed entry checked)."""
        self._ensure_sealed()
        found = self._sealed_keys.get(key)
        if found is None and self._unchecked is not None and key in self._unchecked:
            found = index.span(self._unchecked[key], self._sealed)
            if found is None:  # a malformed entry: the map is checked whole, as any map is
                self._check_keys()
                found = self._sealed_keys.get(key)
        return found

    def _ensure_sealed(self) -> None:
        if not self._sealed_loaded:
            self._sealed_loaded = True
            self._load_sealed()

    def _fail(self, problem: RefusalError) -> None:
        if not self.trust_indexes:
            raise problem
        if self.sealed_problem is None:
            self.sealed_problem = problem

    def segment_path(self, number: int) -> str:
        """Sealed segment `number`'s absolute path."""
        return os.path.join(self.folder, self._sealed[number].name)

    def _load_sealed(self) -> None:
        names = sealed_names(self.path)
        raw = index.read_raw(self.segments_file, "segment index")
        listed = (
            index.parse(raw, self._relative, self.pattern, check_keys=False)
            if self.trust_indexes
            else None
        )
        if listed is None:
            if names or raw is not None:  # nothing claimed: the files on disk are the history
                self._rebuild(names)
            return
        self._sealed = list(listed.segments)
        self._data = [None] * len(self._sealed)
        self._searches = [None] * len(self._sealed)
        on_disk = set(names)
        for number, segment in enumerate(self._sealed):
            if segment.name not in on_disk:  # known from the listing: no read needed
                self._data[number] = b""
                problem = segment.problem(None, growing=False) or ""
                self._fail(
                    applied_keys.records_lost(
                        "telemetry segment", self.segment_path(number), problem
                    )
                )
        extras = [name for name in names if name not in {segment.name for segment in self._sealed}]
        if extras:
            self.load_all()  # every listed segment must be intact before the files are accepted
            if self.problem is None:
                self._rebuild(names)
                return
            for name in extras:  # while a problem stands nothing is rewritten: just read them
                self._add_scanned(name)
        if listed.keys is None:
            self._keys_from_records()
        else:
            self._sealed_keys = {**listed.keys, **self._sealed_keys}
            self._unchecked = listed.unchecked
        self.segments_stale = bool(extras) or listed.keys is None or not listed.current

    def _keys_from_records(self) -> None:
        """A malformed key map: the records say where the keys are (and it is rewritten)."""
        self.load_all()
        for number, data in enumerate(self._data):
            for key, (offset, length) in self._scan(data or b"", number).items():
                self._sealed_keys[key] = (number, offset, length)
        self.segments_stale = True

    def _rebuild(self, names: list[str]) -> None:
        self._sealed, self._sealed_keys, self._data, self._searches = [], {}, [], []
        self._unchecked = None
        for name in names:
            self._add_scanned(name)
        self.segments_stale = True

    def _add_scanned(self, name: str) -> None:
        """Add a segment no index vouches for, as it is on disk, with every key and time."""
        number = len(self._sealed)
        data = self._read(os.path.join(self.folder, name)) or b""
        self._sealed.append(Segment(name, len(data), zlib.crc32(data)))
        self._data.append(data)
        self._searches.append(None)
        try:
            found = applied_keys.scan(data)
        except applied_keys.CorruptLineError as exc:
            self._fail(applied_keys.corrupt_line(self.segment_path(number), exc.number))
            return
        self._sealed[number] = self._sealed[number]._replace(
            earliest=found.earliest, latest=found.latest
        )
        for key, (offset, length) in found.keys.items():
            self._sealed_keys[key] = (number, offset, length)

    def _scan(self, data: Mapped, number: int) -> dict[str, tuple[int, int]]:
        try:
            return applied_keys.index_applied(data)
        except applied_keys.CorruptLineError as exc:
            self._fail(applied_keys.corrupt_line(self.segment_path(number), exc.number))
            return {}

    def _read(self, path: str) -> Mapped | None:
        """A sealed segment's bytes (None: missing; unreadable: `problem`, see unreadable)."""
        try:
            return files.map_bounded(path, ACTIVE_LIMIT, what="telemetry segment")
        except RefusalError as exc:
            if not self.trust_indexes:
                raise  # repair-index refuses it as it is
            self._fail(unreadable(path, exc))
            return None

    def segment_bytes(self, number: int) -> bytes:
        """Sealed segment `number`'s bytes, read (and checked against its listing) once.

        Raises:
            RefusalError: it cannot be read (a symlink, too large).
        """
        data = self._segment_view(number)
        if not isinstance(data, bytes):
            data = self._data[number] = data[:]
        return data

    def _segment_view(self, number: int) -> Mapped:
        """Sealed segment `number` as `segment_bytes`, but mapped rather than copied.

        A key the indexes lack is searched for in every segment: mapped, 25 MB of history
        costs no copy into fresh memory.
        """
        data = self._data[number]
        if data is not None:
            return data
        path, listed = self.segment_path(number), self._sealed[number]
        data = self._read(path)
        problem = listed.problem(data, growing=False)
        if problem is not None:
            self._fail(applied_keys.records_lost("telemetry segment", path, problem))
        data = b"" if data is None else data
        self._data[number] = data
        self._searches[number] = KeySearch(data) if data else None
        if problem is None and listed.latest is None and data:
            self._add_times(number)  # an index from before times were kept
        return data

    def _add_times(self, number: int) -> None:
        try:
            found = applied_keys.scan(self._data[number] or b"")
        except applied_keys.CorruptLineError:
            return  # stays unknown: a reader reads the segment whole
        if found.latest is not None:
            self._sealed[number] = self._sealed[number]._replace(
                earliest=found.earliest, latest=found.latest
            )
            self.segments_stale = True

    def load_all(self) -> list[tuple[str, bytes]]:
        """Every segment's path and bytes, the active file first (each sealed one checked)."""
        self._ensure_sealed()
        sealed = [(self.segment_path(n), self.segment_bytes(n)) for n in range(len(self._sealed))]
        return [(self.path, self.active), *sealed]

    # Lookups -----------------------------------------------------------------------------

    def find_applied(self, key: str) -> Record | None:
        """Return the last applied record with `key`, newest segment first; None if none.

        Raises:
            RefusalError: `telemetry_corrupt`: the key was not found and `problem` is set,
                or a line that may hold the key is not a JSON object.
        """
        record = self.active_segment.find(key)
        if record is not None:
            return record
        sealed = self._sealed_span(key)
        if sealed is not None:
            number, offset, length = sealed
            record = applied_keys.record_at(self._segment_view(number), (offset, length), key)
            if record is not None:
                return record
            self._check_keys()
            del self._sealed_keys[key]  # a stale pointer (an edited index)
            self.segments_stale = True
        # Not in the indexes: the records themselves say whether it was applied.
        for number in reversed(range(len(self._sealed))):
            data = self._segment_view(number)
            search = self._searches[number]
            try:
                found = None if search is None else search.find(key)
            except applied_keys.CorruptLineError as exc:
                raise applied_keys.corrupt_line(self.segment_path(number), exc.number) from None
            if found is not None:
                self._sealed_keys[key] = (number, *found)
                self.segments_stale = True
                return applied_keys.record_at(data, found, key)
        if self.problem is not None:
            raise self.problem
        return None

    def find_replayed(self, key: str) -> Record | None:
        """The record a request with `key` replays, for apply and the loop alike; None if none.

        Unlike `find_applied`, an active file that cannot take a record (`active_problem`:
        it lost records its index covered, or a line is not a JSON object) refuses even a key
        still found in it, so expand and resume are refused on it on every path, and a
        rollback pauses again (noting `telemetry_corrupt`) instead of replaying.

        Raises:
            RefusalError: `telemetry_corrupt`, as `find_applied`, or the active file's problem.
        """
        if self.active_problem is not None:
            raise self.active_problem
        return self.find_applied(key)

    def applied_since(self, since: datetime) -> list[Record]:
        """The applied records timed at or after `since`, oldest first (ties in file order).

        Reads the active file and only the sealed segments that may hold such records
        (`reading.records_since`); replays and rejections are not applied records.

        Raises:
            RefusalError: `telemetry_corrupt`: records may be missing (`problem`), or a line
                of a segment read is not a JSON object.
        """
        return reading.records_since(self, since)

    def previous_canary(self) -> int | None:
        """A rollback's `toPercent: previous`, read newest first (`reading.previous_canary`)."""
        return reading.previous_canary(self)

    # Appending ---------------------------------------------------------------------------

    def append(self, record: Record) -> list[Change]:
        """Append one record in memory; return the changed files (the loop commits them)."""
        line = (jsontext.dumps_compact(record) + "\n").encode("utf-8")
        self.active_segment.append((b"" if self.ends_with_newline else b"\n") + line, record)
        self._ensure_sealed()  # a known problem anywhere stops every index write
        if self.problem is not None:
            return [(self.path, self.active)]  # indexes and segments stay until repair-index
        changes: list[Change] = []
        if self.rotate_bytes is not None and self.size > self.rotate_bytes:
            changes += self._rotate()  # with the sealed index
        else:
            changes.append((self.path, self.active))
            if self.segments_stale:
                changes.append((self.segments_file, self.segments_index_bytes()))
        self.segments_stale = False
        changes.append((self.index_file, self.active_index_bytes()))
        return changes

    def append_written(self, data: bytes, record: Record) -> bytes | None:
        """Take `data`, appended by the caller, as `record`'s line; return the new active index.

        For `reconcile apply`, which appends the line itself through its journal. None while
        a problem stands (then no index is rewritten).
        """
        self.active_segment.append(data, record)
        return None if self.problem is not None else self.active_index_bytes()

    def _rotate(self) -> list[Change]:
        active = self.active_segment
        taken = {segment.name for segment in self._sealed}
        first = reading.first_record_time(active.data)
        name = sealed_name(
            self.active_name,
            first,
            lambda name: name in taken or files.exists(os.path.join(self.folder, name)),
        )
        self._check_keys()
        number = len(self._sealed)
        self._sealed.append(active.entry()._replace(name=name))
        for key, (offset, length) in active.keys.items():
            self._sealed_keys[key] = (number, offset, length)
        self._data.append(active.data)
        self._searches.append(active.search)  # same offsets: the loaded bytes come first
        changes: list[Change] = [(os.path.join(self.folder, name), active.data), (self.path, None)]
        self.active_segment = ActiveSegment(self.path, b"", None, trust=True)
        changes.append((self.segments_file, self.segments_index_bytes()))
        return changes

    def active_index_bytes(self) -> bytes:
        """The active segment's index."""
        keys = {key: (0, offset, length) for key, (offset, length) in self.active_keys.items()}
        return index.dumps(self._relative, [self.active_segment.entry()], keys)

    def segments_index_bytes(self) -> bytes:
        """The sealed segments' index."""
        keys = self.sealed_keys  # loads the listing first
        return index.dumps(self._relative, self._sealed, keys)
