"""Several fleets in one repository: `policies/fleets/<id>/` and `fleets:` in reconciler.yaml.

A repository is multi-fleet when reconciler.yaml has `fleets:` or `policies/fleets/` exists.
Its fleets are the folders of `policies/fleets/` and the ids `fleets:` names; each is a
`Layout` of its own (the single-fleet machinery runs per fleet), with the top-level `guards:`
merged with the fleet's overrides. Upstream fleets come first (`promotion_order`). Without
either, the repository has its one fleet as before (`layouts.resolve_layout`). See
docs/fleets.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType

from reconciler.adapters import files
from reconciler.core import fleet_settings, upstream
from reconciler.core.errors import RefusalError
from reconciler.core.fleet_ids import FLEET_ID_RULE, is_fleet_id
from reconciler.core.fleet_settings import FLEETS_ROOT, FleetSettings
from reconciler.core.reasons import ReasonCode
from reconciler.core.repo_settings import PATH_KEYS, RepoSettings
from reconciler.inputs.confinement import SETTINGS_FILE, Layout, check_confined, check_resolved
from reconciler.inputs.fleet import SETTING_KEYS, Fleet

LAYOUT_NAME = "fleets"
_SINGLE_KEYS = (*PATH_KEYS, "intentsDir")
_DEFAULT_FILES = {
    "registryFile": "registry.yaml",
    "promotionStateFile": "promotion/decision.json",
    "applyStateFile": "state/promotion-apply-state.json",
    "applyTelemetryFile": "telemetry/promotion-apply.jsonl",
}


def is_multi_fleet(repo: str, settings: RepoSettings) -> bool:
    """Whether the repository holds several fleets (`fleets:` set, or `policies/fleets/`)."""
    return settings.fleets is not None or files.is_dir(os.path.join(repo, *FLEETS_ROOT.split("/")))


_Signature = tuple[int, int, int, int] | None
_MEMO: dict[str, tuple[tuple[object, ...], list[Layout], list[tuple[str, _Signature]]]] = {}
"""The fleets last resolved per repository, with the signatures of what they were read from:
a command resolves the fleets more than once (the pass, then its audit), a hundred fleets
cost ~50 ms each time."""


def _signature(path: str) -> _Signature:
    """What changes when a file or folder is replaced, renamed into, or written (lstat)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode)


def fleet_layouts(repo: str, settings: RepoSettings) -> list[Layout]:
    """Every fleet of a multi-fleet repository, upstream first (memoised, see `_MEMO`).

    Resolved again when reconciler.yaml, `policies/fleets/` or any fleet's folders changed
    since (a folder's mtime moves when an entry in it is added, removed or replaced).

    Raises:
        RefusalError: `fleets_invalid` (bad `fleets:`, a bad folder name, an unknown or
            cyclic `after`, single-fleet settings or files beside the fleets), or a path
            outside the repository (`layout_path_outside_repo`, ...).
    """
    key = (
        settings,
        _signature(os.path.join(repo, SETTINGS_FILE)),
        _signature(os.path.join(repo, *FLEETS_ROOT.split("/"))),
        _signature(os.path.join(repo, "policies")),
    )
    found = _MEMO.get(repo)
    if found is not None and found[0] == key:
        if all(_signature(path) == signature for path, signature in found[2]):
            return list(found[1])
    resolved = _resolve(repo, settings)
    watched = sorted(
        {
            os.path.dirname(path)
            for layout in resolved
            for path in (*layout.fleet.files_block().values(), layout.fleet.intents + os.sep)
        }
    )
    _MEMO[repo] = (key, resolved, [(path, _signature(path)) for path in watched])
    return list(resolved)


def _resolve(repo: str, settings: RepoSettings) -> list[Layout]:
    configured, problems, held = fleet_settings.parse_fleets(settings.fleets)
    folders, folder_problems = fleet_folders(repo)
    problems += folder_problems
    problems += [
        f"{key} cannot be set at the top of {SETTINGS_FILE} in a repository with several "
        f"fleets: set it per fleet under fleets.<id>"
        for key in _SINGLE_KEYS
        if key in settings.paths or key in settings.strings
    ]
    problems += [
        f"policies/{name} exists beside {FLEETS_ROOT}/: a repository holds one fleet at "
        f"policies/ or several below {FLEETS_ROOT}/, not both"
        for name in ("registry.yaml", "registry.json")
        if files.exists(os.path.join(repo, "policies", name))
    ]
    ids = sorted({*folders, *configured})
    problems += fleet_settings.case_twins(ids)
    if not ids and not problems:
        problems.append(f"no fleet: {FLEETS_ROOT}/ has no folder and fleets: names none")
    if problems:
        raise _invalid(repo, problems)
    held = _merged(held, _order_problems(configured, ids))
    configured = {
        fleet: entry._replace(after=None, requires=None) if fleet in held else entry
        for fleet, entry in configured.items()
    }
    layouts_found = [
        _fleet_layout(repo, settings, configured.get(fleet), fleet, len(ids))
        for fleet in fleet_settings.promotion_order(ids, configured)
    ]
    _refuse_shared_files(repo, layouts_found)
    by_id = {layout.fleet.id: layout for layout in layouts_found}
    return [
        _held(
            layout._replace(
                upstream=by_id[layout.fleet_settings.after].fleet,
                upstream_refused=by_id[layout.fleet_settings.after].refused,
            )
            if layout.fleet_settings is not None and layout.fleet_settings.after is not None
            else layout,
            held,
        )
        for layout in layouts_found
    ]


