"""`reconcile dispatch`: manual orchestration: dry_run, apply or rollback in one step."""

from __future__ import annotations

import click


@click.command("dispatch")
def dispatch_command() -> None:
    """Manual orchestration: dry_run, apply or rollback in one step."""
    raise click.ClickException("not implemented yet")
