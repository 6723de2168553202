"""Durable record store: the roll-forward journal, the apply-state file and telemetry.

A mutation touches three files (registry, apply-state, telemetry). The service first writes a
journal holding all of their new bytes, then the files, then deletes the journal; every later
run rolls a leftover journal forward before doing anything else. A kill -9 at any point thus
ends, as seen by the next run, with all three before or all three after. The telemetry key
index is derived data: written last, checked against the telemetry size and tail, rebuilt from
the records whenever it disagrees.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

from reconciler.adapters import files
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

JOURNAL_NAME = ".reconciler-journal.json"
JOURNAL_LIMIT = 64 * 1024 * 1024
INDEX_NAME = "promotion-apply-index.json"
INDEX_LIMIT = 64 * 1024 * 1024
TAIL_BYTES = 4096

Record = dict[str, Any]


def _loads_object(data: bytes) -> dict[str, Any] | None:
    """Decode a JSON object; None for anything else, however hostile (deep, huge, broken)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def dumps_compact(value: object) -> str:
    """Serialise JSON the way the bash tool's jq -c did: no spaces, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Replacement(NamedTuple):
    """One file's new content, and a fingerprint of what it held before (None: absent)."""

    path: str
    data: bytes
    before: tuple[int, int] | None
    """(CRC-32, size) of the file when the journal was written."""


class WritePlan(NamedTuple):
    """The new bytes of every file one mutation changes."""

    replacements: tuple[Replacement, ...]
    """Written atomically, in order."""
    append_path: str
    append_offset: int
    append_data: bytes


def plan_replacement(path: str, data: bytes, current: bytes | None = None) -> Replacement:
    """Return the replacement of `path` by `data`, fingerprinting what it holds now.

    `current` saves re-reading a file whose bytes the caller already holds.

    Raises:
        RefusalError: the file cannot be read.
    """
    if current is not None:
        return Replacement(path, data, (zlib.crc32(current), len(current)))
    return Replacement(path, data, files.crc_and_size(path))


def journal_path(folder: str) -> str:
    """Return the journal path for the lock folder `folder`."""
    return os.path.join(folder, JOURNAL_NAME)


def commit(plan: WritePlan, journal: str) -> None:
    """Write the journal, then every file, then drop the journal.

    Paths in the journal are relative to its folder, so a checkout that moves between a
    crash and the next run completes the write in its new place, never in the old one.

    Raises:
        RefusalError: the journal could not be written (nothing changed), or a later write
            failed (`write_interrupted`: the journal stays and the next run completes it).
    """
    folder = os.path.dirname(journal)
    payload = {
        "schemaVersion": "v1",
        "replacements": [
            {
                "path": os.path.relpath(item.path, folder),
                "text": item.data.decode("utf-8"),
                "before": None if item.before is None else list(item.before),
            }
            for item in plan.replacements
        ],
        "append": {
            "path": os.path.relpath(plan.append_path, folder),
            "offset": plan.append_offset,
            "text": plan.append_data.decode("utf-8"),
        },
    }
    files.atomic_write(journal, dumps_compact(payload).encode("utf-8"))
    try:
        _roll_forward(plan)
    except RefusalError as exc:
        raise RefusalError(
            ReasonCode.WRITE_INTERRUPTED,
            f"the apply was interrupted while writing its files ({exc.message}); the journal "
            f"{journal} completes it on the next run once that is fixed",
            path=journal,
        ) from exc
    # Not made durable on purpose: a journal that reappears after a power loss is rolled
    # forward again, which changes nothing (every file already holds its new bytes).
    files.remove(journal, durable=False)


def _roll_forward(plan: WritePlan) -> None:
    for item in plan.replacements:
        files.atomic_write(item.path, item.data)
    # O_APPEND, not a write at the planned offset: should another writer have appended to a
    # shared telemetry file meanwhile, both lines survive (recovery finds ours wherever it is).
    if plan.append_data:  # empty: a rollback's record not appended (`telemetry_not_appended`)
        files.append(plan.append_path, plan.append_data)


def recover(folder: str, allowed: Iterable[str]) -> bool:
    """Complete an interrupted mutation left in `folder`; return True when one was found.

    Also deletes temp files a killed writer left in `folder` and beside every `allowed` path.
    The journal may only write the `allowed` files (the current layout's registry, state and
    telemetry), and only while each still holds its bytes from before or after the mutation.

    Raises:
        RefusalError: the journal is unreadable, names a file outside the layout, or no
            longer matches the files (they changed after the crash).
    """
    allowed_paths = {os.path.normpath(path) for path in allowed}
    for sweep in {folder, *(os.path.dirname(path) for path in allowed_paths)}:
        files.remove_stale_temps(sweep)
    path = journal_path(folder)
    data = files.read_bounded(path, JOURNAL_LIMIT, what="journal")
    if data is None:
        return False
    plan = _parse_journal(data, path)
    targets = [item.path for item in plan.replacements] + [plan.append_path]
    strays = [target for target in targets if target not in allowed_paths]
    if strays:
        raise RefusalError(
            ReasonCode.JOURNAL_CORRUPT,
            f"the journal {path} names files outside this layout ({', '.join(strays)}); "
            "rerun with the path flags of the interrupted apply, or inspect and delete it",
            path=path,
        )
    _check_unchanged_since_crash(plan, path)
    for item in plan.replacements:
        files.atomic_write(item.path, item.data)
    if plan.append_data:
        _recover_append(plan.append_path, plan.append_offset, plan.append_data)
    files.remove(path, durable=False)
    return True


