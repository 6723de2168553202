"""The roll-forward journal: several files changed as one, crash-safely.

A mutation of `reconcile apply` touches three files (registry, apply-state, telemetry). It
first writes a journal holding all of their new bytes, then the files, then deletes the
journal; every later run (`apply`, a loop pass, `repair-index`) rolls a leftover journal
forward before doing anything else. A kill -9 at any point thus ends, as seen by the next run,
with all three before or all three after.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable
from typing import NamedTuple

from reconciler.adapters import files
from reconciler.core.errors import RefusalError
from reconciler.core.jsontext import dumps_compact
from reconciler.core.reasons import ReasonCode

JOURNAL_NAME = ".reconciler-journal.json"
JOURNAL_LIMIT = 64 * 1024 * 1024


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
