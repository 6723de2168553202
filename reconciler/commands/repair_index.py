"""`reconcile repair-index`: rebuild the telemetry key indexes from the records."""

from __future__ import annotations

import sys

import click

from reconciler.commands.edge import handle_errors


@click.command("repair-index")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@click.option(
    "--no-commit", is_flag=True, help="Only write the files (default: commit them in git)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--lock-timeout", metavar="DURATION", help="Wait this long for the lock (30s).")
@click.option(
    "--fleet", metavar="ID", help="Only this fleet's indexes (several fleets; default: every one)."
)
@handle_errors
def repair_index_command(
    repo: str, no_commit: bool, as_json: bool, lock_timeout: str | None, fleet: str | None
) -> None:
    """Rebuild promotion-apply-index.json and promotion-apply-segments.json.

    Reads every telemetry segment and the active file, rebuilds both key indexes, and
    writes them when they differ (in a git checkout: one commit by the bot identity).
    Telemetry that lost records an index covers (truncated, a segment deleted or changed)
    is telemetry_corrupt until this runs: check the git history first (restore what was
    lost), then run it on purpose to accept the files as they are. Nothing changes when
    the indexes agree with the records. With several fleets it rebuilds every fleet's
    indexes (or --fleet's only) under one lock, in one commit.

    \b
    Examples:
      reconcile repair-index
      reconcile repair-index --no-commit --json
      reconcile repair-index --fleet prod-eu
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    from reconciler.adapters.clock import system_clock
    from reconciler.loop.repair import repair_index
    from reconciler.render import json_output, text

    result = repair_index(
        repo, commit=not no_commit, now=system_clock, lock_timeout=lock_timeout, fleet=fleet
    )
    sys.stdout.write(json_output.document(result) if as_json else text.repair_text(result))
