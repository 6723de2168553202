"""`reconcile demo`: run the main job on the bundled example in a temporary repo."""

from __future__ import annotations

import click


@click.command("demo")
def demo_command() -> None:
    """Run the main job on the bundled example in a temporary repo."""
    raise click.ClickException("not implemented yet")
