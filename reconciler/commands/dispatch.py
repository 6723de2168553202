"""`reconcile dispatch`: dry_run, apply or rollback in one step (the dispatch workflow)."""

from __future__ import annotations

import os
import sys

import click

from reconciler.commands.edge import EXIT_REJECTED, EXIT_RETRYABLE, fleet_option, handle_errors


@click.command("dispatch")
@click.option(
    "--mode", type=click.Choice(["dry_run", "apply", "rollback"]), required=True, help="What to do."
)
@click.option(
    "--apply-intent",
    type=click.Choice(["expand", "resume"]),
    help="For apply (and dry_run): expand (default) or resume; ignored for rollback.",
)
@click.option(
    "--expand-step",
    metavar="N",
    help="Percent for expand, 1..100 (25); ignored (whatever it holds) otherwise.",
)
@click.option(
    "--to-percent",
    metavar="N|previous",
    help="For rollback: also lower the canary to N (0..100), or to its value before the last "
    "expand that raised it (previous); refused with another mode.",
)
@click.option(
    "--by", "by", metavar="ACTOR", help="governance.actor (required for apply and rollback)."
)
@click.option("--approval-ref", metavar="REF", help="Change ticket (required, as --by).")
@click.option("--rationale", metavar="TEXT", help="Why (required, as --by).")
@click.option(
    "--review-by", metavar="TIME", help="Review deadline: RFC 3339, or from now, e.g. 7d (as --by)."
)
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="The intent's key (default: new each time); a retry with the same key replays.",
)
@click.option("--repo", metavar="PATH", default=".", show_default=True, help="Policy repository.")
@fleet_option
@click.option("--push", is_flag=True, help="Fetch before and push after the pass.")
@click.option("--result-file", metavar="PATH", help="Write the result JSON here.")
@click.option(
    "--summary-file",
    metavar="PATH",
    help="Write the Markdown summary here (default: $GITHUB_STEP_SUMMARY when set).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON on stdout.")
@handle_errors
def dispatch_command(**flags: object) -> None:
    """Preview, apply or roll back in one step: the manual orchestration path.

    dry_run evaluates a would-be intent on top of the current state and pending intents
    and writes nothing but the result; apply and rollback write the intent file and run
    one pass (pushing with --push). With several fleets, --fleet names the one: the intent
    goes to its intents folder (with `fleet: <id>`) and the pass reconciles that fleet
    only. Governance flags are required for apply and rollback;
    a dry_run previews without them (placeholders) or checks them when given. Result
    status: preview, applied, rolled_back, deferred (a progression guard holds it: nothing
    is written, the result says why and notBefore) or rejected. Exit 0, or 3 when rejected,
    1 on error, 75 when retryable (deferred, lock busy, remote unreachable, every push
    attempt lost).

    \b
    Examples:
      reconcile dispatch --mode dry_run --apply-intent expand --expand-step 25
      reconcile dispatch --mode rollback --by bob --approval-ref INC-9 \\
        --rationale "error spike" --review-by 7d --push
      reconcile dispatch --mode rollback --to-percent previous --by bob \\
        --approval-ref INC-9 --rationale "error spike" --review-by 7d --push
      reconcile dispatch --mode apply --expand-step 10 --by alice --approval-ref CAB-7 \\
        --rationale "gates green" --review-by 7d --idempotency-key cab-7 --push
      reconcile dispatch --fleet prod-eu --mode rollback --by bob --approval-ref INC-9 \\
        --rationale "error spike" --review-by 7d --push
    """  # noqa: D301 - click's \b marker needs a real backspace, not a raw docstring
    from reconciler.adapters import files
    from reconciler.adapters.clock import system_clock
    from reconciler.loop.dispatch import DispatchArgs, dispatch
    from reconciler.render import json_output, markdown, text
    from reconciler.reports.auditing import auditor

    args = DispatchArgs(
        mode=str(flags["mode"]),
        apply_intent=_text(flags["apply_intent"]),
        expand_step=_expand_step(str(flags["mode"]), _text(flags["apply_intent"]), flags),
        actor=_text(flags["by"]),
        approval_ref=_text(flags["approval_ref"]),
        rationale=_text(flags["rationale"]),
        review_by=_text(flags["review_by"]),
        repo=str(flags["repo"]),
        push=bool(flags["push"]),
        idempotency_key=_text(flags["idempotency_key"]),
        to_percent=_text(flags["to_percent"]),
        audit=auditor(str(flags["repo"])),
        fleet=_text(flags["fleet"]),
    )
    result = dispatch(args, now=system_clock)
    result_file = _text(flags["result_file"])
    if result_file:  # the same document as --json
        files.atomic_write(result_file, json_output.document(result).encode("utf-8"), durable=False)
    summary_file = _text(flags["summary_file"])
    target = summary_file or os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        document = markdown.dispatch_markdown(result).encode("utf-8")
        if summary_file:
            files.atomic_write(target, document, durable=False)
        else:
            files.append(target, document)
    sys.stdout.write(
        json_output.document(result) if flags["as_json"] else text.dispatch_text(result)
    )
    if result["status"] == "rejected" or result["predicted"] == "rejected":
        sys.exit(EXIT_REJECTED)
    if result["status"] == "deferred":
        sys.exit(EXIT_RETRYABLE)


def _expand_step(mode: str, apply_intent: str | None, flags: dict[str, object]) -> int | None:
    """The step as an int for an expand; for anything else None, unchecked.

    The dispatch workflow passes its expand_step input in every mode, so a rollback in an
    incident must not fail on whatever that field holds.
    """
    value = flags["expand_step"]
    if value is None or mode == "rollback" or (apply_intent or "expand") != "expand":
        return None
    ctx = click.get_current_context()
    param = next(param for param in ctx.command.params if param.name == "expand_step")
    step: int = click.IntRange(1, 100)(value, param, ctx)
    return step


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
