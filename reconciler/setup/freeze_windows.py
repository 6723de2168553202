"""`reconcile freeze new`: add a checked window to the repository's freeze file.

The file is the one every pass reads (`guards.freezeFile`, default policies/freeze.yaml);
the edit is `core.freeze_writing`'s minimal splice, written atomically. Like `intent new`,
it writes the operator's working copy only: the change goes in by pull request.

With several fleets the file is the fleet's effective one (`fleets.<id>.guards.freezeFile`
overrides the top-level `guards:`): `--fleet` chooses it; without it the window goes to the
file every fleet shares (a repository-wide freeze), and `fleet_required` when they differ.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    fleets: tuple[str, ...] = ()
    """The fleets (of several) whose freeze file it is: the window holds each of them."""


def add_freeze_window(
    repo: str, entry: freeze_writing.Entry, fleet: str | None = None
) -> WrittenWindow:
    """Append `entry` (from `freeze_writing.new_window`) to the repository's freeze file.

    Raises:
        RefusalError: invalid settings, freeze windows off in this layout, a symlink on the
            file's path, or a freeze file that is invalid or already has the window's name;
            several fleets with different freeze files and no `fleet` (`fleet_required`), an
            unknown one (`fleet_unknown`).
    """
    root = layouts.resolve_repo(repo)
    found = layouts.resolve_layouts(root)
    layout = layouts.resolve_layouts(root, [fleet])[0] if fleet is not None else found[0]
    settings, problem = guarding.load_guard_settings(layout)
    if problem is not None:
        raise problem
    relative = settings.freeze_file
    sharing: tuple[str, ...] = ()
    if layout.is_multi_fleet:
        by_fleet = {other.fleet.id: _freeze_file(other) for other in found}
        if fleet is None and len(set(by_fleet.values())) > 1:
            raise _fleet_required(by_fleet)
        sharing = tuple(key for key, value in by_fleet.items() if value == relative)
    if relative is None:
        where = (
            f"for fleet {layout.fleet.id} (guards.freezeFile: null)"
            if layout.is_multi_fleet
            else "in the bash tool's .superloop/ layout"
        )
        raise RefusalError(
            ReasonCode.FREEZE_FILE_INVALID,
            f"freeze windows are off {where}: set guards.freezeFile in "
            f"{layouts.SETTINGS_FILE} first",
        )
    text = guarding.read_freeze_text(layout.repo, relative)  # refuses a symlink
    path = guarding.freeze_path(layout.repo, relative)
    fmt = guarding.freeze_format(path)
    # add_window refuses an invalid file, and reads the result back (cached: read once).
    edited = freeze_writing.add_window(text or "", fmt, entry, relative)
    files.atomic_write(path, edited.encode("utf-8"))  # makes missing folders
    window = freeze_parsing.read_calendar(edited, fmt, relative).windows[-1]
    return WrittenWindow(relative, window, sharing)


def _freeze_file(layout: layouts.Layout) -> str | None:
    """The fleet's effective freeze file (None: windows off, or its guards are invalid)."""
    settings, problem = guarding.load_guard_settings(layout)
    return None if problem is not None else settings.freeze_file


def _fleet_required(by_fleet: Mapping[str, str | None]) -> RefusalError:
    shown = ", ".join(f"{fleet}: {path or 'none'}" for fleet, path in by_fleet.items())
    return RefusalError(
        ReasonCode.FLEET_REQUIRED,
        f"freeze new works on one fleet here: the fleets' freeze files differ ({shown}); "
        f"pass --fleet (one of: {', '.join(by_fleet)})",
    )
