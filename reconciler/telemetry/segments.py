"""Telemetry segments: what one is, how sealed ones are named, found and checked.

`promotion-apply.jsonl` is the active segment. When it passes `telemetryRotateBytes` the loop
renames it to `promotion-apply.<first record time, YYYYmmddTHHMMSSZ>.jsonl` (sealed: never
written again; `-2`, `-3`... when that name is taken) and a fresh active file starts with the
next record. So the names sort in time order, and a sealed segment's successor's name bounds
the times of its records (while clocks move forward; the index's times cover the rest).
"""

from __future__ import annotations

import mmap
import os
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from reconciler.core.applied_keys import Coverage
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
NO_STAMP = "00000000T000000Z"
FILE_LIMIT = 256 * 1024 * 1024
"""A telemetry file, active or sealed, is read up to this size (larger: refused)."""
"""The stamp of a segment whose first record has no readable time."""


class Segment(NamedTuple):
    """One segment of the history as an index lists it: the bytes it covers and their times."""

    name: str
    """File name in the telemetry folder."""
    size: int
    crc: int | None
    """CRC-32 of the first `size` bytes; None only in an old active index (see `tail_crc`)."""
    earliest: datetime | None = None
    """The earliest record `timestamp` in those bytes; None: unknown, or no record has one."""
    latest: datetime | None = None
    """The latest record `timestamp` in those bytes; None: unknown, or no record has one."""
    tail_crc: int | None = None
    """CRC-32 of the covered last 4 KiB: all an active index written before `crc` checked."""

    def problem(
        self, data: bytes | mmap.mmap | None, *, growing: bool, crc: int | None = None
    ) -> str | None:
        """What is wrong with `data` as this segment's bytes (None: nothing).

        A growing segment (the active file) may hold more than `size` bytes: records appended
        since. A sealed one must be exactly what the index lists. `crc`: the CRC-32 of
        `data`, when it was computed already.
        """
        if growing:
            return Coverage(self.size, self.crc, self.tail_crc).problem(bytes(data or b""))
        if data is None:
            return "is missing but the segment index lists it"
        if len(data) != self.size or (zlib.crc32(data) if crc is None else crc) != self.crc:
            return f"changed ({len(data)} bytes, the segment index says {self.size})"
        return None


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


def name_time(name: str, pattern: re.Pattern[str]) -> datetime | None:
    """The time a sealed segment's name gives its first record (to the second), or None."""
    match = pattern.fullmatch(name)
    if match is None or match.group(1) == NO_STAMP:
        return None
    try:
        return datetime.strptime(match.group(1), STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def sealed_name(active_name: str, first: datetime | None, taken: Callable[[str], bool]) -> str:
    """The name to seal the active file `active_name` under, its first record at `first`."""
    stamp = first.strftime(STAMP_FORMAT) if first else NO_STAMP
    stem = active_name.removesuffix(".jsonl")
    name, number = f"{stem}.{stamp}.jsonl", 1
    while taken(name):
        number += 1
        name = f"{stem}.{stamp}-{number}.jsonl"
    return name


def unreadable(path: str, exc: RefusalError) -> RefusalError:
    """A sealed segment that cannot be read (a folder, a FIFO, too large): `telemetry_corrupt`.

    Its records are invisible to every lookup, as a missing segment's: expand and resume are
    refused and a rollback still pauses.
    """
    return RefusalError(
        ReasonCode.TELEMETRY_CORRUPT,
        f"{exc.message}: its records cannot be read, so applied keys may be missing; restore "
        "it, or move it away and run `reconcile repair-index`",
        path=path,
    )