def _order_problems(
    configured: Mapping[str, FleetSettings], ids: Sequence[str]
) -> dict[str, list[str]]:
    """The order's problems by fleet (an unknown `after`, a cycle) and each bad `requires`.

    They hold that fleet's progression only (it is resolved without `after` and
    `requires`), never another fleet's rollback.
    """
    found = fleet_settings.order_problems(configured, ids)
    for entry in configured.values():
        _, problems = upstream.parse_requires(entry.after, entry.requires)
        if problems:
            found.setdefault(entry.id, []).extend(f"fleets.{entry.id}.{p}" for p in problems)
    return found


def _merged(*found: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Problems by fleet, each fleet's in the order given."""
    merged: dict[str, list[str]] = {}
    for each in found:
        for fleet, problems in each.items():
            merged.setdefault(fleet, []).extend(problems)
    return merged


def _held(layout: Layout, held: Mapping[str, Sequence[str]]) -> Layout:
    """The layout with its `held` refusal when its entry of `fleets:` has problems."""
    found = held.get(layout.fleet.id)
    if not found:
        return layout
    return layout._replace(
        held=RefusalError(
            ReasonCode.FLEETS_INVALID,
            f"invalid settings of fleet {layout.fleet.id} in "
            f"{os.path.join(layout.repo, SETTINGS_FILE)}",
            details=list(found),
        )
    )


def with_settings(layout: Layout, settings: RepoSettings) -> Layout:
    """`layout` read with other settings of its repository (`plan`: the merge's).

    Its files stay as resolved; a fleet of several takes its `guards:` from the new settings
    (the top-level block with the fleet's overrides), and its `held` problems (its entry's
    typos hold its expand and resume there, or no longer do).

    Raises:
        RefusalError: the new `fleets:` block is invalid (`fleets_invalid`).
    """
    if layout.fleet_settings is None:
        return layout._replace(settings=settings)
    configured, problems, held = fleet_settings.parse_fleets(settings.fleets)
    if problems:
        raise _invalid(layout.repo, problems)
    ids = sorted({*fleet_folders(layout.repo)[0], *configured})
    held = _merged(held, _order_problems(configured, ids))
    fleet = configured.get(layout.fleet.id, layout.fleet_settings)
    own = settings._replace(
        paths=layout.settings.paths,
        strings=MappingProxyType(
            {**settings.strings, "intentsDir": layout.settings.strings["intentsDir"]}
        ),
        guards=fleet_settings.merge_guards(settings.guards, fleet.guards),
    )
    return _held(layout._replace(settings=own, held=None), held)


def select(
    found: Sequence[Layout], wanted: Sequence[str], *, keep_refused: bool = False
) -> list[Layout]:
    """The layouts of the fleets `wanted` (all when empty), in the repository's order.

    Raises:
        RefusalError: `fleet_unknown`; a chosen fleet's `Layout.refused` (unless
            `keep_refused`: the loop makes it that fleet's refusal).
    """
    known = [layout.fleet.id for layout in found]
    for fleet in wanted:
        if fleet not in known:
            raise RefusalError(
                ReasonCode.FLEET_UNKNOWN,
                f"unknown fleet {fleet!r}; the fleets are: {', '.join(known)}",
            )
    chosen = [layout for layout in found if not wanted or layout.fleet.id in wanted]
    refused = next((layout.refused for layout in chosen if layout.refused is not None), None)
    if refused is not None and not keep_refused:
        raise refused
    return chosen


def fleet_folders(repo: str) -> tuple[list[str], list[str]]:
    """The fleet ids of `policies/fleets/`'s folders, and the problems of its other entries."""
    root = os.path.join(repo, *FLEETS_ROOT.split("/"))
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"{FLEETS_ROOT}/ cannot be listed: {exc.strerror or exc}"]
    found: list[str] = []
    problems: list[str] = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            if entry.is_symlink():
                problems.append(f"{FLEETS_ROOT}/{entry.name!r} is a symlink, not a fleet folder")
            continue  # a .gitkeep or a README beside the fleets
        if is_fleet_id(entry.name):
            found.append(entry.name)
        else:
            problems.append(f"{FLEETS_ROOT}/{entry.name!r} is not a fleet id ({FLEET_ID_RULE})")
    return found, problems


