"""File watching adapter: watchfiles in a thread, debounced, calling back on relevant changes.

Only the given folders are watched, not recursively, and only changes to the given files or
to files directly in the given folders count (the loop's own commits into applied/ and
rejected/ never wake it up). A watched folder that does not exist yet (the intents folder
before the first intent) or is removed and made again is watched from when it appears.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

RETRY_SECONDS = 0.05
"""First pause before watching again when the watch could not be set up (doubling each time)."""
RETRY_CAP_SECONDS = 30.0


def watch_in_thread(
    folders: Iterable[str],
    files: Iterable[str],
    *,
    debounce_ms: int,
    stop: threading.Event,
    on_change: Callable[[set[str]], None],
) -> threading.Thread:
    """Start a daemon thread calling `on_change(paths)` for each debounced burst of changes.

    `folders`: every change directly in them counts; `files`: changes to these paths count
    (their folders are watched, so an atomic replace is seen).
    """
    import watchfiles

    wanted_folders = {os.path.abspath(folder) for folder in folders}
    wanted_files = {os.path.abspath(path) for path in files}
    needed = wanted_folders | {os.path.dirname(path) for path in wanted_files}
    # A folder or one of its parents appearing or vanishing changes what must be watched.
    structural = wanted_folders | {parent for folder in needed for parent in _parents(folder)}

    def relevant(change: watchfiles.Change, path: str) -> bool:
        if path in structural:
            return True
        # A deletion never needs a pass: it is mostly the loop consuming an intent itself.
        if change == watchfiles.Change.deleted:
            return False
        return path in wanted_files or os.path.dirname(path) in wanted_folders

    def watched() -> list[str]:
        # Each needed folder, or its nearest existing parent while it does not exist; the
        # parent of each wanted folder too, so its removal and re-creation are seen.
        found = {_nearest_existing(folder) for folder in needed}
        found.update(os.path.dirname(f) for f in wanted_folders if os.path.isdir(f))
        return sorted(found)

    def run() -> None:
        failures = 0
        while not stop.is_set():
            try:
                for changes in watchfiles.watch(
                    *watched(),
                    watch_filter=relevant,
                    debounce=debounce_ms,
                    step=min(50, max(debounce_ms // 4, 1)),
                    stop_event=stop,
                    recursive=False,
                    raise_interrupt=False,
                ):
                    failures = 0
                    paths = {path for _, path in changes}
                    on_change(paths)
                    if paths & structural:
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
