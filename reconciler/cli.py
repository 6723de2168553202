"""The `reconcile` command line: flags in, one service call, rendered result, exit code.

Exit codes: 0 success, 1 refused or failed (nothing written), 2 usage error (click's own),
3 unexpected error (traceback saved to a log file), 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler import __version__

if TYPE_CHECKING:
    from reconciler.core.applying import ApplyArgs

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_REFUSED, EXIT_UNEXPECTED, EXIT_INTERRUPTED = 0, 1, 3, 130


def _new_trace_id() -> str:
    # uuid4 by hand: `import uuid` alone costs ~10 ms of start-up on the 2-core machine.
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _save_traceback() -> str:
    import platform
    import subprocess
    import tempfile
    import traceback

    try:
        git = subprocess.run(
            ["git", "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except OSError:
        git = "git not found"
    fd, path = tempfile.mkstemp(prefix="reconciler-crash-", suffix=".log")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"rollout-reconciler {__version__}; Python {platform.python_version()}; ")
        handle.write(f"{git}\n\n{traceback.format_exc()}")
    return path


def handle_errors(command: F) -> F:
    """Map every failure of a command to one message and an exit code (pre-commit style)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from reconciler import render
        from reconciler.core.errors import ReconcileError

        try:
            return command(*args, **kwargs)
        except ReconcileError as exc:
            render.print_error(exc)
            sys.exit(EXIT_REFUSED)
        except KeyboardInterrupt:
            sys.stderr.write("error: interrupted\n")
            sys.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the one edge that turns crashes into a line
            log = _save_traceback()
            sys.stderr.write(
                f"error: unexpected {type(exc).__name__}: {exc} (traceback and versions in {log};"
                " please report it)\n"
            )
            sys.exit(EXIT_UNEXPECTED)

    return wrapper  # type: ignore[return-value]


def path_options(command: F) -> F:
    """The file-path flags every command shares."""
    for flag, help_text in reversed(
        [
            ("--registry-file", "Fleet registry (JSON or YAML by extension)."),
            ("--promotion-state-file", "Promotion decision JSON."),
        ]
    ):
        command = click.option(flag, metavar="PATH", help=help_text)(command)
    return command


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "RECONCILER"}
)
@click.version_option(__version__, prog_name="reconcile")
def cli() -> None:
    """Turn promotion decisions into governed, audited rollout-policy changes.

    \b
    Examples:
      reconcile validate --repo .
      reconcile apply --repo . --intent expand --expand-step 25 \\
        --by alice --approval-ref CAB-123 --rationale "gates green 7 days" \\
        --review-by 2026-12-31T00:00:00Z
      reconcile schema record
    """


@cli.command("apply")
@click.option("--repo", metavar="PATH", help="Policy repository (required).")
@click.option("--intent", metavar="expand|resume|rollback", help="What to change.")
@click.option("--expand-step", metavar="N", help="Percent to add for expand (1..100, default 25).")
@click.option(
    "--by", "by", metavar="ACTOR", help="Who makes the change: governance.actor (required)."
)
@click.option("--approval-ref", metavar="REF", help="Change ticket, e.g. CAB-123 (required).")
@click.option("--rationale", metavar="TEXT", help="Why (required).")
@click.option("--review-by", metavar="TIME", help="RFC 3339 deadline to review (required).")
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
        --approval-ref CAB-123 --rationale "gates green" --review-by 2026-12-31T00:00:00Z
      reconcile apply --repo . --intent rollback --by bob --approval-ref INC-9 \\
        --rationale "error spike" --review-by 2026-12-01T00:00:00Z --idempotency-key inc-9
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
    result = service.run_apply(args, options, now=system_clock, new_trace_id=_new_trace_id)
    if result.mismatch:
        first = result.record.get("intent")
        step = result.record.get("expandStep")
        render.print_warning(
            f"idempotency key {json.dumps(args.idempotency_key)} was first used for a different "
            f"request ({first}{f' by {step}%' if step else ''}); replaying the recorded result, "
            "nothing was changed"
        )
    render.print_json(result.record, pretty=flags["pretty"])


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
@handle_errors
def validate_command(repo: str, as_json: bool, **flags: Any) -> None:
    """Check the registry, decision and telemetry; say which layout was used and why.

    Exit 0 when everything is valid, 1 when anything is not (every problem is listed).

    \b
    Examples:
      reconcile validate --repo .
      reconcile validate --repo . --registry-file policies/registry.json --json
    """
    from reconciler import inspection, render
    from reconciler.adapters.clock import system_clock

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
