"""File watching adapter: watchfiles in a thread, debounced, calling back on relevant changes.

Only the given folders are watched, not recursively, and only changes to the given files or
to files directly in the given folders count (the loop's own commits into applied/ and
rejected/ never wake it up).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable


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
    watched = sorted(
        folder
        for folder in wanted_folders | {os.path.dirname(path) for path in wanted_files}
        if os.path.isdir(folder)
    )

    def relevant(change: watchfiles.Change, path: str) -> bool:
        # A deletion never needs a pass: it is mostly the loop consuming an intent itself.
        if change == watchfiles.Change.deleted:
            return False
        return path in wanted_files or os.path.dirname(path) in wanted_folders

    def run() -> None:
        for changes in watchfiles.watch(
            *watched,
            watch_filter=relevant,
            debounce=debounce_ms,
            step=min(50, max(debounce_ms // 4, 1)),
            stop_event=stop,
            recursive=False,
            raise_interrupt=False,
        ):
            on_change({path for _, path in changes})

    thread = threading.Thread(target=run, name="reconciler-watch", daemon=True)
    thread.start()
    return thread
