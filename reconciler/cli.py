"""The `reconcile` command line: flags in, one service call, rendered result, exit code.

Exit codes: 0 success, 1 refused or failed (nothing written), 75 retryable (EX_TEMPFAIL: lock
busy, remote unreachable, every push attempt lost), 2 usage error (click's own), 3 (`--once`,
`plan`, `dispatch`) one or more intents rejected, 70 unexpected error (traceback saved to a
log file), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from reconciler import __version__
from reconciler.commands.common import (
    EXIT_REFUSED,
    handle_errors,
    new_trace_id,
    path_options,
)

if TYPE_CHECKING:
    from reconciler.core.applying import ApplyArgs

LAZY_COMMANDS: dict[str, str] = {
    # name -> "module:attribute"; imported only when that command runs (start-up time).
    "demo": "reconciler.commands.demo:demo_command",
    "dispatch": "reconciler.commands.dispatch:dispatch_command",
    "history": "reconciler.commands.history:history_command",
    "init": "reconciler.commands.init:init_command",
    "intent": "reconciler.commands.intent:intent_group",
    "plan": "reconciler.commands.plan:plan_command",
    "repair-index": "reconciler.commands.repair_index:repair_index_command",
    "status": "reconciler.commands.status:status_command",
}


class LazyGroup(click.Group):
    """A click group whose extra commands live in `reconciler.commands.*`, imported on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, built-in and lazy, sorted."""
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the command, importing its module the first time it is needed."""
        if cmd_name in LAZY_COMMANDS:
            import importlib

            module, attribute = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "RECONCILER"},
)
@click.version_option(__version__, prog_name="reconcile", allow_from_autoenv=False)
@click.option(
    "--once",
    is_flag=True,
    allow_from_autoenv=False,
    help="Run one pass over the pending intents, then exit.",
)
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@click.option("--push", is_flag=True, help="Fetch and fast-forward first, push after.")
@click.option("--remote", metavar="NAME", help="Remote to sync with (setting `remote`, origin).")
@click.option("--branch", metavar="NAME", help="Remote branch (setting `branch`, else current).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Evaluate the checkout as it is and print; commit, fetch and push nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option(
    "--max-intents", metavar="N", type=click.IntRange(min=1), help="Take at most N intents."
)
@click.option("--lock-timeout", metavar="DURATION", help="Wait this long for the lock (30s).")
@click.option(
    "--watch",
    is_flag=True,
    allow_from_autoenv=False,
    help="Run the controller (also the default: no command).",
)
@click.option(
    "--interval", metavar="DURATION", default="30s", show_default=True, help="Remote poll period."
)
@click.option(
    "--resync", metavar="DURATION", default="10m", show_default=True, help="Periodic pass."
)
@click.option(
    "--debounce",
    metavar="DURATION",
    default="200ms",
    show_default=True,
    help="File-change debounce.",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default="127.0.0.1:9464",
    show_default=True,
    help="/metrics, /healthz, /readyz and POST /hooks/reconcile.",
)
@click.option(
    "--webhook-token-file",
    metavar="PATH",
    help="Shared secret for X-Reconcile-Token (else $RECONCILER_WEBHOOK_TOKEN).",
)
@click.option(
    "--shutdown-timeout",
    metavar="DURATION",
    default="30s",
    show_default=True,
    help="Hard deadline after SIGTERM.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Event log on stderr.",
)
@click.pass_context
def cli(ctx: click.Context, /, **flags: Any) -> None:
    """Turn promotion decisions into governed, audited rollout-policy changes.

    `reconcile --once` applies the pending intent files of a policy repository, one git
    commit each. Exit codes: 0 every intent applied or replayed (or none pending), 3 one or
    more intents rejected, 1 refused (nothing half-done), 75 retryable (lock busy, remote
    unreachable, every push attempt lost: run again), 2 usage, 70 unexpected.
    `reconcile` alone (or `--watch`) runs the controller: a pass at start, then on file
    changes, a moved remote (--push), the webhook and every --resync, until SIGTERM.

    \b
    Examples:
      reconcile --once --repo .
      reconcile --once --push --json
      reconcile --watch --push --listen 0.0.0.0:9464 --log-format json
      reconcile intent new expand --step 25 --by alice --approval-ref CAB-123 \\
        --rationale "gates green 7 days" --review-by 7d
      reconcile plan --base origin/main
      reconcile history --limit 20
      reconcile apply --repo . --intent rollback --by bob --approval-ref INC-9 \\
        --rationale "error spike" --review-by 7d
    """
    if ctx.invoked_subcommand is not None:
        return
    if flags["once"]:
        from reconciler.commands.once import run_once_command

        run_once_command(flags)
        return
    once_only = [flag for flag in ("dry_run", "as_json", "max_intents") if flags[flag]]
    if once_only:
        names = {"dry_run": "--dry-run", "as_json": "--json", "max_intents": "--max-intents"}
        shown = ", ".join(names[flag] for flag in once_only)
        raise click.UsageError(f"{shown}: only with --once (the controller commits as it goes)")
    from reconciler.commands.watch import run_watch_command

    run_watch_command(flags)


