"""`reconcile status`: posture, governance, decision and predicted pending intents."""

from __future__ import annotations

import click

from reconciler.commands.edge import fleets_option, handle_errors


@click.command("status")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@fleets_option("Only this fleet of several (repeatable; default: every fleet, upstream first).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--html",
    "html_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the status page (as the controller serves at /) to FILE, atomically.",
)
@handle_errors
def status_command(
    repo: str, fleets: tuple[str, ...], as_json: bool, html_file: str | None
) -> None:
    """Show the rollout posture, its governance, the decision and the pending intents.

    Also the progression guards' state (the decision the last change needs, cooldown and
    budget left, the active or next freeze window) and, for each deferred intent, its
    reasons and when it can go (notBefore).

    Warns when the governance review is due within 7 days or expired, and when the
    decision is stale. Pending intents show the outcome the next pass would give them.
    Read-only: takes no lock and writes nothing but the --html file.

    With several fleets: one table, one row per fleet (canary, pause, mode, decision and
    its age, review-by days left, guards, pending and deferred counts; a fleet that cannot
    be read shows why), then every fleet's pending intents with a fleet column. --json
    prints {"repo", "head", "fleets": [each fleet's report, with "fleet"], "audit", ...}.

    `--html FILE` writes the controller's status page as one static file (for a CI
    artifact or GitHub Pages): every fleet, the pending intents, the last 50 history
    entries and the audit findings; no script, no external assets.

    \b
    Examples:
      reconcile status
      reconcile status --repo policies-repo --json
      reconcile status --fleet staging --fleet prod-eu
      reconcile status --html public/index.html
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    import sys

    from reconciler.adapters.clock import system_clock
    from reconciler.render import json_output, tables, text
    from reconciler.render.diagnostics import warning_text
    from reconciler.reports.status import repo_status

    if html_file is not None:
        _write_page(repo, html_file, fleets)
        return
    report = repo_status(repo, now=system_clock, fleets=fleets)
    if as_json:
        sys.stdout.write(json_output.document(report))
    else:
        shown = text.fleets_status_text if "fleets" in report else text.status_text
        sys.stdout.write(shown(report, color=tables.wants_color(sys.stdout)))
        sys.stderr.write("".join(warning_text(warning) for warning in report["warnings"]))


def _write_page(repo: str, path: str, fleets: tuple[str, ...]) -> None:
    """Write the static status page (the controller's `/`, without its live script)."""
    from reconciler.adapters import files
    from reconciler.adapters.clock import system_clock
    from reconciler.render import status_page as page
    from reconciler.reports.status_page import page_document

    doc = page_document(repo, now=system_clock, fleets=fleets)
    files.atomic_write(path, page.page_html(doc, live=False).encode("utf-8"))
