"""`reconcile verify`: the audit trail checked end to end (records, commits, registry)."""

from __future__ import annotations

import click

from reconciler.commands.edge import handle_errors

EXIT_FINDINGS = 4
"""At least one finding (0: the audit trail is clean)."""


@click.command("verify")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@click.option(
    "--since", metavar="REF", help="Check only the commits after REF (the last verified)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document: counts and findings.")
@handle_errors
def verify_command(repo: str, since: str | None, as_json: bool) -> None:
    """Check the audit trail: record chain, hand edits, forged trailers.

    Exit 0 when clean, 4 with findings (one line each: kind, commit, path:line, detail,
    author, committer). See docs/audit.md.

    \b
    Examples:
      reconcile verify
      reconcile verify --since "$(cat .last-verified)" --json
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    import sys

    from reconciler.render import json_output
    from reconciler.reports import audit

    report = audit.audit(repo, since)
    if as_json:
        sys.stdout.write(
            json_output.document(
                {
                    "head": report.head,
                    "since": report.since,
                    "commits": report.commits,
                    "records": report.records,
                    "findings": [finding.as_json() for finding in report.findings],
                }
            )
        )
    else:
        for finding in report.findings:
            where = f"{finding.path}:{finding.line}" if finding.line else finding.path
            commit = finding.commit[:12] or "-"
            people = f"author {finding.author or '-'}, committer {finding.committer or '-'}"
            sys.stdout.write(f"{finding.kind} {commit} {where}: {finding.detail} ({people})\n")
        sys.stdout.write(
            f"verified {report.commits} commit(s), {report.records} record(s): "
            f"{len(report.findings)} finding(s)\n"
        )
    if report.findings:
        sys.exit(EXIT_FINDINGS)