def _recover_append(path: str, offset: int, data: bytes) -> None:
    """Make sure the journal's telemetry line is in the file exactly once, losing nothing.

    Usually nothing follows `offset` but a torn prefix of the line (cut and rewritten) or
    the complete line (done). A telemetry file shared by several repositories may have
    grown since the crash; then the torn prefix, if any, is taken out and the line is
    appended at the end, in one atomic rewrite under the telemetry folder's lock.
    """
    rest = files.read_range(path, offset, files.file_size(path) - offset)
    if data.startswith(rest):
        files.append_at(path, offset, data)
        return
    if rest.startswith(data):
        return
    line = data.removeprefix(b"\n")
    torn = len(os.path.commonprefix([rest, data]))
    if torn and rest[torn : torn + 1] == b"\n":
        rest = rest[torn + 1 :]  # our torn line, ended by the next writer's repair newline
    if (b"\n" + line) not in (b"\n" + rest):
        rest += (b"" if not rest or rest.endswith(b"\n") else b"\n") + line
    files.atomic_write(path, files.read_range(path, 0, offset) + rest)


def _check_unchanged_since_crash(plan: WritePlan, journal: str) -> None:
    # Rolling forward over files changed since the crash (a git pull, a hand edit) would
    # silently revert them: every file must still be exactly "before" or "after".
    changed = [
        item.path
        for item in plan.replacements
        if files.crc_and_size(item.path)
        not in (item.before, (zlib.crc32(item.data), len(item.data)))
    ]
    if files.file_size(plan.append_path) < plan.append_offset:
        changed.append(plan.append_path)  # history was cut, not appended to
    if changed:
        raise RefusalError(
            ReasonCode.JOURNAL_STALE,
            f"the journal {journal} of an interrupted apply no longer matches "
            f"{', '.join(changed)}, changed after the crash; check those files (git diff), "
            "then delete the journal or restore the files",
            path=journal,
        )


def _parse_journal(data: bytes, path: str) -> WritePlan:
    try:
        doc = json.loads(data)
        append = doc["append"]
        folder = os.path.dirname(path)
        replacements = []
        for item in doc["replacements"]:
            before = item["before"]
            replacements.append(
                Replacement(
                    os.path.normpath(os.path.join(folder, str(item["path"]))),
                    str(item["text"]).encode("utf-8"),
                    None if before is None else (int(before[0]), int(before[1])),
                )
            )
        offset = int(append["offset"])
        if offset < 0:
            raise ValueError("negative offset")
        return WritePlan(
            replacements=tuple(replacements),
            append_path=os.path.normpath(os.path.join(folder, str(append["path"]))),
            append_offset=offset,
            append_data=str(append["text"]).encode("utf-8"),
        )
    except (ValueError, KeyError, TypeError, IndexError, RecursionError, OverflowError) as exc:
        raise RefusalError(
            ReasonCode.JOURNAL_CORRUPT,
            f"the journal of an interrupted apply is unreadable: {path}; inspect it, restore the "
            "registry, state and telemetry from git if needed, then delete it",
            path=path,
        ) from exc


def is_pending(folder: str) -> bool:
    """Tell whether an interrupted mutation waits in `folder`'s journal."""
    return files.exists(journal_path(folder))


def index_path(apply_state_file: str) -> str:
    """Return the telemetry key index path, beside the apply-state file."""
    return os.path.join(os.path.dirname(apply_state_file), INDEX_NAME)


class TelemetryView(NamedTuple):
    """What the store knows about a telemetry file: its size and the applied keys in it."""

    path: str
    size: int
    keys: dict[str, tuple[int, int]]
    """Idempotency key -> (offset, length) of the LAST applied record with that key."""
    tail: bytes
    """The file's last TAIL_BYTES bytes (what the index is checked against)."""
    indexed: bool = True
    """False when the keys are unknown (corrupt telemetry read for a keyless apply)."""

    @property
    def ends_with_newline(self) -> bool:
        """Whether a new line can be appended as is (else a repair newline goes first)."""
        return not self.tail or self.tail.endswith(b"\n")

    @property
    def tail_crc(self) -> int:
        """CRC-32 of the tail, stored in the index."""
        return zlib.crc32(self.tail)


