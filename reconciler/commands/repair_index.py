"""`reconcile repair-index`: rebuild the telemetry key indexes from the records."""

from __future__ import annotations

import click


@click.command("repair-index")
def repair_index_command() -> None:
    """Rebuild the telemetry key indexes from the records."""
    raise click.ClickException("not implemented yet")
