"""The telemetry history as segments: the active file, rotated segments, and their key indexes.

`promotion-apply.jsonl` is the active segment. When it passes `telemetryRotateBytes` it is
renamed to `promotion-apply.<first record time>.jsonl` (sealed: never written again) and a
fresh active file starts with the next record. Two small indexes beside the apply-state file
answer "was this idempotency key applied?" without parsing the history:

- `promotion-apply-index.json`: the active segment's keys (rewritten with every record; the
  format `reconcile apply` already keeps), checked against the file's size and tail CRC;
- `promotion-apply-segments.json`: the sealed segments' keys (rewritten only at a rotation),
  checked against the segments' names and sizes.

An index that disagrees with the records is rebuilt from them (`reconcile repair-index` does
it on demand). A Ledger holds all of it in memory for one pass: the loop streams every change
into its commits, then git writes the files.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from typing import Any, NamedTuple

from reconciler import store
from reconciler.adapters import files
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import parse_timestamp

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


def _index_keys(lines: bytes, base: int = 0) -> dict[str, tuple[int, int]]:
    """Index the applied keys of JSONL bytes; raises on a line that is not a JSON object."""
    keys: dict[str, tuple[int, int]] = {}
    offset = 0
    for number, line in enumerate(lines.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped:
            record = _loads(stripped)
            if record is None:
                raise ValueError(number)
            key = record.get("idempotencyKey")
            if isinstance(key, str) and key and record.get("status") == "applied":
                keys[key] = (base + offset, len(line))
        offset += len(line)
    return keys


def _loads(data: bytes) -> Record | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


class Ledger:
    """One layout's telemetry history, in memory for a pass; `append` returns file changes."""

    def __init__(
        self, telemetry_path: str, state_file: str, rotate_bytes: int, *, trust_indexes: bool = True
    ) -> None:
        """Load the active segment and both indexes (rebuilding any that disagree).

        Without `trust_indexes` both indexes are rebuilt from the records (repair-index).

        Raises:
            RefusalError: a telemetry line is not a JSON object (`telemetry_corrupt`).
        """
        self.path = telemetry_path
        self.folder, self.active_name = os.path.split(telemetry_path)
        self.index_file = store.index_path(state_file)
        self.segments_file = os.path.join(os.path.dirname(state_file), SEGMENTS_INDEX_NAME)
        self.rotate_bytes = rotate_bytes
        data = files.read_bounded(telemetry_path, ACTIVE_LIMIT, what="telemetry file")
        self.active = data or b""
        self.trust_indexes = trust_indexes
        self.active_keys = (
            self._load_active_keys() if trust_indexes else self._scan(self.active, self.path)
        )
        self.sealed: list[Segment] = []
        self.sealed_keys: dict[str, tuple[int, int, int]] = {}
        self.pending_segments: dict[str, bytes] = {}
        """Segments sealed during this pass, not on disk yet."""
        self.segments_stale = not self._load_sealed()
        """True when the sealed index on disk was wrong and must be rewritten."""

    # Loading -------------------------------------------------------------------------

    def _load_active_keys(self) -> dict[str, tuple[int, int]]:
        data = files.read_bounded(self.index_file, store.INDEX_LIMIT, what="telemetry index")
        doc = None if data is None else _loads(data)
        if doc is not None:
            relative = os.path.relpath(self.path, os.path.dirname(self.index_file))
            tail = self.active[-store.TAIL_BYTES :]
            if (
                doc.get("telemetryFile") == relative
                and doc.get("size") == len(self.active)
                and doc.get("tailCrc") == zlib.crc32(tail)
            ):
                keys = store.index_keys_of(doc, len(self.active))
                if keys is not None:
                    return keys
        return self._scan(self.active, self.path)

    def _scan(self, data: bytes, path: str) -> dict[str, tuple[int, int]]:
        try:
            return _index_keys(data)
        except ValueError as exc:
            raise RefusalError(
                ReasonCode.TELEMETRY_CORRUPT,
                f"telemetry file is corrupt: {path}:{exc.args[0]}",
                path=path,
            ) from None

    def _load_sealed(self) -> bool:
        """Load the sealed index; rebuild it from the segments when it disagrees with them."""
        names = sealed_names(self.path)
        sizes = [files.file_size(os.path.join(self.folder, name)) for name in names]
        data = files.read_bounded(self.segments_file, store.INDEX_LIMIT, what="segment index")
        doc = None if data is None or not self.trust_indexes else _loads(data)
        if doc is not None and self._accept_sealed(doc, names, sizes):
            return True
        if not names and data is None:
            return True  # nothing sealed and no index: nothing to rebuild or write
        self.sealed, self.sealed_keys = [], {}
        for index, name in enumerate(names):
            path = os.path.join(self.folder, name)
            content = files.read_bounded(path, ACTIVE_LIMIT, what="telemetry segment") or b""
            self.sealed.append(Segment(name, len(content), zlib.crc32(content)))
            for key, (offset, length) in self._scan(content, path).items():
                self.sealed_keys[key] = (index, offset, length)
        return False

    def _accept_sealed(self, doc: Record, names: list[str], sizes: list[int]) -> bool:
        try:
            listed = [
                Segment(str(item["name"]), int(item["size"]), int(item["crc"]))
                for item in doc["segments"]
            ]
            keys = {
                str(key): (int(span[0]), int(span[1]), int(span[2]))
                for key, span in doc["keys"].items()
            }
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return False
        if [item.name for item in listed] != names or [item.size for item in listed] != sizes:
            return False
        if any(
            not 0 <= s < len(listed) or o < 0 or n <= 0 or o + n > listed[s].size
            for s, o, n in keys.values()
        ):
            return False
        self.sealed, self.sealed_keys = listed, keys
        return True

    # Lookups -------------------------------------------------------------------------

    def find_applied(self, key: str) -> Record | None:
        """Return the last applied record with `key`, newest segment first; None if none."""
        span = self.active_keys.get(key)
        if span is not None:
            record = _loads(self.active[span[0] : span[0] + span[1]])
            if _is_applied(record, key):
                return record
        sealed = self.sealed_keys.get(key)
        if sealed is not None:
            segment = self.sealed[sealed[0]]
            data = self.pending_segments.get(segment.name)
            if data is not None:
                line = data[sealed[1] : sealed[1] + sealed[2]]
            else:
                line = files.read_range(os.path.join(self.folder, segment.name), *sealed[1:])
            record = _loads(line)
            if _is_applied(record, key):
                return record
        if span is not None or sealed is not None:
            raise RefusalError(
                ReasonCode.TELEMETRY_CORRUPT,
                f"the telemetry index disagrees with {self.path} for key {key!r}; "
                "run `reconcile repair-index`",
                path=self.path,
            )
        return None

    # Appending -----------------------------------------------------------------------

    def append(self, record: Record) -> list[tuple[str, bytes | None]]:
        """Append one record; return the changed files (absolute path, bytes or None: deleted)."""
        line = (store.dumps_compact(record) + "\n").encode("utf-8")
        prefix = b"" if not self.active or self.active.endswith(b"\n") else b"\n"
        offset = len(self.active) + len(prefix)
        self.active += prefix + line
        key = record.get("idempotencyKey")
        if isinstance(key, str) and key and record.get("status") == "applied":
            self.active_keys[key] = (offset, len(line))
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
        self.sealed.append(Segment(name, len(self.active), zlib.crc32(self.active)))
        for key, (offset, length) in self.active_keys.items():
            self.sealed_keys[key] = (index, offset, length)
        self.pending_segments[name] = self.active
        sealed = os.path.join(self.folder, name)
        changes: list[tuple[str, bytes | None]] = [(sealed, self.active), (self.path, None)]
        self.active, self.active_keys = b"", {}
        changes.append((self.segments_file, self.segments_index_bytes()))
        return changes

    def _segment_name(self) -> str:
        first = self.active.split(b"\n", 1)[0]
        record = _loads(first) or {}
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
        doc = {
            "schemaVersion": "v1",
            "telemetryFile": os.path.relpath(self.path, os.path.dirname(self.index_file)),
            "size": len(self.active),
            "tailCrc": zlib.crc32(self.active[-store.TAIL_BYTES :]),
            "keys": {key: list(span) for key, span in self.active_keys.items()},
        }
        return (store.dumps_compact(doc) + "\n").encode("utf-8")

    def segments_index_bytes(self) -> bytes:
        """The sealed segments' index."""
        doc = {
            "schemaVersion": "v1",
            "segments": [segment._asdict() for segment in self.sealed],
            "keys": {key: list(span) for key, span in self.sealed_keys.items()},
        }
        return (store.dumps_compact(doc) + "\n").encode("utf-8")


def _is_applied(record: Record | None, key: str) -> bool:
    return (
        record is not None
        and record.get("idempotencyKey") == key
        and record.get("status") == "applied"
    )


def find_sealed_applied(telemetry_path: str, state_file: str, key: str) -> Record | None:
    """Return the last applied record with `key` in the telemetry segments, or None.

    `reconcile apply` asks this after the active file, so a key the loop applied before a
    rotation is still replayed, never applied twice.

    Raises:
        RefusalError: the telemetry is corrupt.
    """
    if not sealed_names(telemetry_path):
        return None
    return Ledger(telemetry_path, state_file, DEFAULT_ROTATE_BYTES).find_applied(key)
