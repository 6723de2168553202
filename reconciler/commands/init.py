"""`reconcile init`: scaffold reconciler.yaml, the policies/ tree and the workflows."""

from __future__ import annotations

import os
import shlex
import sys

import click

from reconciler.commands.edge import handle_errors

NEXT_STEPS = """\
next steps:
  1. edit policies/registry.yaml (fleetId, loops, policy) and replace
     policies/promotion/decision.json with your evidence evaluator's output
  2. reconcile validate --repo {path}
  3. commit and push; if main is protected, let GitHub Actions push to it
     (.github/workflows/reconcile.yml commits applied intents as the bot in reconciler.yaml)
"""


@click.command("init")
@click.argument("path", default=".", metavar="[PATH]")
@click.option("--json", "as_json", is_flag=True, help='Print {"created": [...]} instead.')
@handle_errors
def init_command(path: str, as_json: bool) -> None:
    """Scaffold reconciler.yaml, the policies/ tree and the workflows into PATH.

    PATH (default: the current folder) is created when it does not exist. No existing file is
    ever overwritten: when any target already exists, init lists them, writes nothing and
    exits 1. The workflows install the pinned rollout-reconciler release of this command.

    \b
    Examples:
      reconcile init
      reconcile init ../fleet-policies --json
    """  # noqa: D301 - click's \b (a real backspace) keeps the examples unwrapped
    from reconciler.render import json_output
    from reconciler.setup import init_repo as scaffold

    created = [os.path.normpath(os.path.join(path, rel)) for rel in scaffold.scaffold_repo(path)]
    if as_json:
        sys.stdout.write(json_output.document({"created": created}))
        return
    click.echo("\n".join(created))
    sys.stderr.write(NEXT_STEPS.format(path=shlex.quote(path)))