def _fleet_layout(
    repo: str, settings: RepoSettings, configured: FleetSettings | None, fleet_id: str, count: int
) -> Layout:
    """Fleet `fleet_id` of `count`; `configured`: its entry of `fleets:` (None: a folder only)."""
    fleet = configured or FleetSettings(fleet_id)
    folder = fleet.folder()
    relative = {
        key: fleet.paths.get(key, f"{folder}/{name}") for key, name in _DEFAULT_FILES.items()
    }
    if "registryFile" not in fleet.paths:
        json_registry = f"{folder}/registry.json"
        yaml_exists = files.exists(os.path.join(repo, *relative["registryFile"].split("/")))
        if files.exists(os.path.join(repo, *json_registry.split("/"))):
            if yaml_exists:
                raise RefusalError(
                    ReasonCode.LAYOUT_AMBIGUOUS,
                    f"both {folder}/registry.yaml and {folder}/registry.json exist; remove one "
                    f"or set fleets.{fleet.id}.registryFile in {SETTINGS_FILE}",
                    path=repo,
                )
            relative["registryFile"] = json_registry
    intents = fleet.intents_dir or f"{folder}/intents"
    absolute = {key: os.path.abspath(os.path.join(repo, path)) for key, path in relative.items()}
    source = "built-in" if configured is None else SETTINGS_FILE
    sources = {key: SETTINGS_FILE if key in fleet.paths else source for key in relative}
    own = settings._replace(
        paths=MappingProxyType(relative),
        strings=MappingProxyType({**settings.strings, "intentsDir": intents}),
        guards=fleet_settings.merge_guards(settings.guards, fleet.guards),
    )
    layout = Layout(
        repo,
        LAYOUT_NAME,
        f"fleet {fleet.id} of {count} ({FLEETS_ROOT}/ or fleets: in {SETTINGS_FILE})",
        Fleet(
            fleet.id,
            **{attribute: absolute[key] for attribute, key in SETTING_KEYS.items()},
            intents=os.path.abspath(os.path.join(repo, intents)),
        ),
        sources,
        own,
        fleet,
    )
    check_confined(layout, resolve=False)  # reconciler.yaml's paths: the repository's problem
    try:
        check_resolved(layout)
    except RefusalError as exc:  # a symlink in the fleet's folder: this fleet's problem
        return layout._replace(refused=exc)
    return layout


_PER_FLEET_FOLDERS = {
    "registry": "the crash journal (.reconciler-journal.json)",
    "state": "the key indexes (promotion-apply-index.json, promotion-apply-segments.json)",
}
"""Fleet file -> what its folder holds under a fixed name, for that fleet alone (two fleets
there would overwrite each other's: the indexes rewritten by every pass of either, one
fleet's crash recovery run for the other)."""


def _refuse_shared_files(repo: str, found: Sequence[Layout]) -> None:
    """Two fleets may not share a file or an intents folder (one would consume the other's).

    Nor the folder of their registries or of their state files (`_PER_FLEET_FOLDERS`), nor
    may a fleet's file or intents folder be inside another fleet's intents folder.
    """
    owners: dict[str, str] = {}
    problems: list[str] = []
    for layout in found:
        for path in (*layout.fleet.files_block().values(), layout.fleet.intents):
            other = owners.setdefault(os.path.normpath(path), layout.fleet.id)
            if other != layout.fleet.id:
                shown = os.path.relpath(path, repo)
                problems.append(f"fleets {other} and {layout.fleet.id} share {shown}")
    for what, kept in _PER_FLEET_FOLDERS.items():
        holders: dict[str, str] = {}
        for layout in found:
            folder = os.path.dirname(os.path.normpath(getattr(layout.fleet, what)))
            other = holders.setdefault(folder, layout.fleet.id)
            if other != layout.fleet.id:
                problems.append(
                    f"fleets {other} and {layout.fleet.id} keep their {what} file in one folder "
                    f"{os.path.relpath(folder, repo)}: it holds {kept} of one fleet"
                )
    intents = {os.path.normpath(layout.fleet.intents): layout.fleet.id for layout in found}
    for layout in found:
        problems += [
            f"fleet {layout.fleet.id}'s {os.path.relpath(path, repo)} is inside "
            f"fleet {owner}'s intents folder"
            for path in layout.fleet.files_block().values()
            for owner in _intents_holding(repo, path, intents)
        ]
    for layout in found:
        # An intents folder inside another's (its applied/, say) would take the other's
        # processed intents for pending ones of its own: applied twice.
        problems += [
            f"fleet {layout.fleet.id}'s intents folder "
            f"{os.path.relpath(layout.fleet.intents, repo)} is inside fleet "
            f"{owner}'s intents folder"
            for owner in _intents_holding(repo, layout.fleet.intents, intents)
        ]
    if problems:
        raise _invalid(repo, problems)


def _intents_holding(repo: str, path: str, intents: Mapping[str, str]) -> Iterator[str]:
    """The fleets whose intents folder (by normalised path) is a folder above `path`."""
    folder = os.path.dirname(os.path.normpath(path))
    below = repo.rstrip(os.sep) + os.sep
    while folder.startswith(below):
        if folder in intents:
            yield intents[folder]
        folder = os.path.dirname(folder)


def _invalid(repo: str, problems: Sequence[str]) -> RefusalError:
    return RefusalError(
        ReasonCode.FLEETS_INVALID,
        f"invalid fleets in {os.path.join(repo, SETTINGS_FILE)}",
        details=list(problems),
    )
