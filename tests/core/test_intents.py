"""Intent files: valid ones parse with defaults; every invalid one is rejected with reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.intents import INTENT_LIMIT, IntentRejected, decode_intent, parse_intent

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NAME = "20261124T0930Z-expand-canary.yaml"
GOVERNANCE = """\
governance:
  actor: alice
  approvalRef: CAB-123
  rationale: Promotion gates green for 7 days
  reviewBy: 2026-12-31T00:00:00Z
"""


def rejected(text: str | bytes) -> IntentRejected:
    with pytest.raises(IntentRejected) as caught:
        if isinstance(text, bytes):
            decode_intent(text, NAME, NOW)
        else:
            parse_intent(text, NAME, NOW)
    return caught.value


def test_the_documented_example_parses_with_every_field() -> None:
    text = (
        "# policies/intents/20261124T0930Z-expand-canary.yaml\n"
        "intent: expand            # expand | resume | rollback\nexpandStep: 25\n"
        + GOVERNANCE
        + "idempotencyKey: cab-123-expand\ntraceId: t-1\nexpectDecisionTraceId: gates-1\n"
        "loopId: loop-a\nhorizonRef: HZ-fleet-1\nevidenceRefs: [artifact://promotion-window]\n"
    )
    intent = parse_intent(text, NAME, NOW)
    assert intent.intent == "expand"
    assert intent.expand_step == 25
    assert (intent.actor, intent.approval_ref) == ("alice", "CAB-123")
    assert intent.review_by == "2026-12-31T00:00:00Z"
    assert intent.idempotency_key == "cab-123-expand"
    assert intent.expect_decision_trace_id == "gates-1"
    assert intent.evidence_refs == ("artifact://promotion-window",)


def test_defaults_are_the_step_25_and_the_file_name_as_key() -> None:
    intent = parse_intent("intent: expand\n" + GOVERNANCE, NAME, NOW)
    assert intent.expand_step == 25
    assert intent.idempotency_key == "20261124T0930Z-expand-canary"
    assert intent.trace_id is None and intent.evidence_refs == ()


@pytest.mark.parametrize(
    ("text", "reasons", "message"),
    [
        ("intent: expnad\n" + GOVERNANCE, ["intent_field_invalid"],
         "intent must be one of expand, resume, rollback, adopt"),
        ("intent: expand\nexpandStp: 10\n" + GOVERNANCE, ["intent_unknown_field"],
         'unknown field "expandStp"'),
        ("intent: resume\nexpandStep: 10\n" + GOVERNANCE, ["intent_field_invalid"],
         "expandStep is only allowed with intent expand (not resume)"),
        ("intent: expand\nexpandStep: true\n" + GOVERNANCE, ["intent_field_invalid"],
         "expandStep must be an integer between 1 and 100"),
        ("intent: expand\nexpandStep: 101\n" + GOVERNANCE, ["intent_field_invalid"],
         "expandStep must be an integer between 1 and 100"),
        ("intent: expand\n", ["intent_governance_missing"], "governance is required"),
        ("intent: expand\n" + GOVERNANCE.replace("  actor: alice\n", ""),
         ["intent_governance_missing"], "governance.actor is required"),
        ("intent: expand\n" + GOVERNANCE.replace("2026-12-31", "2026-01-01"),
         ["intent_review_by_past"], "governance.reviewBy must be in the future"),
        ("intent: expand\n" + GOVERNANCE.replace("2026-12-31T00:00:00Z", "soon"),
         ["intent_field_invalid"], "governance.reviewBy must be an RFC 3339 timestamp"),
        ("intent: expand\n" + GOVERNANCE + "  ticket: x\n", ["intent_unknown_field"],
         'unknown field "governance.ticket"'),
        ("intent: expand\nloopId: 5\n" + GOVERNANCE, ["intent_field_invalid"],
         "loopId must be a non-empty string"),
        ("intent: expand\nevidenceRefs: x\n" + GOVERNANCE, ["intent_field_invalid"],
         "evidenceRefs must be a list of non-empty strings"),
        ("- intent: expand\n", ["intent_yaml_invalid"], "intent file must be a YAML mapping"),
        ("intent: expand\nintent: rollback\n", ["intent_yaml_invalid"], None),
        ("a: &x [1]\nb: *x\n", ["intent_alias_limit"], None),
        ("intent: [unclosed\n", ["intent_yaml_invalid"], None),
    ],
    ids=[
        "typo-in-intent", "unknown-field", "step-on-resume", "bool-step", "step-101",
        "no-governance", "no-actor", "review-by-past", "review-by-garbage",
        "unknown-governance-field", "wrong-type-seam-field", "evidence-not-a-list",
        "not-a-mapping", "duplicate-key", "alias", "syntax",
    ],
)  # fmt: skip
def test_an_invalid_intent_is_rejected_with_its_reason_code(
    text: str, reasons: list[str], message: str | None
) -> None:
    error = rejected(text)
    assert error.reasons == reasons
    if message is not None:
        assert [problem.message for problem in error.problems] == [message]


def test_every_problem_of_one_file_is_reported_at_once() -> None:
    error = rejected("intent: grow\ncolour: red\nexpandStep: 0\n")
    assert error.reasons == [
        "intent_field_invalid", "intent_governance_missing", "intent_unknown_field"
    ]  # fmt: skip
    assert len(error.problems) == 4


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"intent: expand\n" + b"#" * INTENT_LIMIT, "intent_too_large"),
        (b"intent: expand\xff\n", "intent_not_utf8"),
        (b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "intent_alias_limit"),
        (b"[" * 50000, "intent_yaml_invalid"),
    ],
    ids=["too-large", "invalid-utf8", "billion-laughs", "deep-nesting"],
)
def test_hostile_bytes_are_rejected(data: bytes, reason: str) -> None:
    assert rejected(data).reasons == [reason]


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_give_an_intent_or_a_rejection_never_an_exception(data: bytes) -> None:
    try:
        decode_intent(data, NAME, NOW)
    except IntentRejected as exc:
        assert exc.problems and all(problem.message for problem in exc.problems)


# What a rejected file keeps -------------------------------------------------------------------


def test_a_rejected_file_keeps_the_fields_that_could_be_read() -> None:
    text = (
        "intent: expand\nexpandStep: 500\ngovernance:\n  actor: bob\n  approvalRef: CAB-9\n"
        "  rationale: '   '\n  reviewBy: 2026-03-01T01:00:00+01:00\nloopId: loop-a\n"
        "idempotencyKey: cab-9\ntraceId: ''\nevidenceRefs: [artifact://x]\n"
    )
    fields = rejected(text).fields
    assert fields.intent == "expand"
    assert fields.expand_step is None  # 500 is not a step
    assert (fields.actor, fields.approval_ref) == ("bob", "CAB-9")
    assert fields.rationale is None  # blank: names nothing
    assert fields.review_by == "2026-03-01T00:00:00Z"  # past, but readable: canonical
    assert (fields.loop_id, fields.idempotency_key, fields.trace_id) == ("loop-a", "cab-9", None)
    assert fields.evidence_refs == ("artifact://x",)


@pytest.mark.parametrize(
    ("text", "intent", "step"),
    [
        ("intent: grow\nexpandStep: 30\n", None, None),
        ("intent: expand\nexpandStep: 30\ntypo: 1\n", "expand", 30),
        ("intent: resume\nexpandStep: 30\n", "resume", None),
        ("- intent: expand\n", None, None),
    ],
    ids=["unknown-intent", "valid-step", "stray-step", "not-a-mapping"],
)
def test_only_a_known_intent_and_a_valid_step_are_kept(
    text: str, intent: str | None, step: int | None
) -> None:
    fields = rejected(text).fields
    assert (fields.intent, fields.expand_step, fields.actor) == (intent, step, None)


def test_a_review_by_that_is_not_a_time_is_not_kept() -> None:
    text = "intent: rollback\n" + GOVERNANCE.replace("2026-12-31T00:00:00Z", "next week")
    fields = rejected(text).fields
    assert (fields.intent, fields.actor, fields.review_by) == ("rollback", "alice", None)


def test_a_long_relative_review_by_is_shown_shortened_in_the_rejection() -> None:
    # The message goes into the reject commit, its record and the table: a file near
    # INTENT_LIMIT must not put its value there twice in full.
    value = "1" * 30000 + "d"
    text = GOVERNANCE.replace("2026-12-31T00:00:00Z", f'"{value}"')

    (problem,) = rejected("intent: rollback\n" + text).problems

    assert str(problem.reason) == "intent_field_invalid"
    assert "not a relative" in problem.message
    assert len(problem.message) < 300
