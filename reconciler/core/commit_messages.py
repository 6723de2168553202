"""Commit messages of the loop (core layer): a scannable subject, a short body, trailers.

`git log --oneline` reads as an audit log (`expand fleet-a canary 25% -> 50% (CAB-123)`),
and the trailers (`git interpret-trailers` format) make every commit machine-readable:
`git log --format='%(trailers:key=Trace-Id,valueonly)'` finds the apply for an intent commit,
and `reconcile history` reads them all from one `git log`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from reconciler.core import guards
from reconciler.core.passes import Outcome, as_text
from reconciler.core.reasons import ReasonCode
from reconciler.core.trailers import TRAILER_KEYS, parse_trailers

__all__ = ["TRAILER_KEYS", "commit_message", "commit_subject", "commit_trailers", "parse_trailers"]

SUBJECT_LIMIT = 100
_KNOWN_CODES = frozenset(str(code) for code in ReasonCode)
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]+")
"""Control characters and every other line break Python's splitlines() knows."""

_SHORT_REASONS = {
    ReasonCode.PROMOTION_DECISION_STALE: "decision stale",
    ReasonCode.PROMOTION_DECISION_FUTURE: "decision from the future",
    ReasonCode.PROMOTION_DECISION_TRACE_MISMATCH: "decision trace mismatch",
    ReasonCode.PROMOTION_STATE_MISSING: "no promotion decision",
    ReasonCode.PROMOTION_STATE_INVALID: "promotion decision unreadable",
    ReasonCode.PROMOTION_DECISION_MISSING: "promotion decision empty",
    ReasonCode.REGISTRY_NOT_GUARDED_AUTO: "fleet not in guarded_auto",
    ReasonCode.REGISTRY_INVALID: "registry invalid",
    ReasonCode.REGISTRY_MUTATION_INVALID: "result would be invalid",
    ReasonCode.REGISTRY_EDIT_FAILED: "registry edit failed",
    ReasonCode.INTENT_REVIEW_BY_PAST: "reviewBy in the past",
    ReasonCode.INTENT_GOVERNANCE_MISSING: "governance missing",
    ReasonCode.INTENT_UNKNOWN_FIELD: "unknown field",
    ReasonCode.INTENT_FIELD_INVALID: "invalid field",
    ReasonCode.INTENT_FLEET_MISMATCH: "fleet mismatch",
    ReasonCode.FLEET_ID_MISMATCH: "registry fleetId mismatch",
    ReasonCode.INTENT_YAML_INVALID: "not valid YAML",
    ReasonCode.INTENT_ALIAS_LIMIT: "YAML aliases refused",
    ReasonCode.INTENT_TOO_LARGE: "file too large",
    ReasonCode.INTENT_NOT_UTF8: "not UTF-8",
    ReasonCode.INTENT_NOT_REGULAR_FILE: "not a regular file",
    ReasonCode.INTENT_NAME_INVALID: "invalid file name",
    ReasonCode.INTENT_EXPAND_STEP_OVER_LIMIT: "expandStep over the guards' limit",
    ReasonCode.SUPERSEDED_BY_ROLLBACK: "superseded by a rollback",
    ReasonCode.INTENT_DEFERRAL_EXPIRED: "deferred longer than maxDeferral",
    ReasonCode.GUARD_DECISION_PREDATES_CHANGE: "waiting for a newer decision",
    ReasonCode.GUARD_EXPAND_COOLDOWN: "expand cooldown",
    ReasonCode.GUARD_BUDGET_EXPANDS: "expand budget used up",
    ReasonCode.GUARD_BUDGET_PERCENT: "percent budget used up",
    ReasonCode.GUARD_FREEZE_WINDOW: "freeze window",
    ReasonCode.GUARD_OUTSIDE_ALLOW_WINDOW: "outside the allow windows",
    ReasonCode.GUARD_UPSTREAM_NOT_READY: "upstream not ready",
    ReasonCode.GUARD_SETTINGS_INVALID: "guards settings invalid",
    ReasonCode.FREEZE_FILE_INVALID: "freeze file invalid",
    ReasonCode.QUEUED_BEHIND_DEFERRED: "queued behind a deferred intent",
}


def one_line(value: object) -> str:
    """Return `value` as one line of text: control characters become single spaces.

    A non-UTF-8 byte of a file name (a surrogate escape) becomes U+FFFD: the message must be
    UTF-8.
    """
    return _CONTROL.sub(" ", as_text(str(value))).strip()


def _percent(value: object) -> str:
    return f"{value}%"


