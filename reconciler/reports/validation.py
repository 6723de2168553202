"""`reconcile validate`: check a repository's registry, decision and telemetry, change nothing.

Reports every problem at once with the same messages `apply` uses, plus which layout was
resolved and why.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reconciler.inputs import layouts
from reconciler.inputs.fleet import PathFlags
from reconciler.reports import fleet_validation
from reconciler.reports.validation_checks import check_fleet, layout_json, trust_report

if TYPE_CHECKING:
    from reconciler.core.intents import Intent, Problem
    from reconciler.inputs.layouts import Layout


def validate_repo(
    repo: str | None,
    paths: PathFlags,
    *,
    now: Callable[[], datetime],
    fleets: Sequence[str] = (),
) -> dict[str, Any]:
    """Return the validation report of a repository (see docs/artifacts.md for its shape).

    A repository with several fleets gets one report per fleet (`fleet_validation`), of
    every fleet or those `fleets` names.

    Raises:
        RefusalError: the repository or its reconciler.yaml cannot be resolved at all;
            `fleet_unknown` (a `--fleet` the repository does not have).
    """
    repo = layouts.resolve_repo(repo)
    if fleet_validation.is_multi_fleet(repo):
        return fleet_validation.validate_fleets(repo, paths, fleets, now=now)
    # One fleet: any --fleet is refused (fleet_unknown).
    layout = layouts.resolve_layout(repo, paths, fleet=fleets[0] if fleets else None)
    warnings: list[str] = []
    reports = {**check_fleet(layout, now(), warnings), "trust": trust_report(layout)}
    return {
        "ok": all(part["ok"] for part in reports.values()),
        "layout": layout_json(layout),
        **reports,
        "warnings": warnings,
    }


def validate_intent_files(
    paths: Sequence[str], *, now: datetime, repo: str | None = None
) -> list[dict[str, Any]]:
    """Check intent files exactly as the loop reads and parses them; one result per file.

    A file in a fleet's intents folder (of `repo`) is also judged as that fleet's pass
    judges it: with several fleets its `fleet:` against the folder's fleet
    (`intent_fleet_mismatch`), and an expand against the fleet's `maxExpandStep`
    (`intent_expand_step_over_limit`).
    """
    from reconciler.core.intents import IntentRejected, decode_intent
    from reconciler.loop.queue import PendingFile, read_source

    folders, unresolved = _fleet_folders(repo)
    results = []
    for path in paths:
        source = read_source(PendingFile(path, os.path.abspath(path)), None)
        problems = [source.problem] if source.problem else []
        notes: tuple[Problem, ...] = ()
        if not problems and source.data is not None:
            try:
                intent = decode_intent(source.data, source.name, now)
                notes = intent.notes
                layout = folders.get(os.path.realpath(os.path.dirname(os.path.abspath(path))))
                problems = _fleet_problems(intent, layout)
            except IntentRejected as exc:
                problems = list(exc.problems)
        refused = unresolved(path)
        problems += [refused] if refused is not None else []
        found = problems or list(notes)  # a rollback's notes: ok, applied despite them
        results.append(
            {
                "path": path,
                "ok": not problems,
                "reasonCodes": sorted({str(problem.reason) for problem in found}),
                "problems": [problem.message for problem in found],
            }
        )
    return results


def _fleet_problems(intent: Intent, layout: Layout | None) -> list[Problem]:
    """What the pass of the fleet whose intents folder holds the file rejects it for.

    Its `fleet:` naming another fleet (several fleets), an expand above the fleet's
    `maxExpandStep` (`guarding.step_refusal`). None outside a fleet's intents folder.
    """
    from reconciler.core.intents import Problem
    from reconciler.core.passes import fleet_mismatch
    from reconciler.loop import intent_files

    if layout is None:
        return []
    found = fleet_mismatch(intent, layout.fleet.id) if layout.is_multi_fleet else None
    if found is not None:
        return [found]
    over = intent_files.step_problem(layout, intent)
    return [Problem(over.reason, over.message)] if over is not None else []


def _fleet_folders(
    repo: str | None,
) -> tuple[dict[str, Layout], Callable[[str], Problem | None]]:
    """{intents folder: its fleet's layout} of `repo`, and a check.

    Empty outside a repository (a file is judged on its own). The check returns the problem
    of a file inside a repository of several fleets that cannot be resolved (the pass
    refuses every fleet, `fleets_invalid` say: the file's fleet cannot be checked, so it is
    not passed), else None.
    """
    from reconciler.core.errors import ReconcileError
    from reconciler.core.intents import Problem

    def none(_path: str) -> Problem | None:
        return None

    try:
        root = layouts.resolve_repo(repo)
        if not fleet_validation.is_multi_fleet(root):
            single = layouts.resolve_layout(root)
            return {os.path.realpath(single.fleet.intents): single}, none
    except ReconcileError:
        return {}, none
    try:
        found = layouts.resolve_layouts(root, (), keep_refused=True)
    except ReconcileError as exc:
        top = os.path.realpath(root)
        problem = Problem(
            exc.reason,
            f"its fleet cannot be checked: the repository's fleets are refused ({exc}; "
            "`reconcile validate` lists why), so the pass would take none of its intents",
        )
        return {}, lambda path: problem if _inside(os.path.realpath(path), top) else None
    # Compared where they really are: a file or --repo may be named through a symlink.
    return {os.path.realpath(layout.fleet.intents): layout for layout in found}, none


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)