def _read_tail(path: str, size: int) -> bytes:
    return files.read_range(path, max(size - TAIL_BYTES, 0), TAIL_BYTES)


def scan_telemetry(path: str) -> TelemetryView:
    """Read every record of a telemetry file and index its applied idempotency keys.

    Raises:
        RefusalError: a line is not a JSON object (`telemetry file is corrupt: <path>:<line>`).
    """
    keys: dict[str, tuple[int, int]] = {}
    size = 0
    for number, (offset, line) in enumerate(files.iter_lines(path), start=1):
        size = offset + len(line)
        if not line.strip():
            continue
        record = _loads_object(line)
        if record is None:
            raise RefusalError(
                ReasonCode.TELEMETRY_CORRUPT,
                f"telemetry file is corrupt: {path}:{number}",
                path=path,
            )
        key = record.get("idempotencyKey")
        if isinstance(key, str) and key and record.get("status") == "applied":
            keys[key] = (offset, len(line))
    return TelemetryView(path, size, keys, _read_tail(path, size))


def load_telemetry(path: str, index_file: str, *, need_keys: bool = True) -> TelemetryView:
    """Return the telemetry view from the index when it matches the file, else rescan.

    Without `need_keys` (an apply with no idempotency key), a corrupt line does not stop the
    apply: nothing is looked up, so the view just has no key index (`indexed` false).

    Raises:
        RefusalError: the telemetry file is corrupt and keys are needed.
    """
    size = files.file_size(path)
    data = files.read_bounded(index_file, INDEX_LIMIT, what="telemetry index")
    doc = None if data is None else _loads_object(data)
    if doc is not None:
        tail = _read_tail(path, size)
        relative = os.path.relpath(path, os.path.dirname(index_file))
        if doc.get("size") == size and doc.get("tailCrc") == zlib.crc32(tail):
            keys = index_keys_of(doc, size) if doc.get("telemetryFile") == relative else None
            if keys is not None:
                return TelemetryView(path, size, keys, tail)
    try:
        return scan_telemetry(path)
    except RefusalError as exc:
        if need_keys or exc.reason is not ReasonCode.TELEMETRY_CORRUPT:
            raise
        return TelemetryView(path, size, {}, _read_tail(path, size), indexed=False)


def index_keys_of(doc: dict[str, Any], size: int) -> dict[str, tuple[int, int]] | None:
    """The index's key spans, or None when any is not a span inside the telemetry file."""
    keys: dict[str, tuple[int, int]] = {}
    spans = doc.get("keys")
    if not isinstance(spans, dict):
        return None
    for key, span in spans.items():
        if not (isinstance(span, list) and len(span) == 2):
            return None
        offset, length = span
        if type(offset) is not int or type(length) is not int:
            return None
        if offset < 0 or length <= 0 or offset + length > size:
            return None
        keys[key] = (offset, length)
    return keys


def save_index(view: TelemetryView, index_file: str) -> None:
    """Persist the key index for `view` (derived data; safe to lose); skip an unindexed view."""
    if not view.indexed:
        return
    doc = {
        "schemaVersion": "v1",
        # Relative, so the index stays valid in another clone or a moved checkout.
        "telemetryFile": os.path.relpath(view.path, os.path.dirname(index_file)),
        "size": view.size,
        "tailCrc": view.tail_crc,
        "keys": {key: list(span) for key, span in view.keys.items()},
    }
    # Derived data, verified against the telemetry before use: no fsync needed.
    files.atomic_write(index_file, dumps_compact(doc).encode("utf-8"), durable=False)


def find_applied(view: TelemetryView, key: str) -> Record | None:
    """Return the last applied record with `key`, or None.

    Raises:
        RefusalError: the indexed line is not that record any more (corrupt telemetry).
    """
    span = view.keys.get(key)
    if span is None:
        return None
    line = files.read_range(view.path, span[0], span[1])
    record = _loads_object(line)
    if record is None or record.get("idempotencyKey") != key:
        fresh = scan_telemetry(view.path)
        if fresh.keys.get(key) == span:
            raise RefusalError(
                ReasonCode.TELEMETRY_CORRUPT,
                f"telemetry file is corrupt: {view.path}:offset {span[0]}",
                path=view.path,
            )
        return find_applied(fresh, key)
    return record


def after_append(view: TelemetryView, data: bytes, key: str | None) -> TelemetryView:
    """Return the view once `data` (one record line, maybe after a repair newline) is appended."""
    line = data.removeprefix(b"\n")
    keys = dict(view.keys)
    if key:
        keys[key] = (view.size + len(data) - len(line), len(line))
    # Derived from what was written, not read back: under the lock nothing else appended
    # (and should a shared file have grown, the index simply mismatches and is rebuilt).
    tail = (view.tail + data)[-TAIL_BYTES:]
    return TelemetryView(view.path, view.size + len(data), keys, tail, view.indexed)
