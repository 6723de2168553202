"""`reconcile freeze new`: add a checked window to the repository's freeze file.

The file is the one every pass reads (`guards.freezeFile`, default policies/freeze.yaml);
the edit is `core.freeze_writing`'s minimal splice, written atomically. Like `intent new`,
it writes the operator's working copy only: the change goes in by pull request.
"""

from __future__ import annotations

from typing import NamedTuple

from reconciler.adapters import files
from reconciler.core import freeze_parsing, freeze_writing
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Window
from reconciler.core.reasons import ReasonCode
from reconciler.inputs import guarding, layouts


class WrittenWindow(NamedTuple):
    """The freeze file written (relative to the repository) and the window added."""

    path: str
    window: Window


def add_freeze_window(repo: str, entry: freeze_writing.Entry) -> WrittenWindow:
    """Append `entry` (from `freeze_writing.new_window`) to the repository's freeze file.

    Raises:
        RefusalError: invalid settings, freeze windows off in this layout, a symlink on the
            file's path, or a freeze file that is invalid or already has the window's name.
    """
    layout = layouts.resolve_layout(layouts.resolve_repo(repo))
    settings, problem = guarding.load_guard_settings(layout)
    if problem is not None:
        raise problem
    relative = settings.freeze_file
    if relative is None:
        raise RefusalError(
            ReasonCode.FREEZE_FILE_INVALID,
            "freeze windows are off in the bash tool's .superloop/ layout: set "
            f"guards.freezeFile in {layouts.SETTINGS_FILE} first",
        )
    text = guarding.read_freeze_text(layout.repo, relative)  # refuses a symlink
    path = guarding.freeze_path(layout.repo, relative)
    fmt = guarding.freeze_format(path)
    # add_window refuses an invalid file, and reads the result back (cached: read once).
    edited = freeze_writing.add_window(text or "", fmt, entry, relative)
    files.atomic_write(path, edited.encode("utf-8"))  # makes missing folders
    window = freeze_parsing.read_calendar(edited, fmt, relative).windows[-1]
    return WrittenWindow(relative, window)
