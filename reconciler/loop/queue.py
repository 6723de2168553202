"""The intents folder as a queue: pending files in name order, read safely, linked to git.

A pending intent is any entry directly in the intents folder whose name ends in `.yaml` or
`.yml` and does not start with a dot (processed files live in `applied/` and `rejected/`);
every other entry is reported as ignored, with why (core.queueing holds the rule).
Each is read without following symlinks and at most INTENT_LIMIT + 1 bytes, so a symlink,
a FIFO, a 10 MB file or a hostile name becomes a rejection of that one file, never an error
of the pass.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Container, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from reconciler.core import queueing
from reconciler.core.errors import RefusalError
from reconciler.core.intents import INTENT_LIMIT, Problem
from reconciler.core.passes import IntentSource
from reconciler.core.reasons import ReasonCode
from reconciler.loop.checkout import Checkout, blob_id

INTENT_SUFFIXES = queueing.INTENT_SUFFIXES
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@=-]{0,199}")
APPLIED, REJECTED = "applied", "rejected"


class PendingFile(NamedTuple):
    """One entry of the intents folder that is a pending intent."""

    path: str
    """Repo-relative path."""
    absolute: str


class Queue(NamedTuple):
    """The intents folder: its pending intents and the entries that are not intents."""

    pending: list[PendingFile]
    """In file-name (byte) order."""
    ignored: list[queueing.Ignored]
    """In path (byte) order."""


def list_pending(checkout: Checkout, intents_dir: str) -> list[PendingFile]:
    """Return the pending intent files in the intents folder, in file-name (byte) order.

    Raises:
        RefusalError: the intents folder (or its applied/ or rejected/) is a symlink: the
            commits would then write through it, outside the tree git tracks.
    """
    return scan_queue(checkout, intents_dir).pending


def scan_queue(checkout: Checkout, intents_dir: str) -> Queue:
    """Return the pending intent files and the ignored entries of the intents folder.

    Raises:
        RefusalError: as `list_pending`.
    """
    _refuse_symlinked_folders(checkout, intents_dir)
    try:
        entries = list(os.scandir(intents_dir))
    except (FileNotFoundError, NotADirectoryError):
        return Queue([], [])
    relative = checkout.relative(intents_dir)
    pending, ignored, subfolders = [], [], []
    for entry in entries:
        name = entry.name
        is_folder = entry.is_dir(follow_symlinks=False)
        verdict = queueing.classify_entry(relative, name, is_folder=is_folder)
        if verdict.kind == "intent":
            pending.append(PendingFile(f"{relative}/{name}", entry.path))
        elif verdict.kind == "ignored":
            ignored.append(queueing.ignored_entry(relative, name, verdict, is_folder=is_folder))
        elif verdict.kind == "walk":
            subfolders.append(name)
    for name in sorted(subfolders):
        ignored += _ignored_below(relative, intents_dir, name)
    return Queue(
        sorted(pending, key=lambda item: os.fsencode(item.path)),
        sorted(ignored, key=lambda item: os.fsencode(item.path)),
    )


def _ignored_below(relative: str, intents_dir: str, folder: str) -> list[queueing.Ignored]:
    """Report every file below a subfolder of the intents folder (none is ever an intent)."""
    found: list[queueing.Ignored] = []
    for top, folders, names in os.walk(os.path.join(intents_dir, folder)):  # never follows links
        folders.sort()
        below = os.path.relpath(top, intents_dir).replace(os.sep, "/")
        for name in sorted(names):
            if len(found) == queueing.IGNORED_LIMIT:
                return [*found, queueing.truncated_entry(relative, folder)]
            verdict = queueing.classify_entry(relative, f"{below}/{name}", is_folder=False)
            found.append(
                queueing.ignored_entry(relative, f"{below}/{name}", verdict, is_folder=False)
            )
    return found


def _refuse_symlinked_folders(checkout: Checkout, intents_dir: str) -> None:
    folders = [intents_dir, os.path.join(intents_dir, APPLIED), os.path.join(intents_dir, REJECTED)]
    parent = os.path.dirname(intents_dir)
    while parent.startswith(checkout.top + os.sep):
        folders.append(parent)
        parent = os.path.dirname(parent)
    for folder in folders:
        if os.path.islink(folder):
            raise RefusalError(
                ReasonCode.PATH_SYMLINK,
                f"{folder} is a symlink, which is refused: the intents folder and its applied/ "
                "and rejected/ must be real folders inside the repository",
                path=folder,
            )


class AddingCommit(NamedTuple):
    """The commit that added a pending file."""

    sha: str
    at: datetime
    """Its committer time (UTC): what `guards.maxDeferral` counts from."""


def read_source(item: PendingFile, added: AddingCommit | None) -> IntentSource:
    """Read one pending file into an IntentSource; every problem is a rejection, not a raise."""
    name = item.path.rsplit("/", 1)[-1]
    data, problem = _read(item.absolute)
    if problem is None and not NAME_PATTERN.fullmatch(name.rsplit(".", 1)[0]):
        problem = Problem(
            ReasonCode.INTENT_NAME_INVALID,
            "intent file names may only hold letters, digits and . _ + @ = - (at most 200)",
        )
    blob = blob_id(data) if data is not None else blob_id(b"")
    if added is None:
        return IntentSource(item.path, data, problem, None, blob)
    return IntentSource(item.path, data, problem, added.sha, blob, added.at)


def _read(path: str) -> tuple[bytes | None, Problem | None]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket
            return None, Problem(
                ReasonCode.INTENT_NOT_REGULAR_FILE, "intent file is not a regular file"
            )
        if exc.errno == errno.ELOOP:
            return None, Problem(
                ReasonCode.INTENT_NOT_REGULAR_FILE, "intent file is a symlink, which is refused"
            )
        return None, Problem(ReasonCode.INTENT_UNREADABLE, f"cannot read: {exc.strerror}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, Problem(
                ReasonCode.INTENT_NOT_REGULAR_FILE, "intent file is not a regular file"
            )
        chunks, size = [], 0
        while size <= INTENT_LIMIT:
            chunk = os.read(fd, INTENT_LIMIT + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), None  # the parser refuses more than INTENT_LIMIT bytes
    except OSError as exc:
        return None, Problem(ReasonCode.INTENT_UNREADABLE, f"cannot read: {exc.strerror}")
    finally:
        os.close(fd)


def find_adding_commits(checkout: Checkout, paths: Sequence[str]) -> dict[str, AddingCommit]:
    """Return {path: the newest commit that added it} for committed pending paths.

    One `git log` over the intents folder, stopped as soon as every path is found (pending
    intents were usually added by the last few commits).
    """
    wanted = set(paths)
    found: dict[str, AddingCommit] = {}
    if not wanted:
        return found
    folders = sorted({path.rsplit("/", 1)[0] for path in wanted})
    args = ["log", "--no-renames", "--diff-filter=A", "--name-only", "-z", "--format=%x01%H %ct"]
    with checkout.git.stream(*args, checkout.head, "--", *folders) as out:
        commit: AddingCommit | None = None
        buffer = b""
        while wanted - found.keys():
            chunk = out.read1(65536) if hasattr(out, "read1") else out.read(65536)
            if not chunk:
                break
            buffer += chunk
            *items, buffer = buffer.split(b"\0")
            for item in items:
                commit = _scan_item(item, commit, wanted, found)
        if buffer and wanted - found.keys():
            _scan_item(buffer, commit, wanted, found)
    return found


def _scan_item(
    item: bytes, commit: AddingCommit | None, wanted: set[str], found: dict[str, AddingCommit]
) -> AddingCommit | None:
    text = item.lstrip(b"\n")
    if text.startswith(b"\x01"):
        header, _, rest = text.partition(b"\n")
        sha, _, seconds = header[1:].decode().partition(" ")
        commit = AddingCommit(sha, datetime.fromtimestamp(int(seconds), UTC))
        text = rest.lstrip(b"\n")
        if not text:
            return commit
    path = text.decode("utf-8", "surrogateescape")
    if commit and path in wanted and path not in found:
        found[path] = commit
    return commit


def destination(folder: str, name: str, taken: Container[str]) -> str:
    """Return a free repo-relative path for `name` in `folder` (`applied/` or `rejected/`).

    Never overwrites: an existing or already chosen name gets `.2`, `.3`... before its
    extension. A hostile name is made safe (every other character becomes `_`).
    """
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, "yaml"
    safe = re.sub(r"[^A-Za-z0-9._+@=-]", "_", stem)[:200] or "intent"
    if not safe[0].isalnum():
        safe = "x" + safe
    suffix = suffix if suffix.lower() in ("yaml", "yml") else "yaml"
    candidate, number = f"{folder}/{safe}.{suffix}", 1
    while candidate in taken:
        number += 1
        candidate = f"{folder}/{safe}.{number}.{suffix}"
    return candidate
