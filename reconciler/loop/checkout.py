"""The git checkout the loop works in: its HEAD, its cleanliness, moving HEAD crash-safely.

HEAD only ever moves through `move_head`: a marker file in the git folder names the old and
new commits and the intent files the move consumes, then the branch is swapped with a
compare-and-swap `update-ref`, then `read-tree -m -u` updates the index and the files, then
the consumed intent files go and the marker is deleted. A run that finds a marker (a kill -9
mid-way) puts the checkout back in line with whatever HEAD is: `recover`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from reconciler.adapters import files
from reconciler.adapters.gitrepo import ZERO_SHA, Git, GitError
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

MARKER_NAME = "reconciler-pass.json"


class Checkout(NamedTuple):
    """A git worktree: its top folder, git folder, HEAD commit and the ref HEAD points at."""

    git: Git
    top: str
    git_dir: str
    head: str
    head_ref: str
    """`refs/heads/<branch>`, or `HEAD` when detached."""

    @property
    def branch(self) -> str | None:
        """The checked-out branch name; None when HEAD is detached."""
        return self.head_ref.removeprefix("refs/heads/") if self.head_ref != "HEAD" else None

    def relative(self, path: str) -> str:
        """Return `path` relative to the top folder, with `/` separators.

        Raises:
            RefusalError: the path is outside the worktree (it could never be committed).
        """
        relative = os.path.relpath(path, self.top)
        if _escapes(relative):
            # --repo given through a symlink: git reports the real top folder. The file's own
            # final component is kept as is (an intent file may itself be a symlink).
            folder, name = os.path.split(path)
            relative = os.path.relpath(os.path.join(os.path.realpath(folder), name), self.top)
        if _escapes(relative):
            raise RefusalError(
                ReasonCode.LAYOUT_PATHS_COLLIDE,
                f"{path} is outside the git worktree {self.top}; the loop can only commit files "
                "inside it",
                path=path,
            )
        return relative.replace(os.sep, "/")


def _escapes(relative: str) -> bool:
    return relative == ".." or relative.startswith("../") or os.path.isabs(relative)


def open_checkout(repo: str) -> Checkout:
    """Describe the git worktree holding `repo`.

    Raises:
        RefusalError: not a git worktree (`not_a_git_repo`), or no commit yet (`git_no_commits`).
    """
    git = Git(repo)
    both = git.run(
        "rev-parse", "--show-toplevel", "--absolute-git-dir", "HEAD", "--symbolic-full-name",
        "HEAD", check=False,
    )  # fmt: skip
    lines = both.stdout.decode("utf-8", "surrogateescape").splitlines()
    if both.returncode == 0 and len(lines) == 4:
        top, git_dir, head, head_ref = lines
        return Checkout(Git(top), top, git_dir, head, head_ref)
    done = git.run("rev-parse", "--show-toplevel", "--absolute-git-dir", check=False)
    if done.returncode != 0:
        raise RefusalError(
            ReasonCode.NOT_A_GIT_REPO,
            f"not a git worktree: {repo} (the loop commits its changes; run `git init` or use "
            "`reconcile apply` for a plain folder)",
            path=repo,
        )
    top = done.stdout.decode("utf-8", "surrogateescape").splitlines()[0]
    raise RefusalError(
        ReasonCode.GIT_NO_COMMITS,
        f"the repository {top} has no commit yet; commit the policies/ tree first",
        path=top,
    )


def reread_head(checkout: Checkout) -> Checkout:
    """Return the checkout with HEAD read again."""
    return open_checkout(checkout.top)._replace(git=checkout.git)


def changed_paths(checkout: Checkout) -> list[tuple[str, str]]:
    """Return (XY status, path) for every change in the index or worktree, untracked included."""
    out = checkout.git.run(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"
    ).stdout
    return [
        (item[:2].decode(), item[3:].decode("utf-8", "surrogateescape"))
        for item in out.split(b"\0")
        if len(item) > 3
    ]


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
    intents: str,
    restored: Sequence[Consumed] = (),
) -> Checkout:
    """Move HEAD (and its branch) from `checkout.head` to `new`, files and index included.

    `consumed` intent files (directly in the `intents` folder) are deleted once the move is
    done, when they still hold what was committed; `restored` ones (blobs of intents the move
    would otherwise lose) are written back there.

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
    _finish_move(checkout, old, new, consumed, restored)
    return checkout._replace(head=new)


