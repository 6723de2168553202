"""`reconcile intent`: write intent files (what an operator opens a pull request with)."""

from __future__ import annotations

import shlex
import sys

import click

from reconciler.commands.edge import fleet_option, handle_errors

INTENT_CHOICES = ("expand", "resume", "rollback", "adopt")


@click.group("intent")
def intent_group() -> None:
    """Write intent files (what an operator opens a pull request with)."""


@intent_group.command("new")
@click.argument("intent", type=click.Choice(INTENT_CHOICES))
@click.option("--by", "by", metavar="ACTOR", help="Who asks for the change (required).")
@click.option("--approval-ref", metavar="REF", help="Change ticket, e.g. CAB-123 (required).")
@click.option("--rationale", metavar="TEXT", help="Why (required).")
@click.option(
    "--review-by",
    metavar="TIME",
    help="Review deadline: RFC 3339, or from now, e.g. 7d (required; the file holds the time).",
)
@click.option("--step", type=int, metavar="N", help="Percent to add, expand only (default 25).")
@click.option(
    "--to-percent",
    metavar="N|previous",
    help="Rollback only: also lower the canary to N (0..100), or to its value before the last "
    "expand that raised it (previous).",
)
@click.option("--idempotency-key", metavar="KEY", help="Default: the file name's stem.")
@click.option(
    "--expect-decision-trace-id", metavar="ID", help="Refuse unless the decision has this id."
)
@click.option("--loop-id", metavar="ID", help="Seam field: loop this change concerns.")
@click.option("--horizon-ref", metavar="REF", help="Seam field: horizon reference.")
@click.option("--evidence-ref", metavar="REF", multiple=True, help="Evidence (repeatable).")
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@fleet_option
@click.option("--json", "as_json", is_flag=True, help='Print {"path": ..., "intent": {...}}.')
@handle_errors
def new_command(
    intent: str,
    by: str | None,
    approval_ref: str | None,
    rationale: str | None,
    review_by: str | None,
    step: int | None,
    to_percent: str | None,
    idempotency_key: str | None,
    expect_decision_trace_id: str | None,
    loop_id: str | None,
    horizon_ref: str | None,
    evidence_ref: tuple[str, ...],
    repo: str,
    fleet: str | None,
    as_json: bool,
) -> None:
    """Write a new, checked intent file; print its path.

    The file is named `<UTC time>-<intent>-<approval ref>.yaml` and never overwrites one;
    it is checked with the reconciler's own parser first, and an expand against the fleet's
    guards.maxExpandStep (exit 1 and a reason code if it would be rejected). The folder is
    `intentsDir` from reconciler.yaml, else policies/intents (or the bash tool's
    .superloop/ops-manager/fleet/intents). With several fleets it is the --fleet's intents
    folder (policies/fleets/<id>/intents) and the file says `fleet: <id>`.

    \b
    Examples:
      reconcile intent new expand --step 25 --by alice --approval-ref CAB-123 \\
        --rationale "gates green 7 days" --review-by 7d
      reconcile intent new rollback --by bob --approval-ref INC-9 \\
        --rationale "error spike" --review-by 7d --json
      reconcile intent new rollback --to-percent 10 --by bob --approval-ref INC-9 \\
        --rationale "error spike" --review-by 7d
      reconcile intent new expand --fleet prod-eu --step 10 --by alice \\
        --approval-ref CAB-124 --rationale "staging soaked" --review-by 7d
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    from reconciler.adapters.clock import system_clock
    from reconciler.core import intent_writing
    from reconciler.loop import intent_files
    from reconciler.render import json_output

    request = intent_writing.IntentRequest(
        intent=intent,
        actor=by,
        approval_ref=approval_ref,
        rationale=rationale,
        review_by=review_by,
        expand_step=step,
        to_percent=to_percent or None,
        idempotency_key=idempotency_key,
        expect_decision_trace_id=expect_decision_trace_id,
        loop_id=loop_id,
        horizon_ref=horizon_ref,
        evidence_refs=evidence_ref,
    )
    written = intent_files.write_intent_file(repo, request, system_clock(), fleet=fleet)
    if as_json:
        doc = intent_writing.intent_document(written.intent)
        sys.stdout.write(json_output.document({"path": written.path, "intent": doc}))
    else:
        sys.stdout.write(written.path + "\n")
    sys.stderr.write(
        f"next: git add {shlex.quote(written.path)} && git commit, open a pull request; "
        "CI runs reconcile plan\n"
    )
