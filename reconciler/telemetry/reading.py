"""Applied records in time order since a given time, reading only the segments that may hold them.

A sealed segment is skipped when two independent bounds both put all of its records before
the time asked for: its index entry (`latest`, exact whatever the clocks did, but a cache) and
its successor's first record time (from the successor's name, or the active file's first
line: a bound as long as clocks moved forward). Either one saying "maybe" reads the segment,
so a clock set back, an old index without times, or an edited index costs reads, never records.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reconciler.core import applied_keys
from reconciler.core.applied_keys import Record
from reconciler.core.timestamps import parse_timestamp
from reconciler.telemetry.segments import Segment

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
