"""Sealed telemetry segments mapped and checksummed in a thread beside the pass.

Proving that a new idempotency key was never applied reads every sealed segment (the records
are the authority, never an index): on a 20,000-intent history, ~25 MB checked against the
CRC-32 the segment index lists. The segments are mapped rather than copied (fewer page
faults: `files.map_bounded`; at most MAP_LIMIT of them, each mapping holding a file
descriptor), and zlib computes a CRC-32 with the GIL released: so this work runs beside the
pass's own reading and its `git` processes instead of after them (`Ledger.prefetch_sealed`).
"""

from __future__ import annotations

import mmap
import threading
import zlib
from collections.abc import Sequence
from typing import NamedTuple

from reconciler.adapters import files
from reconciler.core.errors import RefusalError


class Checked(NamedTuple):
    """One segment as the thread found it."""

    data: bytes | mmap.mmap | None
    """The file's bytes, mapped or read (None: missing or refused)."""
    crc: int | None
    """CRC-32 of `data` (None when there is none)."""
    error: RefusalError | None
    """Why the file could not be read (a symlink, too large, unreadable)."""


MAP_LIMIT = 200
"""Histories with more segments are read, not mapped (a descriptor per mapping)."""


class SealedPrefetch:
    """Map (or read) and checksum `paths` in a daemon thread; `result(n)` waits for them."""

    def __init__(self, paths: Sequence[str], limit: int) -> None:
        self._paths, self._limit = list(paths), limit
        self._results: list[Checked] = []
        self._thread = threading.Thread(target=self._run, name="reconciler-segments", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._check_all()
        except BaseException:  # noqa: BLE001, S110 - the rest is read by whoever needs it
            pass

    def _check_all(self) -> None:
        read = files.map_bounded if len(self._paths) <= MAP_LIMIT else files.read_bounded
        for path in self._paths:
            try:
                data = read(path, self._limit, what="telemetry segment")
            except RefusalError as exc:
                self._results.append(Checked(None, None, exc))
                continue
            self._results.append(Checked(data, None if data is None else zlib.crc32(data), None))

    def result(self, number: int) -> Checked | None:
        """Segment `number`'s result; None when the thread did not get to it (read it)."""
        self._thread.join()
        return self._results[number] if number < len(self._results) else None
