"""Intent files as `reconcile intent new` writes them (core layer): file name and YAML text.

Pure: the caller passes `now` and writes the file. Every text is emitted as a YAML
double-quoted scalar, so any value (quotes, `: `, `#`, newlines, unicode) reads back exactly,
and the result is checked with `parse_intent`, the loop's own parser, before it is returned.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import NamedTuple

import yaml

from reconciler.core.applying import DEFAULT_EXPAND_STEP, parse_to_percent
from reconciler.core.errors import RefusalError
from reconciler.core.intents import Intent, IntentRejected, parse_intent
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp, is_relative_deadline, resolve_deadline

SLUG_LIMIT = 40
"""Longest approval-ref slug kept in a file name, in characters."""
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class IntentRequest(NamedTuple):
    """What the operator asked for, as given on the command line (None: not given)."""

    intent: str
    actor: str | None
    approval_ref: str | None
    rationale: str | None
    review_by: str | None
    expand_step: int | None = None
    idempotency_key: str | None = None
    expect_decision_trace_id: str | None = None
    loop_id: str | None = None
    horizon_ref: str | None = None
    evidence_refs: tuple[str, ...] = ()
    to_percent: str | None = None
    """`--to-percent`, rollback only: `0`..`100` or `previous` (checked by build_intent_file)."""
    fleet: str | None = None
    """The fleet of several whose folder gets the file (its `fleet:`); None: one fleet."""


class IntentFile(NamedTuple):
    """A checked intent file: its base name, its text and what the loop will read from it."""

    name: str
    text: str
    intent: Intent


def intent_file_stem(request: IntentRequest, now: datetime, suffix: str) -> str:
    """Return `<UTC YYYYmmddTHHMMSSZ>-<intent>-<approval-ref slug>-<suffix>`.

    E.g. `20261124T093042Z-expand-cab-123-3f9a1c`. The stem is the intent's default
    idempotency key, so it must be unique per request: `suffix` is a short random token from
    the caller (`reports.intent_files.new_suffix`), so two identical requests, even in the
    same second, get two keys.
    """
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = _NOT_SLUG.sub("-", (request.approval_ref or "").lower()).strip("-")
    slug = slug[:SLUG_LIMIT].rstrip("-")
    return "-".join(part for part in (stamp, request.intent, slug, suffix) if part)


def candidate_names(stem: str) -> list[str]:
    """Return the file names to try in order: `<stem>.yaml`, `<stem>-2.yaml`, ... `-99`."""
    return [f"{stem}.yaml", *(f"{stem}-{n}.yaml" for n in range(2, 100))]


def render_intent(request: IntentRequest, now: datetime) -> str:
    """Return the YAML text of the intent file (comment header, documented key order)."""
    review_by = request.review_by
    if review_by is not None:
        # `7d` becomes now + 7 days: the file holds the absolute time (the loop refuses a
        # relative one, which would name a new moment on every pass). The parser reports bad
        # values.
        resolved = resolve_deadline(review_by, now)
        review_by = review_by if resolved is None else format_timestamp(resolved)
    step = request.expand_step
    if step is None and request.intent == "expand":
        step = DEFAULT_EXPAND_STEP  # explicit, so the pull request shows the step
    lines = [
        f"# Rollout intent, written by `reconcile intent new` at {format_timestamp(now)}.",
        "# Commit it and open a pull request (CI runs `reconcile plan`); once merged, the",
        "# reconciler applies it once and moves it to applied/ (or rejected/, with the reasons).",
        f"intent: {_quoted(request.intent)}",
    ]
    if request.fleet is not None:
        # Said in the file too, so a file moved to another fleet's folder is rejected
        # (intent_fleet_mismatch) rather than applied to a fleet its author did not name.
        lines.append(f"fleet: {_quoted(request.fleet)}")
    if step is not None:
        lines.append(f"expandStep: {int(step)}")
    if request.to_percent is not None:
        target = request.to_percent
        number = re.fullmatch(r"[0-9]{1,6}", target)
        lines.append(f"toPercent: {int(target) if number else _quoted(target)}")
    lines.append("governance:")
    for key, value in (
        ("actor", request.actor),
        ("approvalRef", request.approval_ref),
        ("rationale", request.rationale),
        ("reviewBy", review_by),
    ):
        if value is not None:
            lines.append(f"  {key}: {_quoted(value)}")
    for key, value in (
        ("idempotencyKey", request.idempotency_key),
        ("expectDecisionTraceId", request.expect_decision_trace_id),
        ("loopId", request.loop_id),
        ("horizonRef", request.horizon_ref),
    ):
        if value is not None:
            lines.append(f"{key}: {_quoted(value)}")
    if request.evidence_refs:
        lines.append("evidenceRefs:")
        lines.extend(f"  - {_quoted(ref)}" for ref in request.evidence_refs)
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    # A double-quoted scalar on one line: PyYAML escapes newlines, control and non-printable
    # characters, so the text reads back exactly whatever it holds.
    text: str = yaml.safe_dump(
        value, default_style='"', allow_unicode=True, width=float("inf"), explicit_end=False
    )
    return text.rstrip("\n")


def build_intent_file(request: IntentRequest, name: str, now: datetime) -> IntentFile:
    """Render the intent file `name` and check it with the loop's parser.

    Raises:
        RefusalError: an argument is not UTF-8 text (argument_not_utf8), a `--to-percent`
            that is not 0..100 or `previous` or not on a rollback (to_percent_invalid), a
            relative review-by lies beyond year 9999 (intent_field_invalid), or the file would
            be rejected; the reason is the parser's first code (e.g. intent_governance_missing),
            every problem is a detail line.
    """
    _check_utf8(request)
    _check_to_percent(request)
    review_by = request.review_by
    if is_relative_deadline(review_by) and resolve_deadline(review_by, now) is None:
        # Else the file keeps the text and the parser's advice is to run this very command.
        assert isinstance(review_by, str)
        shown = review_by if len(review_by) <= 40 else review_by[:37] + "..."
        raise RefusalError(
            ReasonCode.INTENT_FIELD_INVALID,
            "the intent would be rejected; nothing was written",
            details=[f"governance.reviewBy: --review-by {shown} lies beyond year 9999"],
        )
    text = render_intent(request, now)
    try:
        intent = parse_intent(text, name, now)
    except IntentRejected as exc:
        raise RefusalError(
            exc.problems[0].reason,
            "the intent would be rejected; nothing was written",
            details=[problem.message for problem in exc.problems],
        ) from None
    if intent.notes:
        # The loop would apply a rollback despite a stray --step; a new file is written clean.
        raise RefusalError(
            intent.notes[0].reason,
            "the intent has a field its intent does not take; nothing was written",
            details=[note.message for note in intent.notes],
        )
    return IntentFile(name, text, intent)


def _check_to_percent(request: IntentRequest) -> None:
    """A bad `--to-percent` is a typo at the command line: refused, nothing written."""
    if request.to_percent is None:
        return
    if request.intent != "rollback":
        raise RefusalError(
            ReasonCode.TO_PERCENT_INVALID, "--to-percent is only allowed with rollback"
        )
    parse_to_percent(request.to_percent)


def _check_utf8(request: IntentRequest) -> None:
    values = [value for value in request if isinstance(value, str)]
    for value in [*values, *request.evidence_refs]:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RefusalError(
                ReasonCode.ARGUMENT_NOT_UTF8,
                f"argument is not valid UTF-8 text: {value.encode('utf-8', 'replace')[:60]!r}",
            ) from None


def intent_document(intent: Intent) -> dict[str, object]:
    """Return what the loop will read, in the file's shape (defaults applied, unset left out)."""
    doc: dict[str, object] = {"intent": intent.intent}
    if intent.intent == "expand":
        doc["expandStep"] = intent.expand_step
    if intent.to_percent is not None:
        doc["toPercent"] = intent.to_percent
    doc["governance"] = {
        "actor": intent.actor,
        "approvalRef": intent.approval_ref,
        "rationale": intent.rationale,
        "reviewBy": intent.review_by,
    }
    doc["idempotencyKey"] = intent.idempotency_key
    optional = {
        "traceId": intent.trace_id,
        "expectDecisionTraceId": intent.expect_decision_trace_id,
        "loopId": intent.loop_id,
        "horizonRef": intent.horizon_ref,
        "fleet": intent.fleet,
    }
    doc.update({key: value for key, value in optional.items() if value is not None})
    if intent.evidence_refs:
        doc["evidenceRefs"] = list(intent.evidence_refs)
    return doc
