"""File watching adapter: watchfiles in a thread, debounced, calling back on relevant changes.

Only the given folders are watched, not recursively, and only changes to the given files or
to files directly in the given folders count (the loop's own commits into applied/ and
rejected/ never wake it up). A watched folder that does not exist yet (the intents folder
before the first intent) or is removed and made again is watched from when it appears, and
what is watched is asked for again when a folder appears in a root (a fleet added).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

RETRY_SECONDS = 0.05
"""First pause before watching again when the watch could not be set up (doubling each time)."""
RETRY_CAP_SECONDS = 30.0


Targets = tuple[Iterable[str], Iterable[str]]
"""(folders, files) to watch: see `watch_in_thread`."""


def watch_in_thread(
    targets: Callable[[], Targets],
    *,
    debounce_ms: int,
    stop: threading.Event,
    on_change: Callable[[set[str]], None],
    roots: Iterable[str] = (),
    reshaping: Iterable[str] = (),
) -> threading.Thread:
    """Start a daemon thread calling `on_change(paths)` for each debounced burst of changes.

    `targets()` gives (folders, files): every change directly in those folders counts;
    changes to those files count (their folders are watched, so an atomic replace is seen).
    It is asked again whenever the layout changes: a watched folder or a parent appearing or
    vanishing, an entry of a `roots` folder (the folder of several fleets: a fleet added
    after the start is watched from then on), or a change to a `reshaping` file (the
    settings, which may name a fleet anywhere).
    """
    import watchfiles

    root_folders = frozenset(os.path.abspath(folder) for folder in roots)
    reshaping_files = frozenset(os.path.abspath(path) for path in reshaping)

    def run() -> None:
        failures = 0
        while not stop.is_set():
            try:
                plan = _Plan.of(*targets(), root_folders, reshaping_files)
                for changes in watchfiles.watch(
                    *plan.watched(),
                    watch_filter=plan.relevant,
                    debounce=debounce_ms,
                    step=min(50, max(debounce_ms // 4, 1)),
                    stop_event=stop,
                    recursive=False,
                    raise_interrupt=False,
                ):
                    failures = 0
                    paths = {path for _, path in changes}
                    on_change(paths)
                    if plan.reshapes(paths):
                        break  # watch the new layout; files already in a new folder got a pass
                else:
                    return  # stopped
            except OSError:  # a folder vanished between listing and watching it, or no watch
                failures += 1
                if stop.wait(min(RETRY_SECONDS * 2**failures, RETRY_CAP_SECONDS)):
                    return
                if failures == 1:
                    on_change(set())  # what changed meanwhile went unseen: one pass finds it

    thread = threading.Thread(target=run, name="reconciler-watch", daemon=True)
    thread.start()
    return thread


class _Plan(NamedTuple):
    """What one watch looks at, and which changes count."""

    folders: frozenset[str]
    files: frozenset[str]
    roots: frozenset[str]
    needed: frozenset[str]
    structural: frozenset[str]
    """A folder or one of its parents appearing or vanishing, or a reshaping file changing,
    changes what must be watched."""

    @classmethod
    def of(
        cls,
        folders: Iterable[str],
        files: Iterable[str],
        roots: frozenset[str],
        reshaping: frozenset[str],
    ) -> _Plan:
        wanted_folders = frozenset(os.path.abspath(folder) for folder in folders)
        wanted_files = frozenset(os.path.abspath(path) for path in files) | reshaping
        needed = wanted_folders | {os.path.dirname(path) for path in wanted_files} | roots
        structural = wanted_folders | roots | reshaping
        structural |= {parent for folder in needed for parent in _parents(folder)}
        return cls(wanted_folders, wanted_files, roots, needed, structural)

    def watched(self) -> list[str]:
        """The folders to watch: each needed one, or its nearest existing parent.

        The parent of each wanted folder too, so its removal and re-creation are seen.
        """
        found = {_nearest_existing(folder) for folder in self.needed}
        found.update(os.path.dirname(f) for f in self.folders if os.path.isdir(f))
        return sorted(found)

    def relevant(self, change: Any, path: str) -> bool:
        """Whether a change (a `watchfiles.Change`) of `path` counts."""
        import watchfiles

        if path in self.structural:
            return True
        if os.path.dirname(path) in self.roots:  # a folder in it (a fleet) came or went
            return change == watchfiles.Change.deleted or os.path.isdir(path)
        # A deletion never needs a pass: it is mostly the loop consuming an intent itself.
        if change == watchfiles.Change.deleted:
            return False
        return path in self.files or os.path.dirname(path) in self.folders

    def reshapes(self, paths: Iterable[str]) -> bool:
        """Whether these changed paths change what must be watched."""
        return any(path in self.structural or os.path.dirname(path) in self.roots for path in paths)


def _parents(folder: str) -> list[str]:
    parents = []
    while (parent := os.path.dirname(folder)) != folder:
        parents.append(parent)
        folder = parent
    return parents


def _nearest_existing(folder: str) -> str:
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder
