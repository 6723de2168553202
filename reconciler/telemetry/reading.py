"""Reading the applied records without reading the whole history (telemetry layer).

`records_since`: applied records in time order since a given time, reading only the segments
that may hold them. A sealed segment is skipped when two independent bounds both put all of
its records before the time asked for: its index entry (`latest`, exact whatever the clocks
did, but a cache) and its successor's first record time (from the successor's name, or the
active file's first line: a bound as long as clocks moved forward). Either one saying "maybe"
reads the segment, so a clock set back, an old index without times, or an edited index costs
reads, never records.

`previous_canary`: the newest applied expand that raised the canary, read newest first (the
active file, then the sealed segments newest to oldest), stopping at the first match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from reconciler.core import applied_keys, guards
from reconciler.core.applied_keys import Record
from reconciler.core.errors import RefusalError
from reconciler.core.timestamps import parse_timestamp
from reconciler.telemetry.segments import Segment, name_time

_T = TypeVar("_T")

STAMP_PRECISION = timedelta(seconds=1)
"""Segment names give their first record's time to the second (truncated)."""


def may_hold_since(segment: Segment, successor_start: datetime | None, since: datetime) -> bool:
    """Whether the sealed `segment` may hold a record timed at or after `since`.

    `successor_start` is the time of the first record after the segment, to the second
    (None when unknown).
    """
    by_index = segment.latest is None or segment.latest >= since
    by_name = successor_start is None or successor_start + STAMP_PRECISION > since
    return by_index or by_name


def first_record_time(data: bytes) -> datetime | None:
    """The `timestamp` of the first line's record (None: none, or not readable).

    What a sealed segment is named by, so this is also the active file's "successor start".
    """
    record = applied_keys.loads_record(data.split(b"\n", 1)[0]) or {}
    return parse_timestamp(record.get("timestamp"))


def applied_since(data: bytes, since: datetime) -> list[tuple[datetime, Record]]:
    """Every applied record in `data` timed at or after `since`, with its time, in file order.

    A record without a readable `timestamp` is never "since" anything.

    Raises:
        applied_keys.CorruptLineError: a line is not a JSON object.
    """
    bulk = _parse_all(data)
    if bulk is not None:
        return [
            (when, record)
            for record in bulk
            if record.get("status") == "applied"
            and (when := parse_timestamp(record.get("timestamp"))) is not None
            and when >= since
        ]
    found = []
    offset, end = 0, len(data)
    while offset < end:
        stop = data.find(b"\n", offset)
        stop = end if stop < 0 else stop + 1
        line = data[offset:stop]
        if line.strip():
            record = applied_keys.loads_record(line)
            if record is None:
                raise applied_keys.CorruptLineError(applied_keys.line_number(data, offset))
            when = parse_timestamp(record.get("timestamp"))
            if record.get("status") == "applied" and when is not None and when >= since:
                found.append((when, record))
        offset = stop
    return found


def _parse_all(data: bytes) -> list[Record] | None:
    """Every line of `data` as a JSON object, in one parse; None when any line is not one.

    One `json.loads` of the lines joined into an array costs about two thirds of a parse per
    line. It only stands when the array has exactly one object per non-blank line (a line
    holding two objects, or none, would shift them); otherwise the caller parses line by line
    and names the bad line.
    """
    lines = [line for line in data.split(b"\n") if line.strip()]
    try:
        values = json.loads(b"[" + b",".join(lines) + b"]")
    except (ValueError, RecursionError, MemoryError):
        return None
    if len(values) != len(lines) or not all(isinstance(value, dict) for value in values):
        return None
    return cast("list[Record]", values)


class Parsed:
    """The applied records of one file's bytes, parsed once and extended as the file grows.

    The loop appends a record per intent and the guards ask for the records since a time
    before each intent: without this, every request re-parsed the whole active file, a cost
    that grew with the square of the pass's length.
    """

    __slots__ = ("data", "records")

    def __init__(self) -> None:
        self.data = b""
        """The bytes parsed so far (whole lines)."""
        self.records: list[tuple[datetime, Record]] = []

    def update(self, data: bytes) -> list[tuple[datetime, Record]]:
        """Parse what `data` adds to the bytes parsed so far (all of it when they differ).

        Raises:
            applied_keys.CorruptLineError: a new line is not a JSON object.
        """
        done = len(self.data)
        if len(data) < done or data[:done] != self.data:
            done, self.records = 0, []
        end = max(data.rfind(b"\n") + 1, done)
        start = done
        try:
            if end > done:
                self.records += applied_since(data[done:end], _EPOCH)
                self.data = data[:end]
            start = end
            if data[end:].strip():  # a last line without its newline: parsed, not remembered
                return self.records + applied_since(data[end:], _EPOCH)
        except applied_keys.CorruptLineError as exc:
            # Numbered from the start of the file, as a parse of it all numbers it.
            raise applied_keys.CorruptLineError(data.count(b"\n", 0, start) + exc.number) from None
        return self.records


_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