def _finish_move(
    checkout: Checkout,
    old: str,
    new: str,
    consumed: Iterable[Consumed],
    restored: Iterable[Consumed],
) -> None:
    if old != new:
        try:
            checkout.git.run("read-tree", "-m", "-u", old, new)
        except GitError as exc:
            # Nothing was written (read-tree checks first), e.g. an untracked file in the way
            # of one the new commit adds: put the branch back.
            checkout.git.run("update-ref", "-m", "reconcile: undo", checkout.head_ref, old, new)
            files.remove(marker_path(checkout), durable=False)
            raise RefusalError(
                ReasonCode.WORKTREE_DIRTY,
                f"cannot update the checkout to {new[:12]}: {exc.message}; move the files in "
                "the way aside and run again",
            ) from exc
    _drop_consumed(checkout, consumed)
    _write_restored(checkout, restored)
    files.remove(marker_path(checkout), durable=False)


def check_pending_path(path: str, intents: str) -> None:
    """Refuse a path that is not a plain file name directly in the intents folder.

    Consumed and restored paths come from git history (trailers) and from the crash marker:
    neither may ever name a file elsewhere (`../../.gitconfig`).

    Raises:
        RefusalError: `journal_corrupt`.
    """
    folder, _, name = path.rpartition("/")
    if (
        folder != intents
        or not name
        or name in (".", "..")
        or "\\" in name
        or "\0" in name
        or os.path.isabs(path)
    ):
        raise RefusalError(
            ReasonCode.JOURNAL_CORRUPT,
            f"refusing to touch {path!r}: only files directly in {intents}/ are ever consumed "
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


SPECIAL = "special"
"""The identity of a FIFO, socket or device: removed whatever it holds."""
SMALL_FILE = 64 * 1024
"""Files up to this size are identified by their blob id, larger ones by inode and time."""


def file_identity(path: str, *, whole: bool = False) -> str | None:
    """Return what identifies the file at `path` now; None when there is none.

    A readable regular file up to SMALL_FILE bytes (any size with `whole`): its blob id
    (what a commit of it holds). A symlink: `link:` and the blob id of its target. A FIFO,
    socket or device: SPECIAL. A larger or unreadable file: `stat:<inode>:<size>:<mtime ns>`
    (never read whole).
    """
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return "link:" + blob_id(os.fsencode(os.readlink(path)))
    if not stat.S_ISREG(info.st_mode):
        return SPECIAL
    by_stat = f"stat:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"
    if info.st_size > SMALL_FILE and not whole:
        return by_stat
    try:
        with open(path, "rb") as handle:
            return blob_id(handle.read() if whole else handle.read(SMALL_FILE + 1))
    except OSError:
        return by_stat


def readlink_text(path: str) -> str:
    """A symlink's target as one line of printable text (for notes and messages)."""
    try:
        target = os.readlink(path)
    except OSError:
        return "(unreadable)"
    text = target.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def blob_id(data: bytes) -> str:
    """Return the git blob id of `data` (what `git hash-object` prints)."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def recover(checkout: Checkout, intents: str) -> bool:
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
        files.remove(lock, durable=False)  # left by our own killed read-tree
    checkout.git.run("reset", "-q", "--no-refresh")
    if checkout.head == new:
        if old != new:
            _sync_files(checkout, old, new)
        _drop_consumed(checkout, consumed)
        _write_restored(checkout, restored)
    # The files written above are what the index says, but their stat data is not in it yet:
    # refresh it, or the next read-tree would find them "not uptodate".
    checkout.git.run("update-index", "-q", "--refresh", check=False)
    files.remove(path, durable=False)
    return True


def _sync_files(checkout: Checkout, old: str, new: str) -> None:
    """Bring every file `old..new` changes to its `new` content, refusing changed ones."""
    out = checkout.git.run("diff", "--raw", "-z", "--no-renames", "--no-abbrev", old, new).stdout
    items = out.split(b"\0")
    changes: list[tuple[str, str, str, str]] = []
    for meta, raw_path in zip(items[0::2], items[1::2], strict=False):
        fields = meta.decode("ascii", "replace").lstrip(":").split()
        if len(fields) >= 4:
            relative = raw_path.decode("utf-8", "surrogateescape")
            changes.append((relative, fields[2], fields[3], fields[1]))
    wanted = [new_blob for _, _, new_blob, _ in changes if new_blob != ZERO_SHA]
    contents = cat_blobs(checkout, wanted)
    for relative, old_blob, new_blob, mode in changes:
        target = os.path.join(checkout.top, relative)
        current = file_identity(target, whole=True)
        known = {None, old_blob, new_blob, "link:" + old_blob, "link:" + new_blob}
        if current not in known:
            raise RefusalError(
                ReasonCode.WORKTREE_DIRTY,
                f"{relative} changed after a pass was interrupted; it is neither the content "
                f"before ({old[:12]}) nor after ({new[:12]}): check it, then run again",
                path=target,
            )
        if os.path.lexists(target):
            files.remove(target, durable=False)
        if new_blob == ZERO_SHA:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if mode == "120000":
            os.symlink(os.fsdecode(contents[new_blob]), target)
        else:
            files.atomic_write(target, contents[new_blob], durable=False)
            if mode == "100755":
                os.chmod(target, 0o755)


def tree_blobs(checkout: Checkout, commit: str, *specs: str) -> dict[str, tuple[str, str]]:
    """Return {repo-relative path: (mode, blob id)} of the files `git ls-tree` lists.

    Not recursive: a spec ending in `/` lists the files directly in that folder.
    """
    out = checkout.git.run("ls-tree", "-z", commit, "--", *specs).stdout
    entries: dict[str, tuple[str, str]] = {}
    for item in out.split(b"\0"):
        meta, _, path = item.partition(b"\t")
        parts = meta.decode("ascii", "replace").split()
        if len(parts) == 3 and parts[1] == "blob":
            entries[path.decode("utf-8", "surrogateescape")] = (parts[0], parts[2])
    return entries


def cat_blobs(checkout: Checkout, blobs: Sequence[str]) -> dict[str, bytes]:
    """Return {blob id: content} of every blob, read by one `git cat-file --batch`."""
    if not blobs:
        return {}
    out = checkout.git.run("cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs).encode())
    data, offset, found = out.stdout, 0, {}
    for blob in blobs:
        header_end = data.index(b"\n", offset)
        size = int(data[offset:header_end].split()[2])
        found[blob] = data[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
    return found


def is_managed(path: str, managed: Sequence[str]) -> bool:
    """Tell whether a repo-relative path is one of, or under one of, the `managed` paths."""
    return any(path == item or path.startswith(item.rstrip("/") + "/") for item in managed)


def restore_managed(checkout: Checkout, managed: Sequence[str]) -> None:
    """Put every changed managed path back as HEAD has it (untracked ones are deleted)."""
    tracked: list[str] = []
    untracked: list[str] = []
    for status, path in changed_paths(checkout):
        if not is_managed(path, managed):
            continue
        (untracked if status == "??" else tracked).append(path)
    if tracked:
        checkout.git.run("checkout", "-q", "HEAD", "--", *tracked)
    for path in untracked:
        files.remove(os.path.join(checkout.top, path), durable=False)


def ahead_behind(checkout: Checkout, other: str) -> tuple[int, int]:
    """Return (commits only in HEAD, commits only in `other`)."""
    out = checkout.git.text("rev-list", "--left-right", "--count", f"{checkout.head}...{other}")
    ahead, behind = out.split()
    return int(ahead), int(behind)
