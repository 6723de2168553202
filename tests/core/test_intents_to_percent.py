"""`toPercent` in intent files and in `reconcile intent new`'s text (issue 11).

On a rollback a valid `toPercent` is read; a malformed one never blocks the rollback (a note
and a warning, as a stray `expandStep`: the rollback only pauses). On expand and resume it
rejects, as `expandStep` on resume does.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.intent_writing import IntentRequest, build_intent_file, intent_document
from reconciler.core.intents import Intent, IntentRejected, parse_intent
from reconciler.core.reasons import ReasonCode

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GOVERNANCE = (
    "governance:\n  actor: bob\n  approvalRef: INC-9\n  rationale: spike\n"
    "  reviewBy: 2026-12-31T00:00:00Z\n"
)


def parsed(intent: str, to_percent: str) -> Intent:
    return parse_intent(f"intent: {intent}\ntoPercent: {to_percent}\n{GOVERNANCE}", "x.yaml", NOW)


@pytest.mark.parametrize(
    ("text", "value"), [("25", 25), ("0", 0), ("100", 100), ("previous", "previous"),
                        ('"previous"', "previous")],
)  # fmt: skip
def test_a_rollback_reads_its_to_percent(text: str, value: object) -> None:
    intent = parsed("rollback", text)
    assert intent.to_percent == value
    assert intent.notes == ()


def test_a_rollback_without_to_percent_only_pauses() -> None:
    intent = parse_intent(f"intent: rollback\n{GOVERNANCE}", "x.yaml", NOW)
    assert intent.to_percent is None


@pytest.mark.parametrize(
    "text", ["101", "-5", "25.0", '"25"', "true", "Previous", "[25]", "{a: 1}", "null", "50%"]
)
def test_a_malformed_to_percent_on_a_rollback_is_a_note_and_it_only_pauses(text: str) -> None:
    intent = parse_intent(f"intent: rollback\ntoPercent: {text}\n{GOVERNANCE}", "x.yaml", NOW)

    assert intent.intent == "rollback"
    assert intent.to_percent is None  # only pause
    (note,) = intent.notes
    assert note.reason == ReasonCode.INTENT_FIELD_INVALID
    assert note.message.startswith("toPercent must be an integer between 0 and 100, or previous")
    assert note.message.endswith("; the rollback only pauses")


@pytest.mark.parametrize("intent", ["expand", "resume"])
@pytest.mark.parametrize("text", ["25", "previous", "abc"])
def test_to_percent_on_expand_or_resume_rejects_the_file(intent: str, text: str) -> None:
    with pytest.raises(IntentRejected) as caught:
        parsed(intent, text)
    assert caught.value.reasons == ["intent_field_invalid"]
    assert caught.value.problems[0].message == (
        f"toPercent is only allowed with intent rollback (not {intent})"
    )
    assert caught.value.fields.intent == intent  # what could be read is kept


def test_a_file_naming_no_intent_reports_a_bad_to_percent_without_the_rollback_words() -> None:
    with pytest.raises(IntentRejected) as caught:
        parsed("shrink", "abc")
    messages = [problem.message for problem in caught.value.problems]
    assert "toPercent must be an integer between 0 and 100, or previous (not 'abc')" in messages


# `reconcile intent new rollback --to-percent` -------------------------------------------------


def request(to_percent: str | None, intent: str = "rollback") -> IntentRequest:
    return IntentRequest(
        intent, "bob", "INC-9", "spike", "2099-01-01T00:00:00Z", to_percent=to_percent
    )


@pytest.mark.parametrize(
    ("flag", "line", "value"),
    [("25", "toPercent: 25", 25), ("0", "toPercent: 0", 0), ("010", "toPercent: 10", 10),
     ("previous", 'toPercent: "previous"', "previous")],
)  # fmt: skip
def test_intent_new_writes_the_target_and_the_loop_reads_it_back(
    flag: str, line: str, value: object
) -> None:
    built = build_intent_file(request(flag), "x.yaml", NOW)

    assert line in built.text.splitlines()
    assert built.intent.to_percent == value
    assert intent_document(built.intent)["toPercent"] == value


@pytest.mark.parametrize("flag", ["101", "abc", "25%", "-1"])
def test_intent_new_refuses_a_bad_to_percent(flag: str) -> None:
    with pytest.raises(RefusalError) as caught:
        build_intent_file(request(flag), "x.yaml", NOW)
    assert caught.value.reason == ReasonCode.TO_PERCENT_INVALID


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_intent_new_refuses_to_percent_on_another_intent(intent: str) -> None:
    with pytest.raises(RefusalError) as caught:
        build_intent_file(request("10", intent), "x.yaml", NOW)
    assert caught.value.reason == ReasonCode.TO_PERCENT_INVALID
    assert caught.value.message == "--to-percent is only allowed with rollback"


def test_intent_new_without_to_percent_writes_no_such_line() -> None:
    built = build_intent_file(request(None), "x.yaml", NOW)
    assert "toPercent" not in built.text
    assert "toPercent" not in intent_document(built.intent)


def test_the_published_intent_schema_knows_to_percent() -> None:
    from jsonschema import Draft202012Validator

    from reconciler.core.artifact_models import json_schema

    validator = Draft202012Validator(json_schema("intent"))
    built = build_intent_file(request("previous"), "x.yaml", NOW)
    validator.validate(intent_document(built.intent))
    doc = intent_document(build_intent_file(request("25"), "x.yaml", NOW).intent)
    validator.validate(doc)
    assert not validator.is_valid({**doc, "toPercent": 101})
    assert not validator.is_valid({**doc, "toPercent": "last"})
