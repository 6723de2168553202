"""`reconcile demo`: the operator flow on the bundled example (this is `make demo`)."""

from __future__ import annotations

import sys

import click

from reconciler.commands.edge import handle_errors


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    metavar="PATH",
    help="Run in this new folder (default: a new temporary folder, kept afterwards).",
)
@handle_errors
def demo_command(directory: str | None) -> None:
    """Run the main job on the bundled example, in temporary repositories.

    A bare repository plays the remote, one clone the operator, one the CI runner:
    intents are written with `intent new`, checked with `plan`, merged, applied by
    `--once --push` (an expand, a resume, a malformed file, then under a hold decision an
    expand that is rejected and a rollback), then `status` and `history` show the result.

    \b
    Examples:
      reconcile demo
      reconcile demo --dir /tmp/reconcile-demo
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    import os

    from reconciler.adapters.clock import system_clock
    from reconciler.setup.demo import run_demo

    if directory:
        try:
            os.makedirs(directory, exist_ok=False)
        except FileExistsError:
            raise click.BadParameter(
                f"{directory} already exists; give a new folder", param_hint="'--dir'"
            ) from None
        except OSError as exc:
            raise click.BadParameter(
                f"cannot create {directory}: {exc.strerror}", param_hint="'--dir'"
            ) from None
    run_demo(directory, now=system_clock, color=sys.stdout.isatty())