def commit_subject(outcome: Outcome) -> str:
    """Return the one-line subject, e.g. `expand fleet-a canary 25% -> 50% (CAB-123)`."""
    fleet = one_line(outcome.state.fleet_id or outcome.record.get("fleetId") or "fleet")
    intent = outcome.intent
    # With several fleets every subject names the fleet (the folder's: what the record says).
    stem = one_line(outcome.source.stem)
    if outcome.state.fleet_id is not None:
        stem = f"{stem} in {fleet}"
    if outcome.status == "rejected" or intent is None:
        subject = f"reject {stem}: {_short_reason(outcome)}"
    elif outcome.status == "deferred":  # never committed: what plan and status show
        subject = f"defer {stem}: {_short_reason(outcome)}"
    else:
        ref = f"({one_line(intent.approval_ref)})"
        before, after = outcome.before, outcome.after
        if outcome.status == "replayed":
            key = one_line(intent.idempotency_key)
            subject = f"replay {stem}: key {key} already applied {ref}"
        elif intent.intent == "expand":
            canary = f"{_percent(before['canaryPercent'])} -> {_percent(after['canaryPercent'])}"
            subject = f"expand {fleet} canary {canary} {ref}"
        elif intent.intent == "adopt":
            canary = f"canary {_percent(after['canaryPercent'])}"
            posture = "paused" if after["manualPause"] else "running"
            subject = f"adopt {fleet}: {canary}, {posture} as the new baseline {ref}"
        elif intent.intent == "resume":
            change = (
                "paused -> running"  # the words of every human output (docs/output.md)
                if before["manualPause"]
                else "already running, governance renewed"
            )
            subject = f"resume {fleet}: {change} {ref}"
        else:
            change = (
                "already paused, governance renewed"
                if before["manualPause"]
                else f"pause at canary {_percent(after['canaryPercent'])}"
            )
            if before["canaryPercent"] != after["canaryPercent"]:  # a toPercent lowered it
                lowered = (
                    f"{_percent(before['canaryPercent'])} -> {_percent(after['canaryPercent'])}"
                )
                change = f"canary {lowered}, {'already ' if before['manualPause'] else ''}paused"
            subject = f"rollback {fleet}: {change} {ref}"
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 3] + "..."
    return subject


def _short_reason(outcome: Outcome) -> str:
    record = outcome.record
    for code in outcome.reasons:
        if code == ReasonCode.PROMOTION_DECISION_NOT_PROMOTE:
            return f"decision {one_line(record.get('decision') or 'not promote')}"
        short = _SHORT_REASONS.get(ReasonCode(code)) if code in _KNOWN_CODES else None
        if short:
            return short
    return one_line(outcome.reasons[0]) if outcome.reasons else "rejected"


def commit_trailers(outcome: Outcome) -> list[tuple[str, str]]:
    """Return the trailers, in TRAILER_KEYS order; keys with no value are left out."""
    record = outcome.record
    fields = outcome.fields  # of a rejected file too: what could be read of it
    before, after = outcome.before, outcome.after
    values: Mapping[str, object] = {
        "Reconcile-Intent": outcome.source.path,
        "Reconcile-Status": outcome.status,
        "Reconcile-Action": outcome.action,
        "Fleet": outcome.state.fleet_id,
        "Idempotency-Key": record.get("idempotencyKey"),
        "Trace-Id": record.get("traceId"),
        "Decision": record.get("decision"),
        "Decision-Trace-Id": record.get("decisionTraceId"),
        "Actor": fields.actor,
        "Approval-Ref": fields.approval_ref,
        "Canary": f"{before['canaryPercent']} -> {after['canaryPercent']}",
        "Manual-Pause": f"{flag_text(before['manualPause'])} -> {flag_text(after['manualPause'])}",
        "Intent-Commit": outcome.source.intent_commit,
        "Reason-Codes": ", ".join(outcome.reasons),
    }
    trailers = []
    for key in TRAILER_KEYS:
        value = values[key]
        text = one_line(value) if value is not None else ""
        if text:
            trailers.append((key, text))
    return trailers


def flag_text(value: object) -> str:
    """A boolean as the trailers write it (`true`, `false`; anything else as one line)."""
    return "true" if value is True else "false" if value is False else one_line(value)


def commit_message(outcome: Outcome) -> str:
    """Return the whole message: subject, body (rationale, problems), trailers."""
    body: list[str] = []
    if outcome.intent is not None:
        body.append(_body_text(outcome.intent.rationale))
    if outcome.status == "replayed":
        body.append(
            "Replayed: this idempotency key was applied before; nothing changed but the "
            "apply-state file."
        )
    if outcome.status == "deferred":
        when = outcome.record.get("notBefore")
        body.append(
            "Deferred: nothing is committed; the file stays pending and is evaluated again "
            + (f"(not before {when})." if when else f"(it {guards.waiting_text(outcome.reasons)}).")
        )
    body.extend(f"- {one_line(problem)}" for problem in outcome.problems[:20])
    trailers = "\n".join(f"{key}: {value}" for key, value in commit_trailers(outcome))
    parts = [commit_subject(outcome), *(part for part in ("\n".join(body),) if part), trailers]
    return "\n\n".join(parts) + "\n"


def _body_text(text: str) -> str:
    # A line starting with "---" would end the message for git's trailer parser.
    lines = [one_line(line) for line in text.strip().splitlines()]
    return "\n".join(" " + line if line.startswith("---") else line for line in lines)
