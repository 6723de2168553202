"""`reconcile --once`: run one pass, print a table (or JSON lines), exit 0, 3, 1 or 75.

With several fleets, a fleet whose pass was refused (its registry invalid, say) is reported
on stderr after the others' outcomes, and the exit code is 1 (the others' commits stand).
"""

from __future__ import annotations

import sys
from typing import Any

from reconciler.commands.edge import EXIT_REFUSED, EXIT_REJECTED, handle_errors


@handle_errors
def run_once_command(flags: dict[str, Any]) -> None:
    """Run `reconcile --once` with the group's flags and exit with the pass's code."""
    from reconciler.adapters.clock import system_clock
    from reconciler.loop.once import OnceOptions, run_once
    from reconciler.render import json_output, tables, text
    from reconciler.reports.auditing import auditor

    options = OnceOptions(
        repo=flags["repo"],
        push=flags["push"],
        remote=flags["remote"],
        branch=flags["branch"],
        dry_run=flags["dry_run"],
        max_intents=flags["max_intents"],
        lock_timeout=flags["lock_timeout"],
        audit=auditor(flags["repo"]),
        fleets=tuple(flags.get("fleet") or ()),
    )
    report = run_once(options, now=system_clock)
    if flags["as_json"]:
        sys.stdout.write(json_output.pass_lines(report))
    else:
        sys.stdout.write(text.pass_text(report, color=tables.wants_color(sys.stdout)))
    if report.refusals:
        from reconciler.render.diagnostics import fleet_refusals_text

        sys.stderr.write(fleet_refusals_text(report.refusals))
        sys.exit(EXIT_REFUSED)
    if report.rejected:
        sys.exit(EXIT_REJECTED)
