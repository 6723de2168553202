"""The sealed segments of one telemetry history: listed, mapped, checked and searched.

The segment index (`promotion-apply-segments.json`, index.py) lists them with their sizes,
CRC-32s and times, and caches where their applied keys are. It is read when first needed,
and a segment is read and checked against its listing when first needed, so a replay found
in the active file or a read of recent records never opens the old ones. The records, not
the index, say that a key was not applied: a key the index lacks is searched for in every
segment (`find`); a pass starts reading them beforehand in a thread (`prefetch`). Records the
listing covers that are gone (a deleted or changed segment) set `problem`.
"""

from __future__ import annotations

import mmap
import os
import re
import zlib
from collections.abc import Callable, Mapping

from reconciler.adapters import files
from reconciler.core import applied_keys
from reconciler.core.applied_keys import KeySearch, Record, Span
from reconciler.core.errors import RefusalError
from reconciler.telemetry import index, prefetch
from reconciler.telemetry.index import SealedSpan
from reconciler.telemetry.segments import FILE_LIMIT, Segment, sealed_names, unreadable

Stored = bytes | mmap.mmap
"""A segment's bytes as read, or as the pass's thread mapped them (`prefetch`)."""


class SealedSegments:
    """The sealed part of one history, for one apply or pass."""

    def __init__(
        self,
        active_path: str,
        segments_file: str,
        relative: str,
        pattern: re.Pattern[str],
        *,
        trust_indexes: bool,
        active_problem: Callable[[], RefusalError | None],
    ) -> None:
        """Nothing is read yet. `active_problem` is the active file's (read on demand)."""
        self.active_path = active_path
        self.folder = os.path.dirname(active_path)
        self.segments_file = segments_file
        self._relative, self._pattern = relative, pattern
        self.trust_indexes = trust_indexes
        self._active_problem = active_problem
        self.problem: RefusalError | None = None
        """Why the segments cannot tell that a key was not applied (None: they can)."""
        self.stale = False
        """True when the segment index on disk is wrong or old and must be rewritten."""
        self._segments: list[Segment] = []
        self._keys: dict[str, SealedSpan] = {}
        self._unchecked: Mapping[str, object] | None = None
        """The listed key map, before `_check_keys` (`_keys` entries come first)."""
        self._data: list[Stored | None] = []
        """Each segment's bytes (None: not read yet; b"": missing)."""
        self._searches: list[KeySearch | None] = []
        """Each segment's search for keys the index lacks (None: it knows them all)."""
        self._prefetch: prefetch.SealedPrefetch | None = None
        self._loaded = False

    @property
    def listing(self) -> list[Segment]:
        """The sealed segments, oldest first, as listed (or rebuilt from the files)."""
        self._ensure_loaded()
        return self._segments

    @property
    def keys(self) -> dict[str, SealedSpan]:
        """The key cache (key -> segment number, offset, length), checked whole."""
        self._ensure_loaded()
        self._check_keys()
        return self._keys

    def path(self, number: int) -> str:
        """Segment `number`'s absolute path."""
        return os.path.join(self.folder, self._segments[number].name)

    def index_bytes(self) -> bytes:
        """The segment index."""
        keys = self.keys  # loads the listing first
        return index.dumps(self._relative, self._segments, keys)

    # Loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the segment index (once), so `problem` says what it knows."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            try:
                self._load()
            except BaseException:
                self._reset()  # the next reader reads again, and refuses again
                raise

    def _reset(self) -> None:
        self._segments, self._keys, self._data, self._searches = [], {}, [], []
        self._unchecked, self._prefetch, self.problem = None, None, None
        self.stale, self._loaded = False, False

    def _fail(self, problem: RefusalError) -> None:
        if not self.trust_indexes:
            raise problem
        if self.problem is None:
            self.problem = problem

    def _load(self) -> None:
        names = sealed_names(self.active_path)
        raw = index.read_raw(self.segments_file, "segment index")
        listed = (
            index.parse(raw, self._relative, self._pattern, check_keys=False)
            if self.trust_indexes
            else None
        )
        if listed is None:
            if names or raw is not None:  # nothing claimed: the files on disk are the history
                self._rebuild(names)
            return
        self._segments = list(listed.segments)
        self._data = [None] * len(self._segments)
        self._searches = [None] * len(self._segments)
        on_disk = set(names)
        for number, segment in enumerate(self._segments):
            if segment.name not in on_disk:  # known from the listing: no read needed
                self._data[number] = b""
                problem = segment.problem(None, growing=False) or ""
                self._fail(
                    applied_keys.records_lost("telemetry segment", self.path(number), problem)
                )
        extras = [name for name in names if name not in {s.name for s in self._segments}]
        if extras:
            self.load_all()  # every listed segment must be intact before the files are accepted
            if self.problem is None and self._active_problem() is None:
                self._rebuild(names)
                return
            for name in extras:  # while a problem stands nothing is rewritten: just read them
                self._add_scanned(name)
        if listed.keys is None:
            self._keys_from_records()
        else:
            self._keys = {**listed.keys, **self._keys}
            self._unchecked = listed.unchecked
        self.stale = bool(extras) or listed.keys is None or not listed.current

    def _check_keys(self) -> None:
        """Check the whole listed key map; a malformed one is rebuilt from the records."""
        if self._unchecked is None:
            return
        keys, self._unchecked = index.checked_keys(self._unchecked, self._segments), None
        if keys is None:
            self._keys_from_records()
        else:
            self._keys = {**keys, **self._keys}

    def _keys_from_records(self) -> None:
        """A malformed key map: the records say where the keys are (and it is rewritten)."""
        self.load_all()
        for number, data in enumerate(self._data):
            for key, (offset, length) in self._scan(data or b"", number).items():
                self._keys[key] = (number, offset, length)
        self.stale = True

    def _rebuild(self, names: list[str]) -> None:
        self._segments, self._keys, self._data, self._searches = [], {}, [], []
        self._unchecked = None
        for name in names:
            self._add_scanned(name)
        self.stale = True

    def _add_scanned(self, name: str) -> None:
        """Add a segment no index vouches for, as it is on disk, with every key and time."""
        number = len(self._segments)
        data = self._read(os.path.join(self.folder, name)) or b""
        self._segments.append(Segment(name, len(data), zlib.crc32(data)))
        self._data.append(data)
        self._searches.append(None)
        try:
            found = applied_keys.scan(data)
        except applied_keys.CorruptLineError as exc:
            self._fail(applied_keys.corrupt_line(self.path(number), exc.number))
            return
        self._segments[number] = self._segments[number]._replace(
            earliest=found.earliest, latest=found.latest
        )
        for key, (offset, length) in found.keys.items():
            self._keys[key] = (number, offset, length)

    def _scan(self, data: Stored, number: int) -> dict[str, Span]:
        try:
            return applied_keys.index_applied(data)
        except applied_keys.CorruptLineError as exc:
            self._fail(applied_keys.corrupt_line(self.path(number), exc.number))
            return {}

    # Reading ------------------------------------------------------------------------------

    def _read(self, path: str) -> bytes | None:
        """A segment's bytes (None: missing; unreadable: `problem`, see unreadable)."""
        try:
            return files.read_bounded(path, FILE_LIMIT, what="telemetry segment")
        except RefusalError as exc:
            self._unreadable(path, exc)
            return None

    def _unreadable(self, path: str, exc: RefusalError) -> None:
        if not self.trust_indexes:
            raise exc  # repair-index refuses it as it is
        self._fail(unreadable(path, exc))

    def prefetch(self) -> None:
        """Start reading and checksumming every segment in a thread, none read yet.

        For a pass, whose new keys will be looked up in all of them. A segment index that
        cannot be read is left to the lookup that needs it (a pass replaying keys of the
        active file never does).
        """
        try:
            self._ensure_loaded()
        except RefusalError:
            return
        if self._prefetch is None and self._data and all(data is None for data in self._data):
            paths = [self.path(number) for number in range(len(self._segments))]
            self._prefetch = prefetch.SealedPrefetch(paths, FILE_LIMIT)

    def segment_bytes(self, number: int) -> bytes:
        """Segment `number`'s bytes, read (and checked against its listing) once.

        Raises:
            RefusalError: it cannot be read (a symlink, too large).
        """
        data = self.view(number)
        if not isinstance(data, bytes):
            data = self._data[number] = data[:]
        return data

    def view(self, number: int) -> Stored:
        """Segment `number` as `segment_bytes`, but as the thread mapped it (not copied)."""
        data = self._data[number]
        if data is not None:
            return data
        path, listed = self.path(number), self._segments[number]
        found = self._prefetch.result(number) if self._prefetch is not None else None
        if found is None:
            data, crc = self._read(path), None
        elif found.error is not None:
            self._unreadable(path, found.error)
            data, crc = None, None
        else:
            data, crc = found.data, found.crc
        problem = listed.problem(data, growing=False, crc=crc)
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
            self._segments[number] = self._segments[number]._replace(
                earliest=found.earliest, latest=found.latest
            )
            self.stale = True

    def load_all(self) -> list[tuple[str, bytes]]:
        """Every segment's path and bytes, oldest first (each checked)."""
        self._ensure_loaded()
        return [(self.path(n), self.segment_bytes(n)) for n in range(len(self._segments))]

    # Lookups and changes ------------------------------------------------------------------

    def find(self, key: str) -> Record | None:
        """The last applied record of `key` in the segments, newest first; None if none.

        The key cache's pointer is followed when it has one (only that entry checked); a key
        it lacks is searched for in every segment's bytes.

        Raises:
            RefusalError: `telemetry_corrupt`: a line that may hold the key is not a JSON
                object.
        """
        sealed = self._span(key)
        if sealed is not None:
            number, offset, length = sealed
            record = applied_keys.record_at(self.view(number), (offset, length), key)
            if record is not None:
                return record
            self._check_keys()  # (a malformed map is rebuilt from the records: key gone)
            self._keys.pop(key, None)  # a stale pointer (an edited index)
            self.stale = True
        for number in reversed(range(len(self._segments))):
            data = self.view(number)
            search = self._searches[number]
            try:
                found = None if search is None else search.find(key)
            except applied_keys.CorruptLineError as exc:
                raise applied_keys.corrupt_line(self.path(number), exc.number) from None
            if found is not None:
                self._keys[key] = (number, *found)
                self.stale = True
                return applied_keys.record_at(data, found, key)
        return None

    def _span(self, key: str) -> SealedSpan | None:
        """Where the key cache says `key`'s record is (only its own listed entry checked)."""
        self._ensure_loaded()
        found = self._keys.get(key)
        if found is None and self._unchecked is not None and key in self._unchecked:
            found = index.span(self._unchecked[key], self._segments)
            if found is None:  # a malformed entry: the map is checked whole, as any map is
                self._check_keys()
                found = self._keys.get(key)
        return found

    def add(
        self, entry: Segment, data: bytes, search: KeySearch | None, keys: Mapping[str, Span]
    ) -> None:
        """Take the active file, sealed as `entry`, with its key search and keys."""
        self._check_keys()
        number = len(self._segments)
        self._segments.append(entry)
        for key, (offset, length) in keys.items():
            self._keys[key] = (number, offset, length)
        self._data.append(data)
        self._searches.append(search)  # same offsets: the loaded bytes come first
