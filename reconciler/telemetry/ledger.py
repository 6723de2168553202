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
sealed) until `reconcile repair-index` accepts the files as they are. The sealed segments
(sealed.py) are read when first needed, so a replay found in the active file or a read of
recent records never opens the old ones.
"""

from __future__ import annotations

import os
import re
import weakref
from datetime import UTC, datetime

from reconciler.adapters import files
from reconciler.core import audit_chain, jsontext
from reconciler.core.applied_keys import Record
from reconciler.core.errors import RefusalError
from reconciler.telemetry import index, reading
from reconciler.telemetry.active import ActiveSegment
from reconciler.telemetry.index import SealedSpan
from reconciler.telemetry.sealed import SealedSegments
from reconciler.telemetry.segments import FILE_LIMIT, Segment, sealed_name, segment_pattern

DEFAULT_ROTATE_BYTES = 256 * 1024

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
        data = files.read_bounded(telemetry_path, FILE_LIMIT, what="telemetry file") or b""
        listed = None
        if trust_indexes:
            raw = index.read_raw(self.index_file, "telemetry index")
            listed = index.parse(raw, self._relative, re.compile(re.escape(self.active_name)))
        self.active_segment = ActiveSegment(telemetry_path, data, listed, trust=trust_indexes)
        ledger = weakref.ref(self)  # no cycle: a pass's mapped segments go with its Ledger
        self.segments = SealedSegments(
            telemetry_path,
            self.segments_file,
            self._relative,
            self.pattern,
            trust_indexes=trust_indexes,
            active_problem=lambda: getattr(ledger(), "active_problem", None),
        )
        """The sealed segments, read when first needed: an apply replaying a key of the
        active file, or one without a key, never reads them."""

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

    # The sealed segments (sealed.py) -----------------------------------------------------

    @property
    def sealed_problem(self) -> RefusalError | None:
        """Why the sealed segments cannot tell that a key was not applied (None: they can)."""
        return self.segments.problem

    @property
    def segments_stale(self) -> bool:
        """True when the sealed index on disk is wrong or old and must be rewritten."""
        return self.segments.stale

    @property
    def sealed(self) -> list[Segment]:
        """The sealed segments, oldest first, as listed (or rebuilt from the files)."""
        return self.segments.listing

    @property
    def sealed_keys(self) -> dict[str, SealedSpan]:
        """The sealed segments' key cache (key -> segment number, offset, length)."""
        return self.segments.keys

    def segment_path(self, number: int) -> str:
        """Sealed segment `number`'s absolute path."""
        return self.segments.path(number)

    def segment_bytes(self, number: int) -> bytes:
        """Sealed segment `number`'s bytes, read (and checked against its listing) once.

        Raises:
            RefusalError: it cannot be read (a symlink, too large).
        """
        return self.segments.segment_bytes(number)

    def prefetch_sealed(self) -> None:
        """Start checking every sealed segment in a thread (a pass's new keys need them all)."""
        self.segments.prefetch()

    def load_all(self) -> list[tuple[str, bytes]]:
        """Every segment's path and bytes, the active file first (each sealed one checked)."""
        return [(self.path, self.active), *self.segments.load_all()]

    # Lookups -----------------------------------------------------------------------------

    def find_applied(self, key: str) -> Record | None:
        """Return the last applied record with `key`, newest segment first; None if none.

        Raises:
            RefusalError: `telemetry_corrupt`: the key was not found and `problem` is set,
                or a line that may hold the key is not a JSON object.
        """
        record = self.active_segment.find(key) or self.segments.find(key)
        if record is not None:
            return record
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

    def last_applied_rollout(self) -> Record | None:
        """The newest applied record's `rollout.after` (`reading.last_applied_rollout`)."""
        return reading.last_applied_rollout(self)

    # Appending ---------------------------------------------------------------------------

    def previous_line(self) -> bytes | None:
        """The last record line of the history (no newline), the one a new record chains to.

        The active file's last line, or after a rotation (an empty active file) the newest
        sealed segment's: a search from the end of bytes already in memory (a pass that
        starts on an empty active file reads that one segment). None: no record yet.
        """
        line = audit_chain.last_line(self.active)
        if line is None and self.segments.listing:
            try:
                newest = self.segment_bytes(len(self.segments.listing) - 1)
            except RefusalError:
                return None  # unreadable: its `problem` stands; verify reports the link
            line = audit_chain.last_line(newest)
        return line

    def link(self, record: Record) -> Record:
        """Set `record`'s `prevHash` to the hash of the line before it; return `record`.

        In place, so the apply-state file, stdout and the commit show the same record.
        """
        record["prevHash"] = audit_chain.line_hash(self.previous_line())
        return record

    def append(self, record: Record) -> list[Change]:
        """Chain and append one record in memory; return the changed files (the loop commits).

        `record` gains its `prevHash` (`link`).
        """
        line = (jsontext.dumps_compact(self.link(record)) + "\n").encode("utf-8")
        self.active_segment.append((b"" if self.ends_with_newline else b"\n") + line, record)
        self.segments.load()  # a known problem anywhere stops every index write
        if self.problem is not None:
            return [(self.path, self.active)]  # indexes and segments stay until repair-index
        changes: list[Change] = []
        if self.rotate_bytes is not None and self.size > self.rotate_bytes:
            changes += self._rotate()  # with the sealed index
        else:
            changes.append((self.path, self.active))
            if self.segments_stale:
                changes.append((self.segments_file, self.segments_index_bytes()))
        self.segments.stale = False
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
        taken = {segment.name for segment in self.segments.listing}
        first = reading.first_record_time(active.data)
        name = sealed_name(
            self.active_name,
            first,
            lambda name: name in taken or files.exists(os.path.join(self.folder, name)),
        )
        self.segments.add(
            active.entry()._replace(name=name), active.data, active.search, active.keys
        )
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
        return self.segments.index_bytes()


def applied_records(telemetry_path: str, state_path: str) -> list[Record]:
    """Every applied record of a fleet's telemetry, oldest first (an upstream's soak).

    Raises:
        RefusalError: `telemetry_corrupt` (see `Ledger.applied_since`).
    """
    return Ledger(telemetry_path, state_path).applied_since(datetime(1970, 1, 1, tzinfo=UTC))
