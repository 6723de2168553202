"""`reconcile history`: the audit browser: reconcile commits, newest first."""

from __future__ import annotations

import click


@click.command("history")
def history_command() -> None:
    """The audit browser: reconcile commits, newest first."""
    raise click.ClickException("not implemented yet")
