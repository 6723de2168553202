"""`reconcile status`: current posture, governance, decision and pending intents."""

from __future__ import annotations

import click


@click.command("status")
def status_command() -> None:
    """Current posture, governance, decision and pending intents."""
    raise click.ClickException("not implemented yet")
