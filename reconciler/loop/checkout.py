"""The git checkout the loop works in, read: its HEAD, its changes, its blobs and trees.

Moving HEAD is `loop/head_move.py`'s job (the one writer of the branch and the files).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from reconciler.adapters import files
from reconciler.adapters.gitrepo import Git
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode


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


def changed_paths(
    checkout: Checkout, *, skip: Sequence[str] = (), only: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Return (XY status, path) for every change in the index or worktree, untracked included.

    Folders in `skip` (repo-relative) are left out: neither their files' `lstat`s nor their
    listing (the loop's applied/ and rejected/ grow by a file per intent). One thread of
    `lstat`s (no `core.preloadIndex`): the loop runs this beside its own work
    (`worktree.CleanCheck`), and on two cores git's parallel preload slowed that work more than
    it sped up the status. `only` (git pathspecs with their magic, e.g. `:(top,literal)a/b`)
    limits it to those (with several fleets: the files of those the pass commits to).
    """
    args = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]
    env = None
    if skip or only:
        included = list(only) or [":(top,literal)"]
        args += ["--", *included, *(f":(top,exclude,literal){path}" for path in skip)]
        env = {"GIT_LITERAL_PATHSPECS": "0"}  # the exclusions are pathspec magic
    # --no-optional-locks: a status never writes the index it refreshed (git's opportunistic
    # update), which on a big index (a hundred fleets: 13 MB) doubled its cost; the HEAD move
    # records the stat data of every file it writes anyway.
    out = checkout.git.run(
        "--no-optional-locks", "-c", "core.preloadIndex=false", *args, extra_env=env
    ).stdout
    return [
        (item[:2].decode(), item[3:].decode("utf-8", "surrogateescape"))
        for item in out.split(b"\0")
        if len(item) > 3
    ]


def tracked_paths(checkout: Checkout, paths: Iterable[str]) -> set[str]:
    """Which of `paths` (repo-relative, no newline) the index holds: one `cat-file`.

    The index, not HEAD: a lookup in HEAD walks the tree objects of applied/ and rejected/
    (tens of thousands of entries) for every path, and the index holds every file of HEAD
    but those whose deletion was staged.
    """
    wanted = [path for path in paths if "\n" not in path]
    found = {path for path in paths if "\n" in path and _in_index(checkout, path)}
    if not wanted:
        return found
    # `:0:` names the stage, so a path that starts with `1:` is not read as stage 1.
    query = "".join(f":0:{path}\n" for path in wanted).encode("utf-8", "surrogateescape")
    out = checkout.git.run("cat-file", "--batch-check", stdin=query).stdout.splitlines()
    if len(out) != len(wanted):
        return found | {path for path in wanted if _in_index(checkout, path)}
    return found | {
        path for path, line in zip(wanted, out, strict=True) if not line.endswith(b" missing")
    }


def _in_index(checkout: Checkout, path: str) -> bool:
    """Whether the index holds `path` (a name `cat-file --batch-check` cannot take)."""
    out = checkout.git.run("ls-files", "-z", "--cached", "--", path).stdout
    return path.encode("utf-8", "surrogateescape") in out.split(b"\0")


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
