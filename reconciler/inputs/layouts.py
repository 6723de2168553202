"""Layout resolution: which fleet (registry, decision, state, telemetry, intents) a command uses.

One function for every command: explicit flags, then `<repo>/reconciler.yaml`, then the
built-in layout (the bash tool's `.superloop/ops-manager/fleet/` when only it exists,
otherwise `policies/`). `reconcile validate` prints the result and the reason.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from reconciler.adapters import files
from reconciler.core import repo_settings
from reconciler.core.errors import DocumentError, RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.repo_settings import RepoSettings
from reconciler.inputs import fleet_layouts
from reconciler.inputs.confinement import FLAG_NAMES as FLAG_NAMES
from reconciler.inputs.confinement import SETTINGS_FILE as SETTINGS_FILE
from reconciler.inputs.confinement import Layout as Layout
from reconciler.inputs.confinement import check_confined as check_confined
from reconciler.inputs.confinement import managed_paths as managed_paths
from reconciler.inputs.fleet import DEFAULT_FLEET_ID, SETTING_KEYS, Fleet, PathFlags

DEFAULT_LOCK_TIMEOUT = "30s"
SETTINGS_LIMIT = 64 * 1024
SUPERLOOP_DIR = os.path.join(".superloop", "ops-manager", "fleet")
SUPERLOOP_PATHS = {
    "registryFile": os.path.join(SUPERLOOP_DIR, "registry.v1.json"),
    "promotionStateFile": os.path.join(SUPERLOOP_DIR, "promotion-state.json"),
    "applyStateFile": os.path.join(SUPERLOOP_DIR, "promotion-apply-state.json"),
    "applyTelemetryFile": os.path.join(SUPERLOOP_DIR, "telemetry", "promotion-apply.jsonl"),
}
POLICIES_PATHS = {
    "registryFile": os.path.join("policies", "registry.yaml"),
    "promotionStateFile": os.path.join("policies", "promotion", "decision.json"),
    "applyStateFile": os.path.join("policies", "state", "promotion-apply-state.json"),
    "applyTelemetryFile": os.path.join("policies", "telemetry", "promotion-apply.jsonl"),
}


def resolve_repo(repo: str | None) -> str:
    """Return the absolute (logical, symlinks kept) repository path.

    Raises:
        RefusalError: no repo given, or it is not a folder.
    """
    if not repo:
        raise RefusalError(ReasonCode.REPO_REQUIRED, "--repo is required")
    absolute = os.path.abspath(repo)
    if not files.is_dir(absolute):
        raise RefusalError(ReasonCode.REPO_NOT_FOUND, f"repo not found: {absolute}", path=absolute)
    return absolute


def load_repo_settings(repo: str) -> RepoSettings:
    """Read `<repo>/reconciler.yaml`, or the empty settings when there is none.

    Raises:
        RefusalError: the file is unreadable, not YAML, or has invalid settings.
    """
    path = os.path.join(repo, SETTINGS_FILE)
    data = files.read_bounded(path, SETTINGS_LIMIT, what="settings file", follow_symlinks=True)
    if data is None:
        return RepoSettings()
    from reconciler.core import yamltext  # only when the file exists: YAML costs start-up

    try:
        doc = yamltext.load_yaml(files.decode_utf8(data, path, what="settings file"))
    except DocumentError as exc:
        raise RefusalError(
            ReasonCode.SETTINGS_INVALID, f"invalid settings file: {path}", details=[exc.message]
        ) from exc
    return repo_settings.parse_repo_settings(doc, path)


def resolve_layouts(
    repo: str, wanted: Sequence[str] = (), *, keep_refused: bool = False
) -> list[Layout]:
    """Every fleet of the repository (or those `wanted`), upstream first.

    A single-fleet repository has one; `--fleet` there is refused (`fleet_unknown`). A fleet
    of several whose folder resolves outside the repository is refused, unless
    `keep_refused` (the loop): then its `Layout.refused` says why.

    Raises:
        RefusalError: as `resolve_layout`, plus `fleets_invalid` and `fleet_unknown`.
    """
    settings = load_repo_settings(repo)
    if fleet_layouts.is_multi_fleet(repo, settings):
        found = fleet_layouts.fleet_layouts(repo, settings)
        return fleet_layouts.select(found, wanted, keep_refused=keep_refused)
    if wanted:
        raise _single_fleet(wanted[0])
    return [resolve_layout(repo)]


def resolve_layout(
    repo: str, flags: PathFlags | None = None, *, fleet: str | None = None, command: str = ""
) -> Layout:
    """Resolve every path: flags (relative to the cwd) beat reconciler.yaml beat built-ins.

    In a repository with several fleets, `fleet` chooses one (required: `command` names the
    command in the refusal); in a single-fleet one it must be None.

    Raises:
        RefusalError: invalid reconciler.yaml, or both policies/registry.yaml and .json exist
            with no explicit choice; `fleet_required`, `fleet_unknown`, `fleets_invalid`.
    """
    flags = flags or PathFlags()
    settings = load_repo_settings(repo)
    if fleet_layouts.is_multi_fleet(repo, settings):
        found = fleet_layouts.fleet_layouts(repo, settings)
        if fleet is None:
            names = [layout.fleet.id for layout in found]
            ids = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            raise RefusalError(
                ReasonCode.FLEET_REQUIRED,
                f"{command or 'this command'} works on one fleet; pass --fleet (one of: {ids})",
            )
        chosen = fleet_layouts.select(found, [fleet])[0]
        refuse_path_flags(flags)
        return chosen
    if fleet is not None:
        raise _single_fleet(fleet)
    name, reason, builtin = _builtin_layout(repo)
    paths: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in repo_settings.PATH_KEYS:
        flag = flags.get(key)
        if flag:
            paths[key], sources[key] = os.path.abspath(flag), "flag"
        elif key in settings.paths:
            paths[key] = os.path.abspath(os.path.join(repo, settings.paths[key]))
            sources[key] = SETTINGS_FILE
        else:
            paths[key], sources[key] = os.path.join(repo, builtin[key]), "built-in"
    if sources["registryFile"] == "built-in" and name == "policies":
        paths["registryFile"] = _policies_registry(repo)
    single = Fleet(
        DEFAULT_FLEET_ID,
        **{attribute: paths[key] for attribute, key in SETTING_KEYS.items()},
        intents=_intents_folder(repo, name, settings),
    )
    layout = Layout(repo, name, reason, single, sources, settings)
    check_confined(layout)
    return layout


def refuse_path_flags(flags: PathFlags) -> None:
    """Refuse path flags in a repository with several fleets.

    Raises:
        RefusalError: a path flag is given (`fleets_invalid`: each fleet's files are set in
            reconciler.yaml).
    """
    given = [FLAG_NAMES[key] for key in SETTING_KEYS.values() if flags.get(key)]
    if given:
        raise RefusalError(
            ReasonCode.FLEETS_INVALID,
            f"path flags ({', '.join(given)}) cannot be used in a repository with several "
            f"fleets: each fleet's files are set in {SETTINGS_FILE}",
        )


def _single_fleet(fleet: str) -> RefusalError:
    return RefusalError(
        ReasonCode.FLEET_UNKNOWN,
        f"unknown fleet {fleet!r}: this repository holds one fleet (no policies/fleets/ and no "
        f"fleets: in {SETTINGS_FILE}); drop --fleet",
    )


def _intents_folder(repo: str, name: str, settings: RepoSettings) -> str:
    """The absolute intents folder: `intentsDir`, else beside the built-in registry."""
    configured = settings.strings.get("intentsDir")
    if configured:
        return os.path.abspath(os.path.join(repo, configured))
    if name == "superloop":
        return os.path.join(repo, SUPERLOOP_DIR, "intents")
    return os.path.join(repo, "policies", "intents")


def _builtin_layout(repo: str) -> tuple[str, str, dict[str, str]]:
    superloop = files.exists(os.path.join(repo, SUPERLOOP_PATHS["registryFile"]))
    policies = any(
        files.exists(os.path.join(repo, "policies", name))
        for name in ("registry.yaml", "registry.json")
    )
    if not superloop and not policies and files.is_dir(os.path.join(repo, SUPERLOOP_DIR)):
        # No registry anywhere, but the bash tool's folder exists: its files are the ones
        # meant, so its layout gives the messages its runbooks expect (registry not found).
        reason = f"no registry found; {SUPERLOOP_DIR}/ exists (the bash tool's layout)"
        return "superloop", reason, SUPERLOOP_PATHS
    if superloop and not policies:
        reason = (
            f"{SUPERLOOP_PATHS['registryFile']} exists and policies/registry.yaml|json does not "
            "(the bash tool's layout)"
        )
        return "superloop", reason, SUPERLOOP_PATHS
    if policies:
        return "policies", "policies/registry.yaml|json exists (the default layout)", POLICIES_PATHS
    return "policies", "no registry found yet; using the default policies/ layout", POLICIES_PATHS


def _policies_registry(repo: str) -> str:
    yaml_path = os.path.join(repo, "policies", "registry.yaml")
    json_path = os.path.join(repo, "policies", "registry.json")
    if files.exists(json_path) and files.exists(yaml_path):
        raise RefusalError(
            ReasonCode.LAYOUT_AMBIGUOUS,
            "both policies/registry.yaml and policies/registry.json exist; remove one or set "
            f"registryFile in {SETTINGS_FILE}",
            path=repo,
        )
    return json_path if files.exists(json_path) else yaml_path
