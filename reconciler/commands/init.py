"""`reconcile init`: scaffold reconciler.yaml, the policies/ tree and the workflows."""

from __future__ import annotations

import click


@click.command("init")
def init_command() -> None:
    """Scaffold reconciler.yaml, the policies/ tree and the workflows."""
    raise click.ClickException("not implemented yet")
