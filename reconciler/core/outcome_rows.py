"""One evaluated intent as data: what `--once`, `plan`, `status` and `dispatch` print."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core import commit_messages
from reconciler.core.passes import Outcome, last_of_each


def outcome_row(outcome: Outcome, commit: str | None) -> dict[str, Any]:
    """Return the printable facts of one outcome (the JSON line of `--once --json`)."""
    fields = outcome.fields  # of a rejected file too: what could be read of it
    return {
        "type": "intent",
        "fleet": outcome.state.fleet_id,
        "intentFile": outcome.source.shown_path,
        "action": outcome.action,
        "status": outcome.status,
        "reasonCodes": list(outcome.reasons),
        "problems": list(outcome.problems),
        "idempotencyKey": outcome.record.get("idempotencyKey"),
        "traceId": outcome.trace_id,
        "canary": {
            "before": outcome.before["canaryPercent"],
            "after": outcome.after["canaryPercent"],
        },
        "manualPause": {
            "before": outcome.before["manualPause"],
            "after": outcome.after["manualPause"],
        },
        "actor": fields.actor,
        "approvalRef": fields.approval_ref,
        "decision": outcome.record.get("decision"),
        "intentCommit": outcome.source.intent_commit,
        "commit": commit or None,
        "notBefore": outcome.record.get("notBefore") if outcome.status == "deferred" else None,
        "subject": commit_messages.commit_subject(outcome),
        "trailers": dict(commit_messages.commit_trailers(outcome)),
    }


def final_rows(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each intent file's last row, in order (`passes.final_outcomes` of rows): what counts.

    A file deferred, then superseded by a rollback, counts once, as rejected.
    """
    return last_of_each(rows, lambda row: row["intentFile"])