@cli.command("apply")
@click.option("--repo", metavar="PATH", help="Policy repository (required).")
@click.option("--intent", metavar="expand|resume|rollback", help="What to change.")
@click.option("--expand-step", metavar="N", help="Percent to add for expand (1..100, default 25).")
@click.option(
    "--by", "by", metavar="ACTOR", help="Who makes the change: governance.actor (required)."
)
@click.option("--approval-ref", metavar="REF", help="Change ticket, e.g. CAB-123 (required).")
@click.option("--rationale", metavar="TEXT", help="Why (required).")
@click.option(
    "--review-by",
    metavar="TIME",
    help="Review deadline: RFC 3339, or from now, e.g. 7d (required).",
)
@path_options
@click.option("--apply-state-file", metavar="PATH", help="Latest apply record (JSON).")
@click.option("--apply-telemetry-file", metavar="PATH", help="Append-only records (JSONL).")
@click.option("--idempotency-key", metavar="KEY", help="Replay the earlier result for this key.")
@click.option(
    "--trace-id",
    metavar="ID",
    envvar="OPS_MANAGER_TRACE_ID",
    help="Trace id (else $OPS_MANAGER_TRACE_ID, else a new UUID).",
)
@click.option("--loop-id", metavar="ID", help="Seam field: loop this change concerns.")
@click.option("--horizon-ref", metavar="REF", help="Seam field: horizon reference.")
@click.option(
    "--evidence-ref",
    "evidence_ref",
    metavar="REF",
    multiple=True,
    help="Evidence reference (repeatable).",
)
@click.option(
    "--max-decision-age",
    metavar="DURATION",
    help="Refuse expand/resume on an older decision (e.g. 24h).",
)
@click.option("--lock-timeout", metavar="DURATION", help="Wait this long for the lock (30s).")
@click.option("--pretty", is_flag=True, help="Indent the printed record.")
@handle_errors
def apply_command(**flags: Any) -> None:
    """Apply one intent to the rollout policy and print its apply record.

    A drop-in for ops-manager-promotion-apply.sh: same flags, messages and record, but a
    minimal in-place registry edit, atomic writes, a lock and crash-safe journaling.

    \b
    Examples:
      reconcile apply --repo . --intent expand --expand-step 25 --by alice \\
        --approval-ref CAB-123 --rationale "gates green" --review-by 7d
      reconcile apply --repo . --intent rollback --by bob --approval-ref INC-9 \\
        --rationale "error spike" --review-by 7d --idempotency-key inc-9
    """
    from reconciler import render, service
    from reconciler.adapters.clock import system_clock

    options = service.ApplyOptions(
        repo=flags["repo"],
        paths=_path_flags(flags),
        max_decision_age=flags["max_decision_age"],
        lock_timeout=flags["lock_timeout"],
    )
    args = _apply_args(flags)
    result = service.run_apply(args, options, now=system_clock, new_trace_id=new_trace_id)
    # Only for a person at a terminal: callers that merge stderr into stdout (`2>&1`, the bash
    # tool's test harness) must still get one JSON document; the reason code is the signal.
    if sys.stderr.isatty():
        _warn_about_key(result.record, result.mismatch, args.idempotency_key)
        if not result.replayed and "telemetry_not_appended" in result.record["reasonCodes"]:
            render.print_warning(
                f"the telemetry file {result.layout.paths['applyTelemetryFile']} is not JSON "
                "lines, so this rollback's record was not appended to it (it is in the apply "
                "state file and below); repair the file (git history has the original)"
            )
    render.print_json(result.record, pretty=flags["pretty"])


