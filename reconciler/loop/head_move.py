"""Moving the loop's HEAD crash-safely, and finishing a move a crash interrupted.

HEAD only ever moves through `move_head`: a marker file in the git folder names the old and
new commits and the intent files the move consumes, then the branch is swapped with a
compare-and-swap `update-ref`, then the files the move changes are checked (none edited
since), their index entries set and the files written (`git checkout -- <paths>`, or
`update-index` and `checkout-index` for many: only those entries, never the whole index),
then the consumed intent files go and the marker is deleted. A run that finds a marker (a
kill -9 mid-way) puts the checkout back in line with whatever HEAD is: `recover`.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from reconciler.adapters import files
from reconciler.adapters.gitrepo import ZERO_SHA, FileChange, quote_path
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.loop.checkout import SPECIAL, Checkout, blob_id, file_identity

MARKER_NAME = "reconciler-pass.json"


def marker_path(checkout: Checkout) -> str:
    """The crash marker of an unfinished HEAD move."""
    return os.path.join(checkout.git_dir, MARKER_NAME)


class Consumed(NamedTuple):
    """An intent file a move takes out of the pending folder: its path and blob id."""

    path: str
    blob: str


def move_head(
    checkout: Checkout,
    new: str,
    consumed: Sequence[Consumed] = (),
    *,
    reason: str,
    intents: str | Sequence[str],
    restored: Sequence[Consumed] = (),
    changes: Sequence[TreeChange] | None = None,
) -> Checkout:
    """Move HEAD (and its branch) from `checkout.head` to `new`, files and index included.

    `consumed` intent files (directly in the `intents` folder) are deleted once the move is
    done, when they still hold what was committed; `restored` ones (blobs of intents the move
    would otherwise lose) are written back there. `changes` are the files `old..new`
    changes, when the caller knows them (else one `git diff-tree` finds them).

    Raises:
        RefusalError: the branch moved meanwhile (`branch_moved`: nothing changed), files are
            in the way (`worktree_dirty`: the branch is put back), or git failed after the
            branch moved (the marker stays; the next run's `recover` finishes the move).
    """
    for item in (*consumed, *restored):
        check_pending_path(item.path, intents)
    old = checkout.head
    marker = {
        "old": old,
        "new": new,
        "ref": checkout.head_ref,
        "intents": intents,
        "consumed": [item._asdict() for item in consumed],
        "restored": [item._asdict() for item in restored],
    }
    files.atomic_write(marker_path(checkout), json.dumps(marker).encode("utf-8"))
    swap = checkout.git.run(
        "update-ref", "-m", f"reconcile: {reason}", checkout.head_ref, new, old, check=False
    )
    if swap.returncode != 0:
        files.remove(marker_path(checkout), durable=False)
        raise RefusalError(
            ReasonCode.BRANCH_MOVED,
            f"{checkout.head_ref} moved while the pass ran (someone committed in this checkout); "
            "nothing was changed, run again",
        )
    _finish_move(checkout, old, new, consumed, restored, changes)
    return checkout._replace(head=new)


def _finish_move(
    checkout: Checkout,
    old: str,
    new: str,
    consumed: Iterable[Consumed],
    restored: Iterable[Consumed],
    changes: Sequence[TreeChange] | None,
) -> None:
    if old != new:
        if changes is None:
            changes = tree_changes(checkout, old, new)
        try:
            _check_files(checkout, changes, old, new)
        except RefusalError:
            # Nothing was written yet, e.g. an untracked file in the way of one the new
            # commit adds: put the branch back.
            checkout.git.run("update-ref", "-m", "reconcile: undo", checkout.head_ref, old, new)
            files.remove(marker_path(checkout), durable=False)
            raise
        _update_index_and_files(checkout, old, new, changes)
    _drop_consumed(checkout, consumed)
    _write_restored(checkout, restored)
    files.remove(marker_path(checkout), durable=False)


class TreeChange(NamedTuple):
    """One file a HEAD move changes: its blob before and after (None: absent) and mode."""

    path: str
    old: str | None
    new: str | None
    mode: str = "100644"


def changes_from_writes(
    written: Iterable[FileChange], listing: Mapping[str, tuple[str, str]]
) -> list[TreeChange] | None:
    """What a pass's commits change, file by file, against HEAD's `listing`; None: ask git.

    `written` is each path's last write in the pass; `listing` is `symlinks.head_listing`.
    Every file a pass writes is in a listed folder, or a new name in applied/ or rejected/
    (not in the index: `worktree.TakenNames`); a path the listing does not show
    counts as absent, so a wrong guess refuses the move (`worktree_dirty`) rather than
    overwrite a file. A committed file where a written path needs a folder (`applied` as a
    file) is replaced by that folder in the commit: then `git diff-tree` says what changed.
    """
    changes = []
    for change in written:
        parts = change.path.split("/")
        if any("/".join(parts[:end]) in listing for end in range(1, len(parts))):
            return None
        old_mode, old_blob = listing.get(change.path, (None, None))
        if change.data is None and change.blob is None:
            new_blob, mode = None, "000000"  # as `git diff-tree` shows a deletion
        else:
            new_blob = change.blob or blob_id(change.data or b"")
            mode = change.mode
        if not (new_blob == old_blob and (new_blob is None or mode == old_mode)):
            changes.append(TreeChange(change.path, old_blob, new_blob, mode))
    return changes


def tree_changes(checkout: Checkout, old: str, new: str) -> list[TreeChange]:
    """Every file the commits `old..new` change, from one `git diff-tree`."""
    out = checkout.git.run("diff-tree", "-r", "-z", "--no-renames", old, new).stdout
    items = out.split(b"\0")
    changes: list[TreeChange] = []
    for meta, raw_path in zip(items[0::2], items[1::2], strict=False):
        fields = meta.decode("ascii", "replace").lstrip(":").split()
        if len(fields) >= 4:
            before, after = (None if blob == ZERO_SHA else blob for blob in fields[2:4])
            relative = raw_path.decode("utf-8", "surrogateescape")
            changes.append(TreeChange(relative, before, after, fields[1]))
    return changes


def _check_files(
    checkout: Checkout,
    changes: Iterable[TreeChange],
    old: str,
    new: str,
    *,
    after_crash: bool = False,
) -> None:
    """Refuse when a file to change holds neither its content before nor after (nor nothing).

    What `read-tree -m -u` refuses too: a file edited since, an untracked file in the way, a
    file or symlink where a folder must be (unless the move deletes it: a symlinked folder
    of a changed file never); and, more strictly than git, any folder where a file must be.
    Content is compared as git stores it: the bytes first, then, for a file whose bytes
    differ, as `git add` would hash it (through `core.autocrlf` and `.gitattributes` filters).

    Raises:
        RefusalError: `worktree_dirty`, naming the file.
    """
    changes = list(changes)
    # No file is read or deleted through a symlinked folder (it could be one elsewhere).
    folders = sorted({posixpath.dirname(change.path) for change in changes})
    link = files.first_symlinked(checkout.top, folders)
    if link is not None:
        why = "is a symlink where the move needs a folder"
        raise _dirty(checkout, link, old, new, after_crash=after_crash, why=why)
    deleted = {change.path for change in changes if change.new is None}
    unsure: list[TreeChange] = []
    for change in changes:
        blocking = _blocking_parent(checkout.top, change.path, deleted) if change.new else None
        if blocking is not None:
            why = "is a file or symlink where the move needs a folder"
            raise _dirty(checkout, blocking, old, new, after_crash=after_crash, why=why)
        current = file_identity(os.path.join(checkout.top, change.path), whole=True)
        known = {None, change.old, change.new}
        known |= {f"link:{blob}" for blob in (change.old, change.new) if blob}
        if current in known:
            continue
        if current is None or current == SPECIAL or current.startswith(("link:", "stat:")):
            raise _dirty(checkout, change.path, old, new, after_crash=after_crash)
        unsure.append(change)
    hashed = _hashed_as_stored(checkout, [change.path for change in unsure])
    for change, blob in zip(unsure, hashed, strict=True):
        if blob is None or blob not in (change.old, change.new):
            raise _dirty(checkout, change.path, old, new, after_crash=after_crash)


def _blocking_parent(top: str, relative: str, deleted: set[str]) -> str | None:
    """The first folder of `relative` that is a file or symlink the move does not delete."""
    parts = relative.split("/")
    for end in range(1, len(parts)):
        folder = "/".join(parts[:end])
        try:
            info = os.lstat(os.path.join(top, folder))
        except OSError:
            return None  # absent: git creates it (and every folder below)
        if not stat.S_ISDIR(info.st_mode) and folder not in deleted:
            return folder
    return None


def _hashed_as_stored(checkout: Checkout, paths: Sequence[str]) -> list[str | None]:
    """The blob id `git add` would store for each file (its clean filters applied)."""
    if not paths:
        return []
    query = b"".join(quote_path(path) + b"\n" for path in paths)  # `"x`, newlines: quoted
    done = checkout.git.run("hash-object", "--stdin-paths", stdin=query, check=False)
    lines = done.stdout.decode("ascii", "replace").split()
    return [*lines] if done.returncode == 0 and len(lines) == len(paths) else [None] * len(paths)


def _dirty(
    checkout: Checkout, path: str, old: str, new: str, *, after_crash: bool, why: str = ""
) -> RefusalError:
    target = os.path.join(checkout.top, path)
    if why:
        return RefusalError(
            ReasonCode.WORKTREE_DIRTY,
            f"cannot update the checkout to {new[:12]}: {path} {why}; move it aside and run again",
            path=target,
        )
    if after_crash:
        return RefusalError(
            ReasonCode.WORKTREE_DIRTY,
            f"{path} changed after a pass was interrupted; it is neither the content before "
            f"({old[:12]}) nor after ({new[:12]}): check it, then run again",
            path=target,
        )
    return RefusalError(
        ReasonCode.WORKTREE_DIRTY,
        f"cannot update the checkout to {new[:12]}: {path} holds neither its content at "
        f"{old[:12]} nor at {new[:12]}; move it aside and run again",
        path=target,
    )


FEW_PATHS = 16
"""Up to this many changed files, one `git checkout` writes index and files (see below)."""


def _update_index_and_files(
    checkout: Checkout,
    old: str,
    new: str,
    changes: Sequence[TreeChange],
    *,
    after_crash: bool = False,
) -> None:
    """Bring the index entries and the files of `changes` to their content at `new`.

    Only these entries are touched (`read-tree -m -u` would merge the whole index with both
    trees). Every index write rewrites the whole index file (13 MB and ~45 ms for a hundred
    fleets' 101,000 files), so a move of a few files takes one: `git checkout --no-overlay
    NEW -- <paths>` sets their entries, writes or deletes the files through git's own
    filters and records their stat data. Its pathspec is matched against every index entry,
    so a move of many files (a pass of hundreds of intents) takes the two processes whose
    cost grows with the files only: `update-index --index-info` sets the entries, deleted
    files go, and `checkout-index -u` writes the others and records their stat data. When
    the checkout fails (a path gone from both `new` and the index; or a file git could not
    write, after it wrote others), every file is checked again (`_check_files`: each must
    still hold its content at `old` or `new`, or nothing) and the two do the work.

    Raises:
        RefusalError: that check refused (the branch has moved: the marker stays).
    """
    if not changes:
        return
    if len(changes) <= FEW_PATHS:
        if _checkout_paths(checkout, new, changes):
            return
        _check_files(checkout, changes, old, new, after_crash=after_crash)
    info: list[str] = []
    written: list[str] = []
    for change in changes:
        if change.new is None:
            info.append(f"0 {ZERO_SHA}\t{change.path}")
            _remove_file(checkout.top, change.path)
        else:
            info.append(f"{change.mode} {change.new}\t{change.path}")
            written.append(change.path)
    checkout.git.run("update-index", "-z", "--index-info", stdin=_nul_lines(info))
    if written:
        checkout.git.run("checkout-index", "-f", "-u", "-z", "--stdin", stdin=_nul_lines(written))


def _checkout_paths(checkout: Checkout, new: str, changes: Sequence[TreeChange]) -> bool:
    """`git checkout --no-overlay new -- <paths>`: True when it did the whole work.

    As `checkout-index` does: no hook (`post-checkout` would run), no submodule checked out
    (`submodule.recurse`). False: git refused, before writing anything (an unmatched path)
    or after writing some of the files (one it could not write).
    """
    done = checkout.git.run(
        "-c", "core.hooksPath=/dev/null", "-c", "submodule.recurse=false",
        "checkout", "-q", "--no-overlay", new,
        "--pathspec-from-file=-", "--pathspec-file-nul",
        stdin=_nul_lines(change.path for change in changes), check=False,
    )  # fmt: skip
    return done.returncode == 0


def _nul_lines(lines: Iterable[str]) -> bytes:
    return b"".join(line.encode("utf-8", "surrogateescape") + b"\0" for line in lines)


def _remove_file(top: str, relative: str) -> None:
    """Delete a file the new commit deletes, and the folders that leaves empty (as git does)."""
    target = os.path.join(top, relative)
    if os.path.lexists(target):
        files.remove(target, durable=False)
    folder = os.path.dirname(relative)
    while folder:
        try:
            os.rmdir(os.path.join(top, folder))
        except OSError:
            return  # not empty: git keeps it too
        folder = os.path.dirname(folder)


def intent_folders(intents: str | Sequence[str]) -> tuple[str, ...]:
    """The intents folder, or every fleet's folder of a repository with several, as a tuple."""
    return (intents,) if isinstance(intents, str) else tuple(intents)


def check_pending_path(path: str, intents: str | Sequence[str]) -> None:
    """Refuse a path that is not a plain file name directly in an intents folder.

    `intents`: the folder, or every fleet's folder of a repository with several.

    Consumed and restored paths come from git history (trailers) and from the crash marker:
    neither may ever name a file elsewhere (`../../.gitconfig`).

    Raises:
        RefusalError: `journal_corrupt`.
    """
    folders = intent_folders(intents)
    folder, _, name = path.rpartition("/")
    if (
        folder not in folders
        or not name
        or name in (".", "..")
        or "\\" in name
        or "\0" in name
        or os.path.isabs(path)
    ):
        raise RefusalError(
            ReasonCode.JOURNAL_CORRUPT,
            f"refusing to touch {path!r}: only files directly in "
            f"{', '.join(f'{each}/' for each in folders)} are ever consumed "
            "or restored",
        )


def _drop_consumed(checkout: Checkout, consumed: Iterable[Consumed]) -> None:
    for item in consumed:
        path = os.path.join(checkout.top, item.path)
        if file_identity(path) == item.blob:
            files.remove(path, durable=False)


def _write_restored(checkout: Checkout, restored: Iterable[Consumed]) -> None:
    for item in restored:
        path = os.path.join(checkout.top, item.path)
        if os.path.lexists(path):
            continue
        data = checkout.git.run("cat-file", "blob", item.blob).stdout
        files.atomic_write(path, data, durable=False)


def recover(checkout: Checkout, intents: str | Sequence[str]) -> bool:
    """Finish a HEAD move a crash interrupted; return True when there was one.

    When HEAD already is the marker's new commit, every file the move changes is brought to
    its new content (if it still holds the old or new one, or nothing: a file changed since
    is refused, never overwritten), consumed intents go and rescued ones come back. When HEAD
    is still the old commit nothing was written. Either way the index is reset to HEAD.

    Raises:
        RefusalError: the marker is unreadable or names a file outside `intents` (the
            configured folder; the marker's own copy is informative only),
            HEAD is neither commit, a file changed after the crash, or git failed.
    """
    path = marker_path(checkout)
    data = files.read_bounded(path, 64 * 1024 * 1024, what="pass marker")
    if data is None:
        return False
    try:
        doc = json.loads(data)
        old, new = str(doc["old"]), str(doc["new"])
        consumed = [Consumed(str(item["path"]), str(item["blob"])) for item in doc["consumed"]]
        restored = [Consumed(str(item["path"]), str(item["blob"])) for item in doc["restored"]]
        for item in (*consumed, *restored):
            check_pending_path(item.path, intents)
    except (ValueError, KeyError, TypeError, RefusalError) as exc:
        raise RefusalError(
            ReasonCode.JOURNAL_CORRUPT,
            f"the marker of an interrupted pass is unreadable: {path}; check `git status`, "
            "then delete it",
            path=path,
        ) from exc
    if checkout.head not in (old, new):
        raise RefusalError(
            ReasonCode.JOURNAL_STALE,
            f"{checkout.head_ref} moved after a pass was interrupted ({path} names "
            f"{old[:12]} -> {new[:12]}); check `git status`, then delete the marker",
            path=path,
        )
    lock = os.path.join(checkout.git_dir, "index.lock")
    if files.exists(lock):
        files.remove(lock, durable=False)  # left by our own killed update-index
    checkout.git.run("reset", "-q", "--no-refresh")
    if checkout.head == new:
        if old != new:
            _sync_files(checkout, old, new)
        _drop_consumed(checkout, consumed)
        _write_restored(checkout, restored)
    # `_sync_files` records the stat data of what it writes; an entry the reset left without
    # it (a move killed inside `update-index`) would be hashed by every later `git status`.
    checkout.git.run("update-index", "-q", "--refresh", check=False)
    files.remove(path, durable=False)
    return True


def _sync_files(checkout: Checkout, old: str, new: str) -> None:
    """Bring every file `old..new` changes to its `new` content, refusing changed ones.

    Every file is checked before the first is written; they are written as a move writes
    them (`_update_index_and_files`: git's filters, stat data in the index).
    """
    changes = tree_changes(checkout, old, new)
    _check_files(checkout, changes, old, new, after_crash=True)
    _update_index_and_files(checkout, old, new, changes, after_crash=True)
