"""`reconcile history`: the audit browser: reconcile commits, newest first."""

from __future__ import annotations

import click

from reconciler.commands.edge import fleets_option, handle_errors

STATUSES = ("applied", "replayed", "rejected")


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from reconciler.reports.history import check_since

    if value is None:
        return None
    try:
        return check_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("history")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Most commits shown."
)
@click.option("--since", metavar="DATE", callback=_since, help="As git log --since: 2026-11-01.")
@click.option("--actor", metavar="ACTOR", help="Only this actor's intents (exact).")
@click.option("--status", type=click.Choice(STATUSES), help="Only this outcome.")
@click.option("--intent", metavar="I", help="Intent file path, name or stem, or idempotency key.")
@fleets_option("Only this fleet's commits (repeatable; default: every fleet).")
@click.option(
    "--verified-only", is_flag=True, help="Only commits signed by a trust.botSigners principal."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per commit (JSON lines).")
@handle_errors
def history_command(
    repo: str,
    limit: int,
    since: str | None,
    actor: str | None,
    status: str | None,
    intent: str | None,
    fleets: tuple[str, ...],
    verified_only: bool,
    as_json: bool,
) -> None:
    """The audit browser: reconcile commits, newest first.

    Read from the commits' trailers with one `git log`; `--actor`, `--status` and
    `--intent` match exactly. Each commit shows its author, its committer and its
    verification: `verified` (a good signature by a `trust.botSigners` principal of the
    allowed-signers file), `unsigned` (no signature), `forged` (Reconcile-* trailers but
    any other signature: invalid, unknown or expired key, or not a bot signer's).
    `--verified-only` shows up to --limit verified commits. In a repository with several
    fleets each commit names its fleet (its `Fleet:` trailer; a first `fleet` column) and
    `--fleet` keeps only the fleets named (an unknown one: `fleet_unknown`).

    \b
    Examples:
      reconcile history --limit 50
      reconcile history --status rejected --since '2 weeks ago'
      reconcile history --intent cab-123-expand --json | jq .canary
      reconcile history --verified-only --limit 10
      reconcile history --fleet staging --fleet prod-eu
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    import sys

    from reconciler.render import json_output, tables, text
    from reconciler.reports import history

    query = history.HistoryQuery(
        limit=limit,
        since=since,
        actor=actor,
        status=status,
        intent=intent,
        verified_only=verified_only,
        fleets=fleets,
    )
    docs = [history.entry_json(entry) for entry in history.read_history(repo, query)]
    if as_json:
        sys.stdout.write(json_output.lines(docs))
    else:
        color = tables.wants_color(sys.stdout)
        sys.stdout.write(text.history_text(docs, filtered=query.is_filtered, color=color))
