"""`reconcile plan`: pull-request check: what the reconciler would commit for new intents."""

from __future__ import annotations

import click


@click.command("plan")
def plan_command() -> None:
    """Pull-request check: what the reconciler would commit for new intents."""
    raise click.ClickException("not implemented yet")
