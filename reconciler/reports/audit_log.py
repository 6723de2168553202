"""The commits `reconcile verify` reads, and what each changed (reports layer, git reading).

Three `git log` processes, never one per commit: the commits of the range with their
trailers (no diff: cheap), run beside the changes of the few small owned paths (registry,
telemetry, state and index files, trust files) for every commit; then, for the commits that
turn out not to be verified reconciler commits, their whole diff (a merge's: what differs
from every parent). A reconciler
commit's diff of `applied/` (a tree of tens of thousands of entries) is never computed: that
made the one `git log --raw` of every commit quadratic in the history's length.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from reconciler.core.trailers import parse_trailers
from reconciler.loop.checkout import Checkout

_FIELDS = "%H%x1f%P%x1f%an <%ae>%x1f%cn <%ce>%x1f%(trailers:unfold,only)"
_RAW = ("-z", "--raw", "--no-renames", "--no-abbrev", "--diff-merges=combined")
"""A merge shows the files that differ from every parent: what the merge itself decided (a
conflict resolution, an evil merge), not what its sides' commits (listed themselves) did."""


class Change(NamedTuple):
    """One file a commit changed: blobs before (its first parent's) and after."""

    old: str
    new: str
    status: str
    path: str


class Commit(NamedTuple):
    """One commit of the range, oldest first."""

    sha: str
    parents: tuple[str, ...]
    author: str
    committer: str
    trailers: Mapping[str, str]
    """Its trailers when it claims to be the reconciler's (a Reconcile-* key), else empty."""
    changes: tuple[Change, ...]
    """Its changes of the small owned paths; every change once `with_all_changes` ran."""


def read_log(checkout: Checkout, base: str | None, small_paths: Sequence[str]) -> list[Commit]:
    """Every commit reachable from HEAD (after `base`), oldest first (topological order).

    Each carries its changes of `small_paths` only (a merge: those unlike every parent).
    """
    revision = f"{base}..HEAD" if base else "HEAD"
    mark = f"\x1e{os.urandom(6).hex()}\x1f"
    with ThreadPoolExecutor(1) as pool:
        # Both processes run at once (two cores); Python only waits on their pipes.
        changed = pool.submit(
            checkout.git.run,
            "log", *_RAW, "--full-history", f"--format={mark}%H", revision, "--", *small_paths,
        )  # fmt: skip
        listed = checkout.git.run(
            "log", "--reverse", "--topo-order", "-z", f"--format={mark}{_FIELDS}", revision
        ).stdout
        changes = dict(_raw_chunks(changed.result().stdout, mark))
    commits = []
    for chunk in listed.split(mark.encode())[1:]:
        sha, parents, author, committer, trailers = chunk.rstrip(b"\0").split(b"\x1f", 4)
        found = parse_trailers(trailers.decode("utf-8", "replace")) if trailers.strip() else {}
        name = sha.decode("ascii")
        commits.append(
            Commit(
                name,
                tuple(parents.decode("ascii").split()),
                author.decode("utf-8", "replace"),
                committer.decode("utf-8", "replace"),
                found if any(key.startswith("Reconcile-") for key in found) else {},
                changes.get(name, ()),
            )
        )
    return commits


def with_all_changes(
    checkout: Checkout, commits: Iterable[Commit], first_parent: frozenset[str] = frozenset()
) -> list[Commit]:
    """The same commits, each with every file it changed (a merge: unlike every parent).

    A root commit lists every file it holds (against the empty tree); a merge named in
    `first_parent` (one of unrelated histories) what differs from its first parent.
    """
    wanted = list(commits)
    if not wanted:
        return []
    changes: dict[str, tuple[Change, ...]] = {}
    for diff_merges, group in (
        ("combined", [c.sha for c in wanted if c.sha not in first_parent]),
        ("first-parent", [c.sha for c in wanted if c.sha in first_parent]),
    ):
        if group:
            mark = f"\x1e{os.urandom(6).hex()}\x1f"
            out = checkout.git.run(
                "log", "--no-walk=unsorted", "--stdin", "--root", *_RAW,
                f"--diff-merges={diff_merges}", f"--format={mark}%H",
                stdin="".join(f"{sha}\n" for sha in group).encode("ascii"),
            ).stdout  # fmt: skip
            changes.update(_raw_chunks(out, mark))
    return [commit._replace(changes=changes.get(commit.sha, ())) for commit in wanted]


def first_parent_changes(
    checkout: Checkout, base: str | None, paths: Sequence[str]
) -> dict[str, tuple[Change, ...]]:
    """The first-parent commits (after `base`) that changed `paths`, with those changes.

    Each is compared with its first parent: the commits that brought a change into the
    branch (a pull request's merge, or a commit pushed to it).
    """
    if not paths:
        return {}
    mark = f"\x1e{os.urandom(6).hex()}\x1f"
    out = checkout.git.run(
        "log", "--first-parent", "-z", "--raw", "--no-renames", "--no-abbrev",
        "--diff-merges=first-parent", f"--format={mark}%H",
        f"{base}..HEAD" if base else "HEAD", "--", *paths,
    ).stdout  # fmt: skip
    return dict(_raw_chunks(out, mark))


def _raw_chunks(out: bytes, mark: str) -> Iterable[tuple[str, tuple[Change, ...]]]:
    for chunk in out.split(mark.encode())[1:]:
        sha, _, raw = chunk.partition(b"\0")
        yield sha.strip().decode("ascii"), tuple(_changes(raw))


def _changes(raw: bytes) -> list[Change]:
    """Parse `--raw -z` entries; a merge's (`::` combined) gives its first parent's blob."""
    items = raw.split(b"\0")
    changes = []
    for number in range(len(items) - 1):
        text = items[number].strip(b"\n")
        parents = len(text) - len(text.lstrip(b":"))
        if parents:
            meta = text[parents:].split(b" ")
            if len(meta) == 2 * parents + 3:
                path = items[number + 1].decode("utf-8", "surrogateescape")
                old, new = meta[parents + 1].decode(), meta[2 * parents + 1].decode()
                changes.append(Change(old, new, meta[-1].decode()[:1], path))
    return changes
