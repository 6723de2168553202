"""`reconcile schema KIND`: print an artifact's JSON Schema, generated from the models."""

from __future__ import annotations

import click

from reconciler.commands.edge import handle_errors

SCHEMA_KINDS = ("registry", "decision", "intent", "record")


@click.command("schema")
@click.argument("kind", type=click.Choice(SCHEMA_KINDS))
@handle_errors
def schema_command(kind: str) -> None:
    """Print the JSON Schema of an artifact, generated from the models.

    \b
    Examples:
      reconcile schema registry > registry.schema.json
      reconcile schema record
    """
    import sys

    from reconciler.core import artifact_models
    from reconciler.render import json_output

    sys.stdout.write(json_output.document(artifact_models.json_schema(kind)))
