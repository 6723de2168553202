"""Relative deadlines (`--review-by 7d`): resolved against the `now` the caller passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core.intents import IntentRejected, parse_intent
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp, is_relative_deadline, resolve_deadline

NOW = datetime(2026, 11, 24, 12, 0, 0, 750000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", "2026-12-01T12:00:00Z"),
        ("36h", "2026-11-26T00:00:00Z"),
        ("1d12h", "2026-11-26T00:00:00Z"),
        ("90m", "2026-11-24T13:30:00Z"),
        ("1.5d", "2026-11-26T00:00:00Z"),
        ("2026-12-31T00:00:00Z", "2026-12-31T00:00:00Z"),
        ("2026-12-31T01:00:00+01:00", "2026-12-31T00:00:00Z"),
    ],
)
def test_a_deadline_is_an_rfc3339_time_or_now_plus_a_duration(text: str, expected: str) -> None:
    moment = resolve_deadline(text, NOW)
    assert moment is not None
    assert format_timestamp(moment) == expected


def test_a_relative_deadline_follows_the_clock_it_is_given() -> None:
    later = NOW + timedelta(days=3)
    assert resolve_deadline("7d", later) == later + timedelta(days=7)


@pytest.mark.parametrize(
    "text",
    ["7", "-7d", "+7d", "7 d", " 7d", "7d ", "7w", "d", "", "7D", "99999999999d", "٧d", None, 7],
)
def test_anything_else_is_not_a_deadline(text: object) -> None:
    assert resolve_deadline(text, NOW) is None


def test_only_durations_with_units_are_relative() -> None:
    assert is_relative_deadline("7d") and is_relative_deadline("1d12h")
    assert not is_relative_deadline("7") and not is_relative_deadline("2026-12-31T00:00:00Z")


def intent_file(review_by: str) -> str:
    return (
        "intent: expand\nexpandStep: 25\ngovernance:\n  actor: alice\n  approvalRef: CAB-1\n"
        f"  rationale: why\n  reviewBy: {review_by}\n"
    )


def test_a_relative_review_by_in_an_intent_file_is_rejected_with_a_pointer_to_the_flag() -> None:
    with pytest.raises(IntentRejected) as caught:
        parse_intent(intent_file("7d"), "a.yaml", NOW)

    (problem,) = caught.value.problems
    assert problem.reason == ReasonCode.INTENT_FIELD_INVALID
    assert problem.message == (
        "governance.reviewBy must be an RFC 3339 timestamp, not a relative '7d': "
        "`reconcile intent new --review-by 7d` writes the time it means"
    )


def test_an_absolute_review_by_in_an_intent_file_is_kept_in_canonical_form() -> None:
    intent = parse_intent(intent_file("2026-12-31T01:00:00+01:00"), "a.yaml", NOW)
    assert intent.review_by == "2026-12-31T00:00:00Z"
