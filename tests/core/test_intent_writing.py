"""`intent_writing.build_intent_file`: a relative --review-by that cannot be resolved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.intent_writing import IntentRequest, build_intent_file

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def request(review_by: str) -> IntentRequest:
    return IntentRequest("rollback", "bob", "INC-9", "why", review_by)


@pytest.mark.parametrize("review_by", ["99999999d", "9" * 400 + "d", "2912116d"])
def test_a_relative_review_by_beyond_year_9999_is_refused_as_such(review_by: str) -> None:
    with pytest.raises(RefusalError) as raised:
        build_intent_file(request(review_by), "x.yaml", NOW)

    error = raised.value
    assert str(error.reason) == "intent_field_invalid"
    # Not the file parser's advice to run `intent new --review-by <the same text>`.
    text = " ".join([error.message, *error.details])
    assert "intent new" not in text
    assert "beyond year 9999" in text
    assert len(text) < 300  # the value is shown shortened


def test_the_last_resolvable_relative_review_by_is_written() -> None:
    built = build_intent_file(request("2912114d"), "x.yaml", NOW)

    assert built.intent.review_by == "9999-12-30T12:00:00Z"
