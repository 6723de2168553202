"""The status page's document: every fleet's status, the last history entries, the audit.

Built once per successful pass by the controller (daemon/runner.py) and by `reconcile status
--html`; `/api/status` serves it as JSON and render/status_page.py turns it into HTML.
`fleets` holds one entry per fleet of the repository, upstream first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.core.errors import RefusalError
from reconciler.core.outcome_rows import final_rows
from reconciler.core.timestamps import format_timestamp
from reconciler.reports import history
from reconciler.reports.status import repo_status

HISTORY_SHOWN = 50
"""The most history entries the page shows, newest first."""


def page_document(
    repo: str,
    *,
    now: Callable[[], datetime],
    controller: Mapping[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
    fleets: Sequence[str] = (),
    report: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the page's data (the shape `/api/status` serves).

    `controller` is the controller's own state (None for `status --html`: no controller);
    `audit` the audit's summary when the caller just ran it (`status.audit_summary`);
    `fleets` the fleets shown (default: all); `report` the `repo_status` report when the
    caller already has it (the controller: its gauges read the same).

    Raises:
        RefusalError: as `repo_status` and `read_history`.
    """
    if report is None:
        report = repo_status(repo, now=now, audit=audit, fleets=fleets)
    warnings = list(report["warnings"])
    if "fleets" in report:
        shown = [fleet_json(fleet, fleet["fleet"]) for fleet in report["fleets"]]
        try:
            entries = history.read_history(repo, history.HistoryQuery(limit=HISTORY_SHOWN))
        except RefusalError as exc:  # the fleets are still worth showing
            entries = []
            warnings.append(f"the history could not be read: {exc.message}")
        # `fleet` comes from the commit's Fleet: trailer (reports/history.py), when read.
        rows = [dict(history.entry_json(entry)) for entry in entries]
        for row in rows:
            row["fleet"] = row.get("fleet")
    else:
        shown = [fleet_json(report)]
        entries = history.read_history(repo, history.HistoryQuery(limit=HISTORY_SHOWN))
        rows = [dict(history.entry_json(entry), fleet=shown[0]["fleetId"]) for entry in entries]
    return {
        "generatedAt": format_timestamp(now()),
        "repo": report["repo"],
        "head": report["head"],
        "fleets": shown,
        "history": rows,
        "audit": report["audit"],
        "warnings": warnings,
        "controller": dict(controller) if controller is not None else None,
    }


def fleet_json(report: Mapping[str, Any], fleet: str | None = None) -> dict[str, Any]:
    """One fleet of the page from a `repo_status` report (one fleet's, of several: `fleet`).

    A fleet whose state could not be read has only its id, `state` "unknown" and `problem`.
    """
    problem = report.get("problem")
    if problem is not None:
        return {
            "fleetId": fleet,
            "canaryPercent": None,
            "manualPause": None,
            "state": "unknown",
            "mode": None,
            "decision": None,
            "governance": None,
            "guards": None,
            "pending": [],
            "pendingFiles": 0,
            "deferred": [],
            "problem": problem,
        }
    posture = report["posture"]
    governance = dict(report["governance"])
    # The rule `status` warns by (`reviewDue`), not the rounded days: 6.99 days is due.
    governance["warning"] = governance.get("reviewDue") is not False
    return {
        "fleetId": posture["fleetId"] if fleet is None else fleet,
        "canaryPercent": posture["canaryPercent"],
        "manualPause": posture["manualPause"],
        "state": "paused" if posture["manualPause"] else "running",
        "mode": posture["mode"],
        "decision": report["decision"],
        "governance": governance,
        "guards": report["guards"],
        "pending": report["pending"],
        "pendingFiles": len(final_rows(report["pending"])),
        "deferred": report["deferred"],
        "problem": None,
    }
