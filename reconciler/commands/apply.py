"""`reconcile apply`: one intent applied now (the bash tool's drop-in); prints its record."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from reconciler.commands.edge import (
    fleet_option,
    handle_errors,
    new_trace_id,
    path_flags,
    path_options,
)

if TYPE_CHECKING:
    from reconciler.core.applying import ApplyArgs


@click.command("apply")
@click.option("--repo", metavar="PATH", help="Policy repository (required).")
@click.option("--intent", metavar="expand|resume|rollback", help="What to change.")
@click.option("--expand-step", metavar="N", help="Percent to add for expand (1..100, default 25).")
@click.option(
    "--to-percent",
    metavar="N|previous",
    help="Rollback only: also lower the canary to N (0..100), or to what it was before the "
    "last expand that raised it (previous).",
)
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
@fleet_option
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
      reconcile apply --repo . --intent rollback --to-percent previous --by bob \\
        --approval-ref INC-9 --rationale "error spike" --review-by 7d
    """
    from reconciler.adapters.clock import system_clock
    from reconciler.apply import running
    from reconciler.render import json_output

    options = running.ApplyOptions(
        repo=flags["repo"],
        paths=path_flags(flags),
        max_decision_age=flags["max_decision_age"],
        lock_timeout=flags["lock_timeout"],
        fleet=flags["fleet"],
    )
    args = _apply_args(flags)
    result = running.run_apply(args, options, now=system_clock, new_trace_id=new_trace_id)
    # Only for a person at a terminal: callers that merge stderr into stdout (`2>&1`, the bash
    # tool's test harness) must still get one JSON document; the reason code is the signal.
    if sys.stderr.isatty():
        _warn_about_key(result.record, result.mismatch, args.idempotency_key)
        _warn_about_target(result.record, result.replayed)
        if not result.replayed and "telemetry_not_appended" in result.record["reasonCodes"]:
            _warn(
                f"the telemetry file {result.layout.fleet.telemetry} is not JSON "
                "lines, so this rollback's record was not appended to it (it is in the apply "
                "state file and below); repair the file (git history has the original)"
            )
    # Compact like the bash tool's `jq -c` (its callers read one line); --pretty indents.
    sys.stdout.write((json_output.document if flags["pretty"] else json_output.line)(result.record))


def _warn(message: str) -> None:
    from reconciler.render.diagnostics import warning_text

    sys.stderr.write(warning_text(message))


def _warn_about_key(record: dict[str, Any], mismatch: bool, key: str | None) -> None:
    from reconciler.core.reasons import ReasonCode

    if mismatch:
        first = record.get("intent")
        step, target = record.get("expandStep"), record.get("toPercent")
        asked = f" by {step}%" if step else ""
        if target is not None:
            asked = f" to {target}{'%' if isinstance(target, int) else ''}"
        _warn(
            f"idempotency key {json.dumps(key)} was first used for a different "
            f"request ({first}{asked}); replaying the recorded result, nothing was changed"
        )
    elif ReasonCode.IDEMPOTENCY_REPLAY_OVERRIDDEN in record.get("reasonCodes", []):
        _warn(
            f"idempotency key {json.dumps(key)} was used before, but the fleet was not paused; "
            "the rollback was applied as a new mutation"
        )
    if record.get("warnings"):
        _warn(
            "the fleet registry is invalid outside the fields a rollback writes; the rollback "
            "was applied anyway (fix these):"
        )
        sys.stderr.writelines(f" - {warning}\n" for warning in record["warnings"])


def _warn_about_target(record: dict[str, Any], replayed: bool) -> None:
    from reconciler.core.reasons import ReasonCode

    if replayed:
        return  # the earlier record's notes were shown when it was made
    codes = record.get("reasonCodes", [])
    canary = record["rollout"]["after"]["canaryPercent"]
    if ReasonCode.ROLLBACK_TARGET_ABOVE_CURRENT in codes:
        _warn(
            f"--to-percent {record.get('toPercent')} is above the current canary ({canary}%); "
            "the fleet was paused and the canary left as it is"
        )
    elif ReasonCode.ROLLBACK_TARGET_UNKNOWN in codes:
        _warn(
            "--to-percent previous: the telemetry holds no applied expand that raised the canary "
            f"(or cannot be read); the fleet was paused and the canary left at {canary}%"
        )


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
        to_percent=flags["to_percent"],
    )
