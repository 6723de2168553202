"""`reconcile verify`: the audit trail checked end to end (records, commits, registry)."""

from __future__ import annotations

import click

from reconciler.commands.edge import fleets_option, handle_errors

EXIT_FINDINGS = 4
"""At least one finding (0: the audit trail is clean)."""


@click.command("verify")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@click.option(
    "--since", metavar="REF", help="Check only the commits after REF (the last verified)."
)
@fleets_option(
    "Show only this fleet's findings and the repository-wide ones (repeatable; default: "
    "every fleet)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document: counts and findings.")
@handle_errors
def verify_command(repo: str, since: str | None, fleets: tuple[str, ...], as_json: bool) -> None:
    """Check the audit trail: record chain, hand edits, forged trailers.

    Exit 0 when clean, 4 with findings (one line each: kind, commit, path:line, detail,
    author, committer; with several fleets, the fleet first, `-` for a repository-wide
    one). Every fleet is checked in one walk of the history; --fleet filters what is shown
    and counted. Findings resolved by a revert or an adopt intent are shown, marked, and
    not counted. See docs/audit.md.

    \b
    Examples:
      reconcile verify
      reconcile verify --since "$(cat .last-verified)" --json
      reconcile verify --fleet prod-eu
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    import sys

    from reconciler.render import audit as audit_output
    from reconciler.reports import audit

    report = audit.audit_fleets(repo, since, fleets)
    output = audit_output.verify_json if as_json else audit_output.verify_text
    sys.stdout.write(output(report))
    if report.unresolved:
        sys.exit(EXIT_FINDINGS)
