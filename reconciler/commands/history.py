"""`reconcile history`: the audit browser: reconcile commits, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from reconciler.commands.edge import handle_errors

if TYPE_CHECKING:
    from reconciler.reports.history import HistoryEntry

STATUSES = ("applied", "replayed", "rejected")
_STATUS_STYLES = {"applied": "green", "replayed": "cyan", "rejected": "red"}


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from reconciler.reports.history import check_since

    if value is None:
        return None
    try:
        return check_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("history")
@click.option(
    "--repo", metavar="PATH", default=".", show_default=True, help="Top folder of the repository."
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Most commits shown."
)
@click.option("--since", metavar="DATE", callback=_since, help="As git log --since: 2026-11-01.")
@click.option("--actor", metavar="ACTOR", help="Only this actor's intents (exact).")
@click.option("--status", type=click.Choice(STATUSES), help="Only this outcome.")
@click.option("--intent", metavar="I", help="Intent file path, name or stem, or idempotency key.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per commit (JSON lines).")
@handle_errors
def history_command(
    repo: str,
    limit: int,
    since: str | None,
    actor: str | None,
    status: str | None,
    intent: str | None,
    as_json: bool,
) -> None:
    """The audit browser: reconcile commits, newest first.

    Read from the commits' trailers with one `git log`; `--actor`, `--status` and
    `--intent` match exactly.

    \b
    Examples:
      reconcile history --limit 50
      reconcile history --status rejected --since '2 weeks ago'
      reconcile history --intent cab-123-expand --json | jq .canary
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    from reconciler import render
    from reconciler.reports import history

    query = history.HistoryQuery(
        limit=limit, since=since, actor=actor, status=status, intent=intent
    )
    entries = history.read_history(repo, query)
    if as_json:
        for entry in entries:
            render.print_json(history.entry_json(entry))
    elif not entries:
        click.echo(
            "no reconcile commits match" if query.is_filtered else "no reconcile commits yet"
        )
    else:
        _print_table(entries)


def _print_table(entries: list[HistoryEntry]) -> None:
    """Print the entries as a table on stdout (rich is imported only here: start-up time)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console.width = 200  # a pipe or file: do not wrap at 80 columns
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("time", "commit", "action", "status", "canary", "pause", "actor"):
        table.add_column(column, no_wrap=True)
    table.add_column("approval", overflow="fold")
    table.add_column("decision", no_wrap=True)
    for entry in entries:
        # Text(), not str: a value such as "[red]x" must print as is, not as rich markup.
        table.add_row(
            Text(entry.time),
            Text(entry.short_commit),
            Text(entry.action or "-"),
            Text(entry.status, style=_STATUS_STYLES.get(entry.status, "")),
            Text(entry.canary or "-"),
            Text(entry.manual_pause or "-"),
            Text(entry.actor or "-"),
            Text(entry.approval_ref or "-"),
            Text(entry.decision or "-"),
        )
    console.print(table)
