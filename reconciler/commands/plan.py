"""`reconcile plan`: the pull-request check (what the reconciler would commit), no writes."""

from __future__ import annotations

import os
import sys

import click

from reconciler.commands.common import EXIT_REJECTED, handle_errors


@click.command("plan")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@click.option(
    "--base",
    metavar="REF",
    help="Compare with this ref's merge-base (default: the default branch).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option(
    "--summary-file",
    metavar="PATH",
    help="Write the Markdown summary here (default: $GITHUB_STEP_SUMMARY when set).",
)
@handle_errors
def plan_command(repo: str, base: str | None, as_json: bool, summary_file: str | None) -> None:
    r"""Show what the reconciler would commit for the intents this branch adds.

    Evaluates the intent files added since BASE (default: the merge-base with the default
    branch), in the loop's order, on top of the base commit's registry, decision and
    telemetry, and prints per intent the status, reason codes, canary and pause
    before -> after, and the exact commit subject and trailers. Writes nothing but the
    summary. Exit 0 when every new intent would be applied or replayed, 3 when one would
    be rejected, 1 on error.

    \b
    Examples:
      reconcile plan --base origin/main
      reconcile plan --json --summary-file plan.md
    """
    from reconciler import render
    from reconciler.adapters import files
    from reconciler.adapters.clock import system_clock
    from reconciler.reports import plan as planning

    plan = planning.make_plan(repo, base, now=system_clock)
    rows = planning.plan_rows(plan)
    if as_json:
        for row in rows:
            render.print_json(row)
        render.print_json(
            {
                "type": "plan",
                "base": plan.base,
                "baseRef": plan.base_ref,
                "head": plan.head,
                "new": sum(row["new"] for row in rows),
                "rejected": plan.rejected,
            }
        )
    else:
        render.print_plan(rows, plan.base, plan.base_ref)
    target = summary_file or os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        markdown = planning.plan_markdown(plan).encode("utf-8")
        if summary_file:
            files.atomic_write(target, markdown, durable=False)
        else:
            files.append(target, markdown)  # GitHub collects every step's summary
    if plan.rejected:
        sys.exit(EXIT_REJECTED)
