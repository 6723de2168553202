"""Durable record store: the roll-forward journal, the apply-state file and telemetry.

A mutation touches three files (registry, apply-state, telemetry). The service first writes a
journal holding all of their new bytes, then the files, then deletes the journal; every later
run rolls a leftover journal forward before doing anything else. A kill -9 at any point thus
ends, as seen by the next run, with all three before or all three after. The telemetry key
index is derived data, written last: a cache of where applied keys are, never the authority
that a key was not applied (the records are searched for a key it lacks). It records the
size and CRC of the telemetry it covers: telemetry that lost or changed those bytes is
`telemetry_corrupt` until `reconcile repair-index` accepts it.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

from reconciler.adapters import files
from reconciler.core import applied_keys
from reconciler.core.applied_keys import KeySearch, Span
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

JOURNAL_NAME = ".reconciler-journal.json"
JOURNAL_LIMIT = 64 * 1024 * 1024
INDEX_NAME = "promotion-apply-index.json"
INDEX_LIMIT = 64 * 1024 * 1024
TELEMETRY_LIMIT = 256 * 1024 * 1024

Record = dict[str, Any]


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
