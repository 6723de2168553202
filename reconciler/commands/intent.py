"""`reconcile intent`: write intent files (what an operator opens a pull request with)."""

from __future__ import annotations

import click


@click.group("intent")
def intent_group() -> None:
    """Write intent files (what an operator opens a pull request with)."""
    raise click.ClickException("not implemented yet")
