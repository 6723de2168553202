"""`reconcile plan`: the pull-request check (what the reconciler would commit), no writes."""

from __future__ import annotations

import os
import sys

import click

from reconciler.commands.edge import EXIT_REJECTED, fleets_option, handle_errors


@click.command("plan")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@click.option(
    "--base",
    metavar="REF",
    help="The branch this one merges into (default: the default branch).",
)
@fleets_option("Plan only this fleet (repeatable; default: every fleet, upstream first).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option(
    "--summary-file",
    metavar="PATH",
    help="Write the Markdown summary here (default: $GITHUB_STEP_SUMMARY when set).",
)
@handle_errors
def plan_command(
    repo: str, base: str | None, fleets: tuple[str, ...], as_json: bool, summary_file: str | None
) -> None:
    """Show what the reconciler would commit once this branch is merged into BASE.

    Merges HEAD into BASE (default: the default branch) in memory, without writing to the
    repository, and evaluates the pending intents of the merged tree in the loop's order on
    the merged registry, decision and telemetry: exactly what `reconcile --once` commits
    after the merge. Prints per intent the status, reason codes, canary and pause
    before -> after, and the exact commit subject and trailers, and lists the files of the
    intents folder that are not intents. Every change the branch makes by hand to
    reconciler-owned content (canaryPercent, pause.manual and governance in the registry,
    the decision, telemetry, state, intents/applied/ and intents/rejected/) is a problem
    (`pr_edits_owned_content`). Writes nothing but the summary. Exit 0 when every new
    intent would be applied, replayed or deferred (a progression guard holds it: the plan
    says why and until when) and nothing owned is edited, 3 otherwise, 1 on
    error (a merge that conflicts: `pr_merge_conflict`).

    In a repository with several fleets, every fleet's intents (or those of each --fleet)
    are planned as the loop runs them: fleets upstream first, each fleet's intents in file
    order, a downstream's upstream gate seeing what its upstream would apply first. Each
    row names its fleet (a first `fleet` column).

    \b
    Examples:
      reconcile plan --base origin/main
      reconcile plan --json --summary-file plan.md
      reconcile plan --fleet prod-eu
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    from reconciler.adapters import files
    from reconciler.adapters.clock import system_clock
    from reconciler.render import json_output, markdown, tables, text
    from reconciler.render.diagnostics import error_text
    from reconciler.reports import plan as planning

    plan = planning.make_plan(repo, base, now=system_clock, fleets=fleets)
    rows = planning.plan_rows(plan)
    summary = planning.plan_summary(plan, rows)
    error = planning.owned_edits_error(plan) if plan.problems else None
    if as_json:
        sys.stdout.write(json_output.lines([*rows, summary]))
    else:
        sys.stdout.write(text.plan_text(rows, summary, color=tables.wants_color(sys.stdout)))
    target = summary_file or os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        document = markdown.plan_markdown(rows, summary, error).encode("utf-8")
        if summary_file:
            files.atomic_write(target, document, durable=False)
        else:
            files.append(target, document)  # GitHub collects every step's summary
    if error is not None:
        sys.stderr.write(error_text(error))
    if plan.failed:
        sys.exit(EXIT_REJECTED)