def _warn_about_key(record: dict[str, Any], mismatch: bool, key: str | None) -> None:
    from reconciler import render
    from reconciler.core.reasons import ReasonCode

    if mismatch:
        first = record.get("intent")
        step = record.get("expandStep")
        render.print_warning(
            f"idempotency key {json.dumps(key)} was first used for a different "
            f"request ({first}{f' by {step}%' if step else ''}); replaying the recorded result, "
            "nothing was changed"
        )
    elif ReasonCode.IDEMPOTENCY_REPLAY_OVERRIDDEN in record.get("reasonCodes", []):
        render.print_warning(
            f"idempotency key {json.dumps(key)} was used before, but the fleet was not paused; "
            "the rollback was applied as a new mutation"
        )
    if record.get("warnings"):
        render.print_warning(
            "the fleet registry is invalid outside the fields a rollback writes; the rollback "
            "was applied anyway (fix these):"
        )
        sys.stderr.writelines(f" - {warning}\n" for warning in record["warnings"])


def _apply_args(flags: dict[str, Any]) -> ApplyArgs:
    from reconciler.core.applying import ApplyArgs

    return ApplyArgs(
        intent=flags["intent"],
        expand_step=flags["expand_step"],
        actor=flags["by"],
        approval_ref=flags["approval_ref"],
        rationale=flags["rationale"],
        review_by=flags["review_by"],
        idempotency_key=flags["idempotency_key"],
        # An empty --trace-id falls back to the environment, as the bash tool's `${x:-$ENV}`.
        trace_id=flags["trace_id"] or os.environ.get("OPS_MANAGER_TRACE_ID") or None,
        loop_id=flags["loop_id"],
        horizon_ref=flags["horizon_ref"],
        evidence_refs=flags["evidence_ref"],
    )


def _path_flags(flags: dict[str, Any]) -> dict[str, str | None]:
    return {
        "registryFile": flags.get("registry_file"),
        "promotionStateFile": flags.get("promotion_state_file"),
        "applyStateFile": flags.get("apply_state_file"),
        "applyTelemetryFile": flags.get("apply_telemetry_file"),
    }


@cli.command("validate")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@path_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--intents", "intent_files", is_flag=True, help="Validate the intent FILES given instead."
)
@click.argument("files", nargs=-1, metavar="[FILES]...")
@handle_errors
def validate_command(
    repo: str, as_json: bool, intent_files: bool, files: tuple[str, ...], **flags: Any
) -> None:
    """Check the registry, decision and telemetry; say which layout was used and why.

    Also lists every symlink in the paths the loop reads or writes (`--once` refuses them),
    and warns about a decision older than maxDecisionAge (24h unless reconciler.yaml says).

    With --intents, check intent files instead (the pre-commit hook): each one is parsed
    exactly as the loop will, and every problem is listed with its reason code.
    Exit 0 when everything is valid, 1 when anything is not (every problem is listed).

    \b
    Examples:
      reconcile validate --repo .
      reconcile validate --repo . --registry-file policies/registry.json --json
      reconcile validate --intents policies/intents/*.yaml
    """
    from reconciler import inspection, render
    from reconciler.adapters.clock import system_clock

    if files and not intent_files:
        raise click.UsageError("FILES are only accepted with --intents")
    if intent_files:
        results = inspection.validate_intent_files(files, now=system_clock())
        if as_json:
            for result in results:
                render.print_json(result)
        else:
            render.print_intent_validation(results)
        if not all(result["ok"] for result in results):
            sys.exit(EXIT_REFUSED)
        return
    report = inspection.validate_repo(repo, _path_flags(flags), now=system_clock)
    if as_json:
        render.print_json(report, pretty=True)
    else:
        render.print_validation(report)
    if not report["ok"]:
        sys.exit(EXIT_REFUSED)


SCHEMA_KINDS = ("registry", "decision", "intent", "record")


@cli.command("schema")
@click.argument("kind", type=click.Choice(SCHEMA_KINDS))
@handle_errors
def schema_command(kind: str) -> None:
    """Print the JSON Schema of an artifact, generated from the models.

    \b
    Examples:
      reconcile schema registry > registry.schema.json
      reconcile schema record
    """
    from reconciler import render
    from reconciler.core import artifact_models

    render.print_json(artifact_models.json_schema(kind), pretty=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the `reconcile` console script and `python -m reconciler`)."""
    cli.main(args=argv, prog_name="reconcile")
