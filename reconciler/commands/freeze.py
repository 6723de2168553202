"""`reconcile freeze`: add freeze windows (what an operator opens a pull request with)."""

from __future__ import annotations

import shlex
import sys

import click

from reconciler.commands.edge import handle_errors


@click.group("freeze")
def freeze_group() -> None:
    """Manage freeze windows (policies/freeze.yaml): when the rollout may not progress."""


@freeze_group.command("new")
@click.option("--name", required=True, metavar="NAME", help="The window's name (unique).")
@click.option("--reason", required=True, metavar="TEXT", help="Why; shown in every deferral.")
@click.option("--start", metavar="TIME", help="Absolute window: RFC 3339, or from now (2d).")
@click.option("--end", metavar="TIME", help="Absolute window: its end (after --start).")
@click.option("--cron", metavar="EXPR", help="Recurring window: 5-field cron of its starts.")
@click.option("--duration", metavar="DURATION", help="Recurring window: how long, e.g. 62h.")
@click.option("--timezone", metavar="ZONE", help="Recurring window: IANA zone (default UTC).")
@click.option(
    "--kind",
    type=click.Choice(["deny", "allow"]),
    default="deny",
    show_default=True,
    help="deny: no progression while active; allow: progression only while one is active.",
)
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@click.option(
    "--fleet",
    metavar="ID",
    help="The fleet whose freeze file gets the window (several fleets; not needed when they "
    "all share one).",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"path": ..., "window": {...}}.')
@handle_errors
def new_command(
    name: str,
    reason: str,
    start: str | None,
    end: str | None,
    cron: str | None,
    duration: str | None,
    timezone: str | None,
    kind: str,
    repo: str,
    fleet: str | None,
    as_json: bool,
) -> None:
    """Add a checked window to the freeze file (guards.freezeFile); print its path.

    The window is checked as every pass reads it (cron, time zone, start before end) and
    spliced after the existing ones, so the file's comments and order survive. Exit 1 with
    `freeze_file_invalid` and one line per problem when it would not be read. With several
    fleets, --fleet chooses the fleet's freeze file (fleets.<id>.guards.freezeFile); without
    it the window goes to the file every fleet shares, and fleet_required when they differ.

    \b
    Examples:
      reconcile freeze new --name year-end --start 2026-12-20T00:00:00Z \\
        --end 2027-01-04T00:00:00Z --reason "Year-end change freeze (CAB-900)"
      reconcile freeze new --name weekends --cron "0 18 * * FRI" --duration 62h \\
        --timezone Europe/Berlin --reason "No rollouts over the weekend"
      reconcile freeze new --name business-hours --kind allow --cron "0 8 * * MON-FRI" \\
        --duration 10h --timezone America/New_York --reason "People at work"
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    from reconciler.adapters.clock import system_clock
    from reconciler.core import freeze_writing
    from reconciler.render import json_output
    from reconciler.setup import freeze_windows

    entry, _ = freeze_writing.new_window(
        name=name, reason=reason, kind=kind, start=start, end=end, cron=cron,
        duration=duration, timezone=timezone, now=system_clock(),
    )  # fmt: skip
    written = freeze_windows.add_freeze_window(repo, entry, fleet)
    if as_json:
        sys.stdout.write(json_output.document({"path": written.path, "window": entry}))
    else:
        sys.stdout.write(written.path + "\n")
    holds = f" (holds fleets {', '.join(written.fleets)})" if written.fleets else ""
    sys.stderr.write(
        f"added {freeze_writing.window_text(written.window)}{holds}\n"
        f"next: git add {shlex.quote(written.path)} && git commit, open a pull request\n"
    )