class History(Protocol):
    """What `records_since` reads of a Ledger (kept apart: the Ledger calls it)."""

    path: str
    pattern: re.Pattern[str]
    parsed: dict[str, Parsed]
    """The applied records of each file read so far (`Parsed`), by path."""

    @property
    def active(self) -> bytes:
        """The active file's bytes."""

    @property
    def sealed(self) -> list[Segment]:
        """The sealed segments, oldest first."""

    @property
    def problem(self) -> RefusalError | None:
        """Why the history cannot be trusted to be whole."""

    def segment_path(self, number: int) -> str:
        """Sealed segment `number`'s path."""

    def segment_bytes(self, number: int) -> bytes:
        """Sealed segment `number`'s bytes."""


def records_since(history: History, since: datetime) -> list[Record]:
    """The applied records of `history` timed at or after `since`, oldest first.

    Ties keep the files' order. Only the sealed segments that may hold such records are read.

    Raises:
        RefusalError: `telemetry_corrupt`: records may be missing (`problem`), or a line of a
            segment read is not a JSON object.
    """
    sealed = history.sealed

    def successor_start(number: int) -> datetime | None:
        if number + 1 < len(sealed):
            return name_time(sealed[number + 1].name, history.pattern)
        return first_record_time(history.active)

    wanted = [
        number
        for number, segment in enumerate(sealed)
        if may_hold_since(segment, successor_start(number), since)
    ]
    chunks = [(history.segment_path(n), history.segment_bytes(n)) for n in wanted]
    chunks.append((history.path, history.active))
    if history.problem is not None:
        raise history.problem
    found: list[tuple[datetime, Record]] = []
    for path, data in chunks:
        parsed = history.parsed.setdefault(path, Parsed())
        try:
            found += [pair for pair in parsed.update(data) if pair[0] >= since]
        except applied_keys.CorruptLineError as exc:
            history.parsed.pop(path, None)
            raise applied_keys.corrupt_line(path, exc.number) from None
    found.sort(key=lambda pair: pair[0])  # stable: equal times keep the files' order
    return [record for _, record in found]


class NewestFirst(History, Protocol):
    """What `previous_canary` reads of a Ledger: a History and its active file's problem."""

    @property
    def active_problem(self) -> RefusalError | None:
        """Why the active file cannot be trusted (records lost, not JSON lines)."""


def previous_canary(history: NewestFirst) -> int | None:
    """The canary before the newest applied expand that raised it; None when there is none.

    What a rollback's `toPercent: previous` goes back to. Read newest first (`_newest`).

    Raises:
        RefusalError: `telemetry_corrupt`: the active file or a segment that had to be read
            may have lost records, or a line read is not a JSON object.
    """
    return _newest(history, _raised_from)


def last_applied_rollout(history: NewestFirst) -> dict[str, Any] | None:
    """The `rollout.after` of the newest applied record (an adopt's `before`); None: none.

    Raises:
        RefusalError: as `previous_canary`.
    """
    return _newest(history, _applied_after)


def _applied_after(record: dict[str, Any]) -> dict[str, Any] | None:
    rollout = record.get("rollout") if record.get("status") == "applied" else None
    after = rollout.get("after") if isinstance(rollout, dict) else None
    return after if isinstance(after, dict) else None


def _newest(history: NewestFirst, pick: Callable[[dict[str, Any]], _T | None]) -> _T | None:
    """The first record, newest first, that `pick` says something of; None when none does.

    In file order (the order the records were appended): the active file, then the sealed
    segments newest to oldest; an older segment is never opened once a match is found. Every
    line passed on the way must be a record: a broken one could have been the match.
    """
    if history.active_problem is not None:
        raise history.active_problem
    found = _newest_in(history.path, history.active, pick)
    if found is not None:
        return found
    for number in reversed(range(len(history.sealed))):  # the segment index is read only now
        data = history.segment_bytes(number)
        if history.problem is not None:  # records may be missing: this one, or older ones
            raise history.problem
        found = _newest_in(history.segment_path(number), data, pick)
        if found is not None:
            return found
    return None


def _newest_in(path: str, data: bytes, pick: Callable[[dict[str, Any]], _T | None]) -> _T | None:
    """What `pick` says of the newest record in `data` it says something of."""
    for offset, line in _lines_newest_first(data):
        record = applied_keys.loads_record(line)
        if record is None:
            number = applied_keys.line_number(data, offset)
            raise applied_keys.corrupt_line(path, number)
        found = pick(record)
        if found is not None:
            return found
    return None


def _lines_newest_first(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Each non-blank line of `data` with its offset, the last line first."""
    stop = len(data)
    while stop > 0:
        start = data.rfind(b"\n", 0, stop) + 1
        line = data[start:stop]
        if line.strip():
            yield start, line
        stop = start - 1


def _raised_from(record: Record) -> int | None:
    """An applied expand's canary before it, when it raised the canary; else None."""
    found = guards.expand_raise(record) if record.get("status") == "applied" else None
    return found[0] if found else None
