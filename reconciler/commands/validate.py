"""`reconcile validate`: check the registry, decision, telemetry and layout, or intent files."""

from __future__ import annotations

import sys
from typing import Any

import click

from reconciler.commands.edge import (
    EXIT_REFUSED,
    fleets_option,
    handle_errors,
    path_flags,
    path_options,
)


@click.command("validate")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@path_options
@fleets_option("Only this fleet (repeatable; default: every fleet of the repository).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--intents", "intent_files", is_flag=True, help="Validate the intent FILES given instead."
)
@click.argument("files", nargs=-1, metavar="[FILES]...")
@handle_errors
def validate_command(
    repo: str,
    fleets: tuple[str, ...],
    as_json: bool,
    intent_files: bool,
    files: tuple[str, ...],
    **flags: Any,
) -> None:
    """Check the registry, decision and telemetry; say which layout was used and why.

    Also lists every symlink in the paths the loop reads or writes (`--once` refuses them),
    and warns about a decision older than maxDecisionAge (24h unless reconciler.yaml says).

    In a repository with several fleets, each fleet (or each --fleet) is reported on its
    own, upstream first: its files, its registry (whose fleetId must be the fleet's id:
    `fleet_id_mismatch`), decision, telemetry, guards (and the keys it overrides) and its
    upstream (after, minCanary, soak); an invalid `fleets:` block or fleet folder is
    reported with every problem (`fleets_invalid`).

    With --intents, check intent files instead (the pre-commit hook): each one is parsed
    exactly as the loop will, and every problem is listed with its reason code; a file in a
    fleet's intents folder (of --repo) is judged as that fleet's pass judges it: its
    `fleet:` must name that fleet (`intent_fleet_mismatch`), and an expand may not exceed
    its guards' step limits (`intent_expand_step_over_limit`).
    Exit 0 when everything is valid, 1 when anything is not (every problem is listed).

    \b
    Examples:
      reconcile validate --repo .
      reconcile validate --repo . --registry-file policies/registry.json --json
      reconcile validate --fleet prod-eu
      reconcile validate --intents policies/intents/*.yaml
    """
    from reconciler.adapters.clock import system_clock
    from reconciler.render import json_output, text
    from reconciler.reports import validation

    if files and not intent_files:
        raise click.UsageError("FILES are only accepted with --intents")
    if intent_files:
        results = validation.validate_intent_files(files, now=system_clock(), repo=repo)
        if as_json:
            sys.stdout.write(json_output.lines(results))
        else:
            sys.stdout.write(text.intent_validation_text(results))
        if not all(result["ok"] for result in results):
            sys.exit(EXIT_REFUSED)
        return
    report = validation.validate_repo(repo, path_flags(flags), now=system_clock, fleets=fleets)
    if as_json:
        sys.stdout.write(json_output.document(report))
    else:
        sys.stdout.write(text.validation_text(report))
    if not report["ok"]:
        sys.exit(EXIT_REFUSED)
