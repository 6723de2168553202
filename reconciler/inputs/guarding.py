"""The progression guards of a repository (inputs layer): `guards:` settings and freeze file.

Every path (`apply`, the loop, `plan`, `status`, `dispatch`, `validate`) reads them here, so
they are computed the same way everywhere. A problem with either never raises: it is carried
in `PassGuards.problem`, which holds expand and resume and lets a rollback through.
"""

from __future__ import annotations

import os
from typing import Literal

from reconciler.adapters import files
from reconciler.core import freeze_parsing, guard_settings
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Calendar
from reconciler.core.guard_settings import GuardSettings, PassGuards
from reconciler.core.guards import check_step
from reconciler.core.reasons import ReasonCode
from reconciler.core.upstream import UpstreamGate
from reconciler.inputs import upstreams
from reconciler.inputs.layouts import SETTINGS_FILE, Layout
from reconciler.inputs.upstreams import AppliedRecords

FREEZE_LIMIT = 256 * 1024


def layout_defaults(layout: Layout) -> GuardSettings:
    """The guards of a layout before `guards:`: the bash tool's layout has every one off."""
    return guard_settings.OFF if layout.name == "superloop" else guard_settings.POLICIES_DEFAULTS


def load_guard_settings(layout: Layout) -> tuple[GuardSettings, RefusalError | None]:
    """The layout's guard settings, or its defaults and why the `guards:` block is invalid."""
    settings, problems = guard_settings.parse_guards(
        layout.settings.guards, layout_defaults(layout)
    )
    if not problems and settings.freeze_file is not None:
        problems = _owned_freeze_file(layout, settings.freeze_file)
    if not problems:
        return settings, None
    return settings, RefusalError(
        ReasonCode.GUARD_SETTINGS_INVALID,
        f"invalid guards settings in {os.path.join(layout.repo, SETTINGS_FILE)}",
        details=problems,
    )


def _owned_freeze_file(layout: Layout, relative: str) -> list[str]:
    """Refuse a freeze file the reconciler writes or consumes (it would vanish or be edited).

    In the intents folder it would be taken for an intent and moved to rejected/: the freeze
    would silently end. A registry, decision, state, telemetry or settings file is not one.
    """
    path = os.path.normpath(os.path.join(layout.repo, *relative.split("/")))
    owned = {os.path.normpath(p) for p in layout.fleet.files_block().values()}
    owned.add(os.path.normpath(os.path.join(layout.repo, SETTINGS_FILE)))
    intents = os.path.normpath(layout.fleet.intents)
    if path in owned or path.startswith(intents + os.sep):
        return [
            f"guards.freezeFile {relative} is a file the reconciler owns or a file in the "
            "intents folder (it would be read as an intent); use a path of its own, such "
            f"as {guard_settings.DEFAULT_FREEZE_FILE}"
        ]
    return []


def freeze_path(root: str, relative: str) -> str:
    """The freeze file `relative` (slash-separated, as settings give it) below `root`."""
    return os.path.join(root, *relative.split("/"))


def read_freeze_text(root: str, relative: str) -> str | None:
    """The text of the freeze file `relative` below `root`; None when there is none.

    Raises:
        RefusalError: `freeze_file_invalid`: a symlink on its path, unreadable, too large or
            not UTF-8.
    """
    path = freeze_path(root, relative)
    linked = files.symlinked_component(root, relative)
    if linked is not None:
        raise _invalid(
            path, f"{linked} is a symlink; the freeze file must be a file in the repository"
        )
    try:
        data = files.read_bounded(path, FREEZE_LIMIT, what="freeze file")
        return None if data is None else files.decode_utf8(data, path, what="freeze file")
    except RefusalError as exc:
        raise _invalid(path, exc.message) from exc


def load_calendar(root: str, relative: str) -> Calendar:
    """Read the freeze file `relative` below `root`; a missing file has no windows.

    `.json` is read as JSON (the bash controller's file), anything else as YAML.

    Raises:
        RefusalError: `freeze_file_invalid`: a symlink on its path, unreadable, too large,
            not parseable, or invalid windows.
    """
    text = read_freeze_text(root, relative)
    if text is None:
        return Calendar()
    path = freeze_path(root, relative)
    return freeze_parsing.read_calendar(text, freeze_format(path), path)


def freeze_format(path: str) -> Literal["yaml", "json"]:
    """`json` for a `.json` freeze file (the bash controller's), `yaml` for anything else."""
    return "json" if path.lower().endswith(".json") else "yaml"


def load_guards(
    layout: Layout,
    freeze_at: tuple[str, str] | None = None,
    *,
    records: AppliedRecords | None,
    upstream: UpstreamGate | None = None,
) -> PassGuards | None:
    """The guards of a pass: settings, the calendar, or why they cannot be trusted.

    `freeze_at` is where the freeze file is read, as (root folder, relative path): `plan`
    reads it from the merged tree; default the repository's own file. `records` reads an
    upstream fleet's applied records (`telemetry.ledger.applied_records`; the inputs layer
    cannot import the telemetry): with it the fleet's upstream gate (`after:`/`requires:`)
    is built, read only when an expand or resume is assessed. `upstream` overrides that gate
    (tests). None when no guard is on, there is no freeze file to read (the `.superloop/`
    layout's defaults) and no upstream.
    """
    if layout.held is not None:  # its `fleets:` entry: expand and resume wait, rollback not
        return PassGuards(load_guard_settings(layout)[0], Calendar(), layout.held)
    if upstream is None:
        upstream = upstreams.upstream_gate(layout, records)
    settings, problem = load_guard_settings(layout)
    if problem is not None:
        return PassGuards(settings, Calendar(), problem, upstream)
    calendar = Calendar()
    if settings.freeze_file is not None:
        try:
            root, relative = freeze_at or (layout.repo, settings.freeze_file)
            calendar = load_calendar(root, relative)
        except RefusalError as exc:
            return PassGuards(settings, Calendar(), exc, upstream)
    if not settings.is_active and not calendar.windows and upstream is None:
        return None
    return PassGuards(settings, calendar, upstream=upstream)


def step_refusal(layout: Layout, intent: str, step: int) -> RefusalError | None:
    """Why the pass would reject this expand for good (`intent_expand_step_over_limit`).

    The pass's own rule (`rules.check_expand_step`): only while the guards can be read (with
    a problem they defer it instead). For `intent new` and `validate --intents`, before a pull
    request carries a file no pass could ever apply.
    """
    if intent != "expand":  # only an expand has a step: nothing to read for the others
        return None
    found = load_guards(layout, records=None)
    if found is None or found.problem is not None:
        return None
    try:
        check_step(found.settings, intent, step)
    except RefusalError as exc:
        return exc
    return None


def _invalid(path: str, detail: str) -> RefusalError:
    return RefusalError(
        ReasonCode.FREEZE_FILE_INVALID,
        f"invalid freeze file: {path}",
        details=[detail],
        path=path,
    )
