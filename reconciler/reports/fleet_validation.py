"""`reconcile validate` in a repository with several fleets: one report per fleet.

Each fleet gets the single-fleet sections (reports/validation_checks.py `check_fleet`) with its id,
its registry's fleetId checked against its folder (`fleet_id_mismatch`), its upstream
requirement (`after`, `minCanary`, `soak`) and the guards it overrides. A `fleets:` block
that cannot be resolved (`fleets_invalid`) is a failed `settings` section listing every
problem, not a refusal, so `--json` reports it too. Called by reports/validation.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from reconciler.core import upstream
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_duration
from reconciler.inputs import fleet_layouts, layouts
from reconciler.inputs.fleet import PathFlags
from reconciler.inputs.layouts import Layout
from reconciler.reports import validation_checks as validation


def is_multi_fleet(repo: str) -> bool:
    """Whether `repo` holds several fleets (`fleets:` in reconciler.yaml or policies/fleets/).

    Raises:
        RefusalError: reconciler.yaml is invalid.
    """
    return fleet_layouts.is_multi_fleet(repo, layouts.load_repo_settings(repo))


def validate_fleets(
    repo: str, paths: PathFlags, wanted: Sequence[str], *, now: Callable[[], datetime]
) -> dict[str, Any]:
    """The report of every fleet (or those `wanted`), upstream first.

    Raises:
        RefusalError: path flags given (`fleets_invalid`: each fleet's files are set in
            reconciler.yaml), `fleet_unknown`, a path outside the repository.
    """
    layouts.refuse_path_flags(paths)
    layout_block = {"name": fleet_layouts.LAYOUT_NAME, "repo": repo}
    try:
        found = layouts.resolve_layouts(repo, wanted)
    except RefusalError as exc:
        if exc.reason is not ReasonCode.FLEETS_INVALID:
            raise
        return {
            "ok": False,
            "layout": {**layout_block, "reason": "several fleets; their settings are invalid"},
            "settings": validation.failure(exc),
            "fleets": [],
            "warnings": [],
        }
    moment = now()
    reports = [_fleet_report(layout, moment) for layout in found]
    ids = ", ".join(layout.fleet.id for layout in found)
    every = len(layouts.resolve_layouts(repo, (), keep_refused=True)) if wanted else len(found)
    shown = f": {ids}" if every == len(found) else f"; --fleet shows {ids}"
    settings = {"ok": True, "summary": f"ok ({every} fleet(s){shown})", "problems": []}
    held = [layout.held for layout in found if layout.held is not None]
    if held:
        settings = validation.failure(
            RefusalError(
                ReasonCode.FLEETS_INVALID,
                f"invalid fleets in {os.path.join(repo, layouts.SETTINGS_FILE)} (the expand "
                f"and resume of fleet(s) {', '.join(_held_ids(found))} wait; rollbacks apply)",
                details=list(dict.fromkeys(line for error in held for line in error.details)),
            )
        )
    trust = validation.trust_report(found[0])  # reconciler.yaml's: one for every fleet
    return {
        "ok": settings["ok"] and trust["ok"] and all(report["ok"] for report in reports),
        "layout": {
            **layout_block,
            "reason": f"several fleets, in promotion order{shown}",
            "fleets": [layout.fleet.id for layout in found],
        },
        "settings": settings,
        "trust": trust,
        "fleets": reports,
        "warnings": [],
    }


def _fleet_report(layout: Layout, moment: datetime) -> dict[str, Any]:
    warnings: list[str] = []
    sections = validation.check_fleet(layout, moment, warnings)
    sections["registry"] = _check_fleet_id(layout, sections["registry"])
    sections["upstream"] = _upstream_report(layout)
    overrides = _overrides(layout)
    sections["guards"] = {**sections["guards"], "overrides": overrides}
    if overrides and sections["guards"]["ok"]:
        summary = f"{sections['guards']['summary']}; fleet overrides: {', '.join(overrides)}"
        sections["guards"]["summary"] = summary
    return {
        "fleet": layout.fleet.id,
        "ok": all(part["ok"] for part in sections.values()),
        "layout": validation.layout_json(layout),
        **sections,
        "warnings": warnings,
    }


def _check_fleet_id(layout: Layout, report: dict[str, Any]) -> dict[str, Any]:
    """The registry section, failed when its fleetId is not the fleet's folder name."""
    if not report["ok"] or report["fleetId"] == layout.fleet.id:
        return report
    problem = (
        f"the registry's fleetId {report['fleetId']!r} is not the fleet's id {layout.fleet.id!r}"
        f" (its folder or fleets: key); expand and resume are refused until they agree"
    )
    return {
        **report,
        "ok": False,
        "reasonCode": str(ReasonCode.FLEET_ID_MISMATCH),
        "summary": f"fleetId mismatch: {layout.fleet.registry}",
        "problems": [problem],
    }


def _held_ids(found: Sequence[Layout]) -> list[str]:
    return [layout.fleet.id for layout in found if layout.held is not None]


def _upstream_report(layout: Layout) -> dict[str, Any]:
    """The promotion order: the fleet this one waits for, and what it requires of it."""
    if layout.held is not None:
        return {
            "ok": False,
            "reasonCode": str(ReasonCode.FLEETS_INVALID),
            "summary": f"invalid: {layout.held.message}",
            "after": None,
            "minCanary": None,
            "soak": None,
            "problems": list(layout.held.details),
        }
    settings = layout.fleet_settings
    requirement = None
    if settings is not None:
        # Checked when the fleets were resolved (fleets_invalid): no problem is left here.
        requirement, _ = upstream.parse_requires(settings.after, settings.requires)
    if requirement is None:
        return {
            "ok": True,
            "summary": "none (first in the promotion order)",
            "after": None,
            "minCanary": None,
            "soak": None,
            "problems": [],
        }
    soak = format_duration(requirement.soak)
    return {
        "ok": True,
        "summary": f"after {requirement.upstream} (minCanary {requirement.min_canary}%, "
        f"soak {soak})",
        "after": requirement.upstream,
        "minCanary": requirement.min_canary,
        "soak": soak,
        "problems": [],
    }


def _overrides(layout: Layout) -> list[str]:
    """The `guards:` keys the fleet sets for itself (fleets.<id>.guards)."""
    guards = layout.fleet_settings.guards if layout.fleet_settings is not None else None
    return sorted(str(key) for key in guards) if isinstance(guards, dict) else []
