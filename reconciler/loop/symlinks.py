"""Symlinks in the loop's paths: refused on disk and in git, before anything is consumed.

A symlinked folder (`policies/telemetry -> /some/host/dir`) would make a pass read a host
file and commit it, and the commit would silently replace the link; a symlinked file would
be read or written through. So every component of every path the loop reads or writes must
be a real folder or file, in the checkout (`refuse_symlinks`, a dozen `lstat`s) and in the
commit the pass builds on (`head_listing`, in the `git ls-tree` a pass makes anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.adapters import files
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.loop.checkout import Checkout, tree_blobs
from reconciler.loop.queue import APPLIED, REJECTED
from reconciler.telemetry import segments

if TYPE_CHECKING:
    from reconciler.loop.paths import LoopPaths


def walked_paths(paths: LoopPaths) -> list[str]:
    """Every path the loop reads or writes whose components must not be symlinks."""
    intents = paths.intents
    return [
        paths.registry, paths.decision, paths.state, paths.telemetry, paths.index_file,
        paths.segments, paths.settings, f"{intents}/{APPLIED}", f"{intents}/{REJECTED}",
    ]  # fmt: skip


def refuse_symlinks(top: str, paths: LoopPaths) -> None:
    """Refuse when a component of a path the loop reads or writes is a symlink on disk.

    A symlinked folder (`policies/telemetry -> /some/host/dir`) would make the pass read a
    host file and commit it, and the commit would silently replace the link; a symlinked
    file would be read through. Sealed telemetry segments are read without following a
    symlink (`file_not_regular`).

    Raises:
        RefusalError: `path_symlink`; nothing was read or consumed.
    """
    link = files.first_symlinked(top, walked_paths(paths))
    if link is not None:
        raise symlink_refusal(link, "")


def symlink_refusal(link: str, where: str) -> RefusalError:
    """The `path_symlink` refusal for `link` (repo-relative), `where` e.g. ` in commit abc`."""
    return RefusalError(
        ReasonCode.PATH_SYMLINK,
        f"{link} is a symlink{where}, which the loop refuses: every folder and file it reads "
        "or writes must be a real one inside the repository (a link would read or write "
        "outside it, and a commit would replace it); replace it with the real folder or file. "
        "No intent was consumed",
        path=link,
    )


def refuse_tracked_symlinks(
    entries: Mapping[str, tuple[str, str]], paths: LoopPaths, commit: str
) -> None:
    """Refuse when `git ls-tree` shows a walked path component as a symlink (mode 120000).

    A symlink committed in git is refused even where the checkout holds no link (with
    `core.symlinks=false` git writes it as a plain file holding its target).

    Raises:
        RefusalError: `path_symlink`.
    """
    components = {prefix for path in walked_paths(paths) for prefix in _prefixes(path)}
    pattern = segments.segment_pattern(paths.telemetry.rpartition("/")[2])
    folder = paths.telemetry.rpartition("/")[0]
    for path, (mode, _blob) in sorted(entries.items()):
        parent, _, name = path.rpartition("/")
        segment = parent == folder and pattern.fullmatch(name) is not None
        if mode == "120000" and (path in components or segment):
            raise symlink_refusal(path, f" in commit {commit[:12]}")


def listing_specs(paths: LoopPaths) -> list[str]:
    """`git ls-tree` path specs whose listing shows every walked component's own entry.

    The parent folder of each component (`a/b/` lists `a/b/c`); a top-level name itself.
    """
    specs: set[str] = set()
    for path in walked_paths(paths):
        for prefix in _prefixes(path):
            parent = prefix.rpartition("/")[0]
            specs.add(f"{parent}/" if parent else prefix)
    return sorted(specs)


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: end + 1]) for end in range(len(parts))]


def head_listing(checkout: Checkout, paths: LoopPaths) -> dict[str, tuple[str, str]]:
    """Return {path: (mode, blob)} at HEAD of the files beside every walked component.

    The intents folder's files, and the registry, state, index and telemetry files.

    The same `git ls-tree` shows every walked component's own entry, which must not be a
    symlink.

    Raises:
        RefusalError: `path_symlink`.
    """
    listing = tree_blobs(checkout, checkout.head, f"{paths.intents}/", *listing_specs(paths))
    refuse_tracked_symlinks(listing, paths, checkout.head)
    return listing


def intents_in(
    listing: Mapping[str, tuple[str, str]], paths: LoopPaths
) -> dict[str, tuple[str, str]]:
    """The entries of `listing` directly in the intents folder: the committed pending intents."""
    return {
        path: entry for path, entry in listing.items() if path.rpartition("/")[0] == paths.intents
    }


def tracked_intents(checkout: Checkout, paths: LoopPaths) -> dict[str, tuple[str, str]]:
    """Return {path: (mode, blob)} of the files committed directly in the intents folder.

    Raises:
        RefusalError: `path_symlink` (see `head_listing`).
    """
    return intents_in(head_listing(checkout, paths), paths)
