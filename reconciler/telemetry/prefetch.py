"""Sealed telemetry segments read and checksummed in a thread beside the pass.

Proving that a new idempotency key was never applied reads every sealed segment (the records
are the authority, never an index): on a 20,000-intent history, ~25 MB read and checked
against the CRC-32 the segment index lists. A read into fresh memory costs more in page
faults than in copying, and both happen with the GIL released, as does zlib's CRC-32: so
this work runs beside the pass's own reading and its `git` processes instead of after them
(`Ledger.prefetch_sealed`).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from typing import NamedTuple

from reconciler.adapters import files
from reconciler.core.errors import RefusalError


class Checked(NamedTuple):
    """One segment as the thread found it."""

    data: bytes | None
    """The file's bytes (None: missing or refused)."""
    crc: int | None
    """CRC-32 of `data` (None when there is none)."""
    error: RefusalError | None
    """Why the file could not be read (a symlink, too large, unreadable)."""


class SealedPrefetch:
    """Read and checksum `paths` in a daemon thread; `result(n)` waits for them."""

    def __init__(self, paths: Sequence[str], limit: int) -> None:
        self._paths, self._limit = list(paths), limit
        self._results: list[Checked] = []
        self._thread = threading.Thread(target=self._run, name="reconciler-segments", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for path in self._paths:
            try:
                data = files.read_bounded(path, self._limit, what="telemetry segment")
            except RefusalError as exc:
                self._results.append(Checked(None, None, exc))
                continue
            self._results.append(Checked(data, None if data is None else zlib.crc32(data), None))

    def result(self, number: int) -> Checked | None:
        """Segment `number`'s result; None when the thread did not get to it (read it)."""
        self._thread.join()
        return self._results[number] if number < len(self._results) else None
