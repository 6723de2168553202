"""The active telemetry segment as `reconcile apply` reads it, and its key index.

The telemetry key index is derived data, written last: a cache of where applied keys are,
never the authority that a key was not applied (the records are searched for a key it lacks).
It records the size and CRC of the telemetry it covers: telemetry that lost or changed those
bytes is `telemetry_corrupt` until `reconcile repair-index` accepts it.
"""

from __future__ import annotations

import os
import zlib
from typing import Any, NamedTuple

from reconciler.adapters import files
from reconciler.core import applied_keys
from reconciler.core.applied_keys import KeySearch, Span
from reconciler.core.errors import RefusalError
from reconciler.core.jsontext import dumps_compact

INDEX_NAME = "promotion-apply-index.json"
INDEX_LIMIT = 64 * 1024 * 1024
TELEMETRY_LIMIT = 256 * 1024 * 1024

Record = dict[str, Any]


def index_path(apply_state_file: str) -> str:
    """Return the telemetry key index path, beside the apply-state file."""
    return os.path.join(os.path.dirname(apply_state_file), INDEX_NAME)


class TelemetryView(NamedTuple):
    """What the store knows about a telemetry file: its bytes and a cache of its applied keys."""

    path: str
    data: bytes
    """The file's bytes."""
    keys: dict[str, Span]
    """Idempotency key -> span of an applied record with it. A cache (the index's, plus what
    was appended after it): a hit is checked against the record, a miss against `search`."""
    search: KeySearch | None = None
    """Searches the records for a key `keys` does not know; None when `keys` come from
    parsing every record (then a key not in them was never applied)."""
    problem: RefusalError | None = None
    """Why the file cannot tell that a key was not applied (a corrupt line, records lost
    since the index was written); the index is then left as it is until repair-index."""

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return len(self.data)

    @property
    def indexed(self) -> bool:
        """Whether the index may be saved for this view (False while `problem` stands)."""
        return self.problem is None

    @property
    def ends_with_newline(self) -> bool:
        """Whether a new line can be appended as is (else a repair newline goes first)."""
        return not self.data or self.data.endswith(b"\n")


def _read_telemetry(path: str) -> bytes:
    return files.read_bounded(path, TELEMETRY_LIMIT, what="telemetry file") or b""


def scan_telemetry(path: str) -> TelemetryView:
    """Read every record of a telemetry file and index its applied idempotency keys.

    Raises:
        RefusalError: a line is not a JSON object (`telemetry file is corrupt: <path>:<line>`).
    """
    data = _read_telemetry(path)
    try:
        return TelemetryView(path, data, applied_keys.index_applied(data))
    except applied_keys.CorruptLineError as exc:
        raise applied_keys.corrupt_line(path, exc.number) from None


class ActiveKeys(NamedTuple):
    """A telemetry file's key cache, how to search it for the rest, and what is wrong with it."""

    keys: dict[str, Span]
    search: KeySearch | None
    problem: RefusalError | None


def read_index(path: str) -> dict[str, Any] | None:
    """The key index at `path` as a JSON object; None when absent or not one."""
    raw = files.read_bounded(path, INDEX_LIMIT, what="telemetry index")
    return None if raw is None else applied_keys.loads_record(raw)


def read_active_keys(path: str, data: bytes, index_file: str) -> ActiveKeys:
    """Check the index against the telemetry bytes `data` and return what to look keys up in.

    An index covers a prefix of the file (size and CRC); records appended after it are
    parsed, and a key the index lacks is searched for in the records. A file shorter than
    that prefix, or changed within it, lost records the index knew: `problem` says so, and
    so does a corrupt line. Without an index (or with one for another file) every record is
    parsed. The apply path and the loop both use this.
    """
    relative = os.path.relpath(path, os.path.dirname(index_file))
    doc = read_index(index_file)
    index = applied_keys.read_active_index(doc, relative)
    try:
        if index is not None and (lost := index.coverage.problem(data)) is not None:
            applied_keys.index_applied(data)  # a corrupt line is the more precise message
            problem = applied_keys.records_lost("telemetry file", path, lost)
            return ActiveKeys(index.keys or {}, KeySearch(data), problem)
        if index is None or index.keys is None:
            return ActiveKeys(applied_keys.index_applied(data), None, None)
        start = data.rfind(b"\n", 0, index.coverage.size) + 1  # the last covered line
        keys = {**index.keys, **applied_keys.index_applied(data, start)}
        return ActiveKeys(keys, KeySearch(data), None)
    except applied_keys.CorruptLineError as exc:
        return ActiveKeys({}, KeySearch(data), applied_keys.corrupt_line(path, exc.number))


def load_telemetry(path: str, index_file: str, *, need_keys: bool = True) -> TelemetryView:
    """Return the telemetry view, with the index's keys when it covers the file.

    Without `need_keys` (an apply with no idempotency key) a problem does not stop the
    apply: nothing is looked up, and the index is left as it is.

    Raises:
        RefusalError: `telemetry_corrupt` when keys are needed and the file has a problem.
    """
    data = _read_telemetry(path)
    keys, search, problem = read_active_keys(path, data, index_file)
    if need_keys and problem is not None:
        raise problem
    return TelemetryView(path, data, keys, search, problem)


def save_index(view: TelemetryView, index_file: str) -> None:
    """Persist the key index for `view` (derived data); skip a view with a problem."""
    if not view.indexed:
        return
    # Relative, so the index stays valid in another clone or a moved checkout.
    relative = os.path.relpath(view.path, os.path.dirname(index_file))
    data = view.data
    doc = applied_keys.index_doc(relative, len(data), zlib.crc32(data), data, view.keys)
    # Derived data, verified against the telemetry before use: no fsync needed.
    files.atomic_write(index_file, dumps_compact(doc).encode("utf-8"), durable=False)


def find_applied(view: TelemetryView, key: str) -> Record | None:
    """Return the last applied record with `key`, or None: the index's hit, else the records'.

    Raises:
        RefusalError: the records cannot tell (`view.problem`), or a line that may hold the
            key is not a JSON object.
    """
    span = view.keys.get(key)
    if span is not None:
        record = applied_keys.record_at(view.data, span, key)
        if record is not None:
            return record
    if view.search is not None:
        try:
            found = view.search.find(key)
        except applied_keys.CorruptLineError as exc:
            raise applied_keys.corrupt_line(view.path, exc.number) from None
        if found is not None:
            return applied_keys.record_at(view.data, found, key)
    if view.problem is not None:
        raise view.problem
    return None


def after_append(view: TelemetryView, data: bytes, key: str | None) -> TelemetryView:
    """Return the view once `data` (one record line, maybe after a repair newline) is appended."""
    line = data.removeprefix(b"\n")
    keys = dict(view.keys)
    if key:
        keys[key] = (view.size + len(data) - len(line), len(line))
    # Derived from what was written, not read back: under the lock nothing else appended
    # (and should a shared file have grown, the next run parses what the index lacks).
    return view._replace(data=view.data + data, keys=keys)
