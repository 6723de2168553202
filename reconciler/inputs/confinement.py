"""Where a layout's files may be (inputs layer): inside the repository, never in `.git`.

`check_confined` refuses a path from reconciler.yaml or the built-in layout outside the
repository (`layout_path_outside_repo`) or inside its git folder (`layout_path_in_git_dir`),
for a single fleet (`layouts.py`) and for each of several (`fleet_layouts.py`).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from reconciler.adapters import files
from reconciler.core import repo_settings
from reconciler.core.errors import RefusalError
from reconciler.core.fleet_settings import FleetSettings
from reconciler.core.reasons import ReasonCode
from reconciler.core.repo_settings import RepoSettings
from reconciler.inputs.fleet import Fleet

SETTINGS_FILE = "reconciler.yaml"


class Layout(NamedTuple):
    """The resolved fleet of one repository, absolute, with where each choice came from."""

    repo: str
    name: str
    """`policies` or `superloop`: the built-in layout the defaults came from; `fleets`: one
    fleet of several (`fleet_layouts.LAYOUT_NAME`)."""
    reason: str
    fleet: Fleet
    sources: dict[str, str]
    """reconciler.yaml path key (`registryFile`, ...) -> `flag`, `reconciler.yaml` or
    `built-in`."""
    settings: RepoSettings
    """The repository's settings; a fleet of several gets its own paths and merged guards."""
    fleet_settings: FleetSettings | None = None
    """The fleet's entry of `fleets:` (after, requires); None: a single-fleet repository."""
    upstream: Fleet | None = None
    """The files of the fleet it is promoted after (`after:`); None: no upstream."""
    refused: RefusalError | None = None
    """Why this fleet of several cannot be used: a folder of it resolves, through a symlink
    on disk, outside the repository or into .git. Only the loop takes such a layout (as
    that fleet's refusal: the others go on); every other use refuses it."""
    upstream_refused: RefusalError | None = None
    """The upstream's `refused`: its files are never read (the upstream gate holds)."""
    held: RefusalError | None = None
    """Why this fleet's entry of `fleets:` cannot be trusted (`fleets_invalid`: an unknown key,
    a bad `after` or `requires`, a cycle): it is resolved without `after` and `requires`, its
    expand and resume wait on this (`guarding.load_guards`), its rollbacks apply."""

    @property
    def is_multi_fleet(self) -> bool:
        """Whether the fleet is one of several (`policies/fleets/<id>/`)."""
        return self.fleet_settings is not None


FLAG_NAMES = {
    "registryFile": "--registry-file",
    "promotionStateFile": "--promotion-state-file",
    "applyStateFile": "--apply-state-file",
    "applyTelemetryFile": "--apply-telemetry-file",
}


def managed_paths(layout: Layout) -> dict[str, str]:
    """The layout's paths that do not come from a flag, and the intents folder (`intentsDir`)."""
    files_block = layout.fleet.files_block()
    managed = {key: path for key, path in files_block.items() if layout.sources[key] != "flag"}
    managed["intentsDir"] = layout.fleet.intents
    return managed


def check_confined(layout: Layout, *, resolve: bool = True) -> None:
    """Refuse a path from reconciler.yaml or the built-in layout outside the repo or in .git.

    Explicit path flags are the caller's choice (as with the bash tool) and are not checked.
    A path must stay inside the repository lexically (no absolute path, no `..` out of it)
    and once its folder's symlinks are resolved; no component, before or after, may be
    `.git` (git never tracks one: a commit of it breaks every later pass). The final
    component is left to the readers and writers (a symlinked decision is followed by
    `apply`; a symlinked registry, state or telemetry file is refused when it is used).

    `resolve` False checks the paths as written only (not through the symlinks on disk:
    `check_resolved` does that part).

    Raises:
        RefusalError: `layout_path_outside_repo` or `layout_path_in_git_dir`.
    """
    for key, path, lexical in _managed_rows(layout):
        source, raw, shown = _described(layout, key, lexical)
        if source == SETTINGS_FILE and raw is not None and os.path.isabs(raw):
            raise _outside(f"{shown} is an absolute path", key, path)
        if _escapes(lexical):
            raise _outside(f"{shown} leads out of the repository {layout.repo}", key, path)
        if lexical == os.curdir and key != "intentsDir":
            raise _outside(f"{shown} is the repository itself, not a file in it", key, path)
        _refuse_git_dir(layout, shown, lexical, path)
    if resolve:
        check_resolved(layout)


