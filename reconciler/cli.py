"""The `reconcile` click group and its lazy command table; each command lives in `commands/`.

Exit codes: 0 success, 1 refused or failed (nothing written), 75 retryable (EX_TEMPFAIL: lock
busy, remote unreachable, every push attempt lost), 2 usage error (click's own), 3 (`--once`,
`plan`, `dispatch`) one or more intents rejected, 70 unexpected error (traceback saved to a
log file), 130 interrupted.
"""

from __future__ import annotations

from typing import Any

import click

from reconciler import __version__

LAZY_COMMANDS: dict[str, str] = {
    # name -> "module:attribute"; imported only when that command runs (start-up time).
    "apply": "reconciler.commands.apply:apply_command",
    "demo": "reconciler.commands.demo:demo_command",
    "dispatch": "reconciler.commands.dispatch:dispatch_command",
    "freeze": "reconciler.commands.freeze:freeze_group",
    "history": "reconciler.commands.history:history_command",
    "init": "reconciler.commands.init:init_command",
    "intent": "reconciler.commands.intent:intent_group",
    "plan": "reconciler.commands.plan:plan_command",
    "repair-index": "reconciler.commands.repair_index:repair_index_command",
    "schema": "reconciler.commands.schema:schema_command",
    "status": "reconciler.commands.status:status_command",
    "validate": "reconciler.commands.validate:validate_command",
    "verify": "reconciler.commands.verify:verify_command",
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
    "--fleet",
    metavar="ID",
    multiple=True,
    help="Reconcile only this fleet (repeatable; default: every fleet, upstream first).",
)
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
    help="/metrics, /healthz, /readyz; POST /hooks/reconcile, /hooks/github|gitlab|gitea.",
)
@click.option(
    "--webhook-token-file",
    metavar="PATH",
    help="Shared secret for X-Reconcile-Token (else $RECONCILER_WEBHOOK_TOKEN).",
)
@click.option(
    "--webhook-secret-file",
    metavar="PATH",
    help="Secret of the GitHub, GitLab and Gitea webhooks (else $RECONCILER_WEBHOOK_SECRET);"
    " without one those hooks refuse every call.",
)
@click.option(
    "--webhook-max-body",
    metavar="BYTES",
    type=click.IntRange(min=1024, max=16 * 1024 * 1024),
    default=1024 * 1024,
    show_default=True,
    help="Largest forge webhook body read (413 beyond).",
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
    commit each. Exit codes: 0 every intent applied, replayed or deferred by a progression
    guard (or none pending), 3 one or more intents rejected, 1 refused (nothing half-done),
    75 retryable (lock busy, remote unreachable, every push attempt lost: run again), 2
    usage, 70 unexpected.
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


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the `reconcile` console script and `python -m reconciler`)."""
    cli.main(args=argv, prog_name="reconcile")
