"""The tree a pull request's merge would produce, read without writing to the repository.

`plan` evaluates on exactly what `--once` will see after the merge. `git merge-tree
--write-tree` merges HEAD into the target branch in memory; its objects, and the stand-in
merge commit whose history gives each intent its adding commit, go to a temporary object
folder that borrows the repository's objects as alternates, so the repository gains no file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

from reconciler.adapters import files
from reconciler.adapters.gitrepo import GitError
from reconciler.core import queueing
from reconciler.core.errors import RefusalError
from reconciler.core.intents import INTENT_LIMIT
from reconciler.core.passes import as_text
from reconciler.core.reasons import ReasonCode
from reconciler.loop import checkout as checkouts
from reconciler.loop import pass_state
from reconciler.loop.checkout import Checkout

# A fixed identity and date: the stand-in merge commit is the same for the same inputs.
_STAND_IN = {
    "GIT_AUTHOR_NAME": "reconcile plan",
    "GIT_AUTHOR_EMAIL": "plan@localhost",
    "GIT_AUTHOR_DATE": "@0 +0000",
    "GIT_COMMITTER_NAME": "reconcile plan",
    "GIT_COMMITTER_EMAIL": "plan@localhost",
    "GIT_COMMITTER_DATE": "@0 +0000",
}
_CONFLICTS_SHOWN = 5


class Merged(NamedTuple):
    """The merge of HEAD into the target, as git objects in a temporary object folder."""

    checkout: Checkout
    """The worktree's checkout whose `git` also sees the temporary objects and whose
    `head` is the stand-in merge commit (target first, then HEAD)."""
    tree: str


class TreeEntry(NamedTuple):
    """A pending intent of a tree: its repo-relative path, mode and object id."""

    path: str
    mode: str
    blob: str


@contextmanager
def merged(checkout: Checkout, target: str, target_ref: str) -> Iterator[Merged]:
    """Yield the merge of `checkout.head` into `target`; the objects vanish afterwards.

    Raises:
        RefusalError: the merge conflicts (`pr_merge_conflict`), or git failed.
    """
    objects = checkout.git.text("rev-parse", "--path-format=absolute", "--git-path", "objects")
    with tempfile.TemporaryDirectory(prefix="reconcile-plan-objects-") as scratch:
        git = checkout.git.with_env(
            {
                **_STAND_IN,
                "GIT_OBJECT_DIRECTORY": scratch,
                "GIT_ALTERNATE_OBJECT_DIRECTORIES": objects,
            }
        )
        args = ("merge-tree", "--write-tree", "-z", "--name-only", "--no-messages")
        done = git.run(*args, target, checkout.head, check=False)
        fields = done.stdout.decode("utf-8", "surrogateescape").split("\0")
        if done.returncode == 1:
            raise _conflict(target_ref, fields[1:])
        if done.returncode != 0 or not fields[0]:
            raise GitError(args, done.returncode, done.stderr.decode("utf-8", "replace"))
        tree = fields[0]
        commit = git.run(
            "commit-tree", "--no-gpg-sign", tree, "-p", target, "-p", checkout.head,
            stdin=b"reconcile plan\n",
        )  # fmt: skip
        head = commit.stdout.decode().strip()
        yield Merged(checkout._replace(git=git, head=head), tree)


def _conflict(target_ref: str, paths: Sequence[str]) -> RefusalError:
    conflicted = sorted({as_text(path) for path in paths if path})
    shown = ", ".join(conflicted[:_CONFLICTS_SHOWN])
    more = len(conflicted) - _CONFLICTS_SHOWN
    return RefusalError(
        ReasonCode.PR_MERGE_CONFLICT,
        f"the branch does not merge cleanly into {target_ref} (conflicts in {shown}"
        f"{f' and {more} more' if more > 0 else ''}); merge or rebase onto {target_ref} first, "
        "then plan again",
        details=conflicted,
    )


def tree_queue(
    checkout: Checkout, commit: str, intents: str
) -> tuple[list[TreeEntry], list[queueing.Ignored]]:
    """List the intents folder of `commit` as the loop would list it after a checkout.

    Returns the pending intents (file-name order) and the ignored entries (path order).
    """
    pending: list[TreeEntry] = []
    ignored: list[queueing.Ignored] = []
    subfolders: list[str] = []
    for path, (mode, kind, blob) in _ls_tree(checkout, commit, f"{intents}/").items():
        name = path.rpartition("/")[2]
        # A submodule (gitlink) is checked out as a folder.
        is_folder = kind in ("tree", "commit")
        verdict = queueing.classify_entry(intents, name, is_folder=is_folder)
        if verdict.kind == "intent":
            pending.append(TreeEntry(path, mode, blob))
        elif verdict.kind == "ignored":
            ignored.append(queueing.ignored_entry(intents, name, verdict, is_folder=is_folder))
        elif verdict.kind == "walk" and kind == "tree":
            subfolders.append(name)
    for folder in sorted(subfolders):
        below = _ls_tree(checkout, commit, f"{intents}/{folder}/", recursive=True)
        for count, path in enumerate(sorted(below, key=os.fsencode)):
            if count == queueing.IGNORED_LIMIT:
                ignored.append(queueing.truncated_entry(intents, folder))
                break
            relative = path.removeprefix(f"{intents}/")
            verdict = queueing.classify_entry(intents, relative, is_folder=False)
            ignored.append(queueing.ignored_entry(intents, relative, verdict, is_folder=False))
    return (
        sorted(pending, key=lambda entry: os.fsencode(entry.path)),
        sorted(ignored, key=lambda item: os.fsencode(item.path)),
    )


def _ls_tree(
    checkout: Checkout, commit: str, spec: str, *, recursive: bool = False
) -> dict[str, tuple[str, str, str]]:
    """Return {path: (mode, type, object id)} of `git ls-tree` (files only when recursive)."""
    args = ["ls-tree", "-z", *(["-r"] if recursive else []), commit, "--", spec]
    out = checkout.git.run(*args).stdout
    entries: dict[str, tuple[str, str, str]] = {}
    for item in out.split(b"\0"):
        meta, _, path = item.partition(b"\t")
        parts = meta.decode("ascii", "replace").split()
        if len(parts) == 3:
            entries[path.decode("utf-8", "surrogateescape")] = (parts[0], parts[1], parts[2])
    return entries


def write_intents(checkout: Checkout, entries: Sequence[TreeEntry], root: str) -> None:
    """Write the pending intents of a tree into `root` as a checkout would have them.

    A symlink stays a symlink (reading it rejects it, as the loop does); a file larger than
    INTENT_LIMIT is written only as far as the loop reads one (the rejection is the same).
    """
    sizes = _blob_sizes(checkout, [entry.blob for entry in entries if entry.mode != "120000"])
    small = [
        entry.blob
        for entry in entries
        if entry.mode == "120000" or sizes[entry.blob] <= INTENT_LIMIT
    ]
    contents = checkouts.cat_blobs(checkout, small)
    for entry in entries:
        target = pass_state.in_tree(root, entry.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if entry.mode == "120000":
            # The link is never followed; only its being a link matters (a rejection).
            os.symlink(os.fsdecode(contents[entry.blob].replace(b"\0", b"_") or b"_"), target)
            continue
        data = contents.get(entry.blob)
        if data is None:
            data = _blob_prefix(checkout, entry.blob, INTENT_LIMIT + 1)
        files.atomic_write(target, data, durable=False)


def _blob_sizes(checkout: Checkout, blobs: Sequence[str]) -> dict[str, int]:
    if not blobs:
        return {}
    stdin = "".join(f"{blob}\n" for blob in blobs).encode()
    out = checkout.git.run("cat-file", "--batch-check", stdin=stdin).stdout.decode()
    sizes = {}
    for line in out.splitlines():
        blob, _kind, size = line.split()
        sizes[blob] = int(size)
    return sizes


def _blob_prefix(checkout: Checkout, blob: str, limit: int) -> bytes:
    with checkout.git.stream("cat-file", "blob", blob) as out:
        chunks, size = [], 0
        while size < limit:
            chunk = out.read(limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks)


def materialise(checkout: Checkout, commit: str, root: str, paths: Sequence[str]) -> None:
    """Write the files of `commit` that the evaluation reads into `root` (same relative paths).

    The registry and decision themselves, and every file in the folders of the state and
    telemetry files (indexes and telemetry segments).
    """
    registry, decision, state, telemetry = paths
    specs = [registry, decision]
    for path in (state, telemetry):
        folder = path.rpartition("/")[0]
        specs.append(f"{folder}/" if folder else path)
    # Not recursive: only the files directly in those folders (never, say, a whole
    # applied/ history in the bash layout, where the state folder is the fleet folder).
    _write_blobs(checkout, root, checkouts.tree_blobs(checkout, commit, *specs))


def materialise_file(checkout: Checkout, commit: str, root: str, path: str) -> None:
    """Write one more file of `commit` into `root`, symlinks on its way written as symlinks.

    So a reader that refuses a symlink on the path (the freeze file) refuses it in the merged
    tree as it would in the checkout. Each folder of the path is listed on its own (not
    recursively: never a whole policies/ tree).
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    entries = checkouts.tree_blobs(checkout, commit, *prefixes)
    links = {p: blob for p, (mode, blob) in entries.items() if mode == "120000"}
    if links:
        contents = checkouts.cat_blobs(checkout, list(links.values()))
        for link, blob in links.items():
            target = pass_state.in_tree(root, link)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.fsdecode(contents[blob]), target)
        return
    _write_blobs(checkout, root, {p: e for p, e in entries.items() if p == path})


def _write_blobs(checkout: Checkout, root: str, entries: dict[str, tuple[str, str]]) -> None:
    """Write the regular files among `entries` (path -> (mode, blob)) into `root`."""
    wanted = {path: blob for path, (mode, blob) in entries.items() if mode != "120000"}
    contents = checkouts.cat_blobs(checkout, list(wanted.values()))
    for path, blob in wanted.items():
        target = pass_state.in_tree(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        files.atomic_write(target, contents[blob], durable=False)