def check_resolved(layout: Layout) -> None:
    """Refuse a path of `layout` that a symlink on disk leads out of the repository or into .git.

    The paths as written are `check_confined`'s (with `resolve` False).

    Raises:
        RefusalError: `layout_path_outside_repo` or `layout_path_in_git_dir`.
    """
    rows = _managed_rows(layout)
    folders = {key: path if key == "intentsDir" else os.path.dirname(path) for key, path, _ in rows}
    # No symlink on any folder's path below the repository (one lstat per shared folder):
    # each folder is where it is written, and realpath (a walk per folder) is not needed.
    below = [
        relative_to_repo(layout.repo, folder).replace(os.sep, "/") for folder in folders.values()
    ]
    if files.first_symlinked(layout.repo, below) is None:
        return
    real_repo = os.path.realpath(layout.repo)
    for key, path, lexical in rows:
        shown = _described(layout, key, lexical)[2]
        real = os.path.realpath(folders[key])
        real_relative = os.path.relpath(real, real_repo)
        if _escapes(real_relative):
            why = f"resolves through a symlink to {real}, outside the repository {layout.repo}"
            raise _outside(f"{shown} {why}", key, path)
        _refuse_git_dir(layout, shown, real_relative, path)


def _described(layout: Layout, key: str, lexical: str) -> tuple[str, str | None, str]:
    """(where the path came from, its value as written, how a refusal shows it)."""
    configured = key in layout.settings.paths or key in layout.settings.strings
    source = layout.sources.get(key, SETTINGS_FILE if configured else "built-in")
    raw = layout.settings.paths.get(key) or layout.settings.strings.get(key)
    return source, raw, f"{key} {raw or lexical!r} ({source})"


def _managed_rows(layout: Layout) -> list[tuple[str, str, str]]:
    """(key, absolute path, path relative to the repository) of each managed path."""
    return [
        (key, path, relative_to_repo(layout.repo, path))
        for key, path in managed_paths(layout).items()
    ]


def relative_to_repo(repo: str, path: str) -> str:
    """`os.path.relpath(path, repo)`, without its walk for a normalised path below `repo`."""
    prefix = repo.rstrip(os.sep) + os.sep
    if path.startswith(prefix) and os.path.normpath(path) == path:
        return path[len(prefix) :]
    return os.path.relpath(path, repo)


def _refuse_git_dir(layout: Layout, shown: str, relative: str, path: str) -> None:
    part = repo_settings.git_dir_component(relative.replace(os.sep, "/"))
    if part is not None:
        raise RefusalError(
            ReasonCode.LAYOUT_PATH_IN_GIT_DIR,
            f"{shown} is inside the git folder ({part!r}) of the repository "
            f"{layout.repo}; git never tracks files there, so the loop could not "
            f"commit it: choose a path outside .git in {SETTINGS_FILE}",
            path=path,
        )


def _escapes(relative: str) -> bool:
    return relative == os.pardir or relative.startswith(os.pardir + os.sep)


def _outside(what: str, key: str, path: str) -> RefusalError:
    flag = FLAG_NAMES.get(key)
    hint = (
        f" (to use a file elsewhere on purpose, pass {flag} to `reconcile apply`)" if flag else ""
    )
    return RefusalError(
        ReasonCode.LAYOUT_PATH_OUTSIDE_REPO,
        f"{what}; paths that do not come from a flag must stay inside the repository{hint}",
        path=path,
    )
