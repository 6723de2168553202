"""`reconcile init`: scaffold reconciler.yaml, the policies/ tree and the workflows."""

from __future__ import annotations

import os
import shlex
import sys

import click

from reconciler.commands.edge import handle_errors

NEXT_STEPS = """\
the workflows install the reconciler with: python -m pip install {install}
next steps:
  1. edit policies/registry.yaml (fleetId, loops, policy) and replace
     policies/promotion/decision.json with your evidence evaluator's output
  2. reconcile validate --repo {path}
  3. commit and push; if main is protected, let GitHub Actions push to it
     (.github/workflows/reconcile.yml commits applied intents as the bot in reconciler.yaml)
"""
FLEETS_NEXT_STEPS = """\
the workflows install the reconciler with: python -m pip install {install}
next steps:
  1. edit each policies/fleets/<id>/registry.yaml (loops, policy; its fleetId is the folder's
     name) and replace its promotion/decision.json with your evidence evaluator's output;
     the promotion order is reconciler.yaml's fleets: block ({order})
  2. reconcile validate --repo {path}
  3. reconcile status --repo {path}
  4. commit and push; if main is protected, let GitHub Actions push to it
     (.github/workflows/reconcile.yml commits applied intents as the bot in reconciler.yaml)
"""


@click.command("init")
@click.argument("path", default=".", metavar="[PATH]")
@click.option(
    "--install",
    metavar="SPEC",
    help="What the workflows `pip install`: a git URL with a tag, name==version, a path.",
)
@click.option(
    "--fleets",
    metavar="IDS",
    help="Several fleets, comma-separated, in promotion order: policies/fleets/<id>/ each.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"created": [...]} instead.')
@handle_errors
def init_command(path: str, install: str | None, fleets: str | None, as_json: bool) -> None:
    """Scaffold reconciler.yaml, the policies/ tree, the workflows and CODEOWNERS into PATH.

    PATH (default: the current folder) is created when it does not exist. No existing file is
    ever overwritten: when any target already exists, init lists them, writes nothing and
    exits 1.

    --fleets staging,prod scaffolds one folder per fleet, policies/fleets/<id>/, from the same
    example (its registry's fleetId set to the id), and a fleets: block in reconciler.yaml in
    that order: each fleet after the first waits for the one before it (after:, requires:
    minCanary 100, soak 24h; docs/fleets.md). The workflows serve every fleet; the dispatch
    one gains a fleet input, and CODEOWNERS a section per fleet. An id is a letter or digit,
    then letters, digits, . _ or -, at most 63 characters; an empty, bad or repeated id is
    refused (exit 1, fleets_invalid, nothing written). Without --fleets: one fleet, in
    policies/.

    The workflows run `python -m pip install SPEC` on a fresh CI runner. SPEC is --install
    (one pip argument: letters, digits and . _ / : @ + = , % # -), else what installed this
    reconciler: its git URL pinned to the installed commit, or rollout-reconciler==VERSION
    when it came from a package index. From a source checkout there is no such default:
    pass --install (exit 1, install_spec_unknown, nothing written).

    \b
    Examples:
      reconcile init --install git+https://git.example.com/platform/rollout-reconciler@v0.1.0
      reconcile init ../fleet-policies --install rollout-reconciler==0.1.0 --json
      reconcile init --fleets staging,prod-eu,prod-us --install rollout-reconciler==0.1.0
    """  # noqa: D301 - click's \b (a real backspace) keeps the examples unwrapped
    from reconciler.core import fleet_ids
    from reconciler.render import json_output
    from reconciler.setup import init_repo

    ids = fleet_ids.parse_fleet_list(fleets) if fleets is not None else ()
    spec = init_repo.resolve_install(install)
    created = [
        os.path.normpath(os.path.join(path, rel))
        for rel in init_repo.scaffold_repo(path, install=spec, fleets=ids)
    ]
    if as_json:
        sys.stdout.write(json_output.document({"created": created}))
        return
    click.echo("\n".join(created))
    steps = FLEETS_NEXT_STEPS if ids else NEXT_STEPS
    sys.stderr.write(steps.format(path=shlex.quote(path), install=spec, order=" > ".join(ids)))
