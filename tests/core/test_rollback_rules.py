"""The pure rules behind "a rollback always pauses" (issue 9, items 1 and 2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core import applying, registry
from reconciler.core.intent_writing import IntentRequest, intent_file_stem
from reconciler.core.intents import IntentRejected, parse_intent
from reconciler.core.registry import NOT_A_MAPPING, problem_path, validate_registry

NOW = datetime(2026, 11, 24, 9, 30, 42, tzinfo=UTC)
GOVERNANCE = (
    "governance:\n  actor: bob\n  approvalRef: INC-9\n  rationale: spike\n"
    "  reviewBy: 2026-12-31T00:00:00Z\n"
)
TYPO = "loops[0]: transport must be local or sprite_service"


@pytest.mark.parametrize(
    ("problem", "path"),
    [
        (TYPO, ("loops[0]",)),
        ('schemaVersion must be "v1"', ("schemaVersion",)),
        ("policy.mode must be advisory or guarded_auto", ("policy", "mode")),
        (
            "policy.autonomous.rollout.canaryPercent must be an integer between 0 and 100 when "
            "present",
            ("policy", "autonomous", "rollout", "canaryPercent"),
        ),
        (
            "policy.autonomous.governance.reviewBy must be after "
            "policy.autonomous.governance.changedAt",
            ("policy", "autonomous", "governance", "reviewBy"),
        ),
        ("policy.suppressions.a b key must reference a declared loopId or *",
         ("policy", "suppressions", "a")),
        (NOT_A_MAPPING, ()),
    ],
)  # fmt: skip
def test_problem_path_is_the_field_a_message_is_about(problem: str, path: tuple[str, ...]) -> None:
    assert problem_path(problem) == path


@pytest.mark.parametrize(
    ("problem", "refused"),
    [
        (TYPO, False),
        ("policy.mode must be advisory or guarded_auto", False),
        ("policy.autonomous.safety.killSwitch must be boolean when present", False),
        ("policy.autonomous.rollout.scope.loopIds entries must reference declared loopIds", False),
        ("policy.autonomous.rollout.pause.manual must be boolean when present", False),
        ("policy.autonomous.governance.reviewBy must be in the future when policy.mode is "
         "guarded_auto", False),
        ("policy.autonomous.rollout.canaryPercent must be an integer between 0 and 100 when "
         "present", True),
        ("policy.autonomous.rollout.pause must be an object when present", True),
        ("policy.autonomous.rollout must be an object when present", True),
        ("policy.autonomous.governance must be an object when present", True),
        ("policy.autonomous must be an object when present", True),
        ("policy must be an object when present", True),
        (NOT_A_MAPPING, True),
    ],
)  # fmt: skip
def test_a_rollback_is_refused_only_by_what_it_cannot_get_past(problem: str, refused: bool) -> None:
    assert applying.is_refused_by("rollback", [TYPO, problem]) is refused
    assert applying.is_refused_by("expand", [problem]) is True
    assert applying.is_refused_by("resume", [problem]) is True


def test_after_the_mutation_every_owned_field_must_be_valid() -> None:
    manual = "policy.autonomous.rollout.pause.manual must be boolean when present"
    assert applying.is_refused_by("rollback", [manual]) is False
    assert applying.is_refused_by("rollback", [manual], mutated=True) is True
    assert applying.is_refused_by("rollback", [TYPO], mutated=True) is False
    assert applying.is_refused_by("rollback", []) is False
    assert applying.is_refused_by("expand", []) is False


def _view(manual: object) -> registry.RegistryView:
    doc = {"policy": {"autonomous": {"rollout": {"pause": {"manual": manual}}}}}
    return registry.view_registry(doc)


def test_only_a_rollback_on_a_running_fleet_overrides_a_replay() -> None:
    assert applying.overrides_replay("rollback", _view(False)) is True
    assert applying.overrides_replay("rollback", _view("yes")) is True  # not paused: a string
    assert applying.overrides_replay("rollback", _view(True)) is False
    assert applying.overrides_replay("expand", _view(False)) is False
    assert applying.overrides_replay("resume", _view(True)) is False


TOP_LEVEL = {"schemaVersion", "fleetId", "loops", "loopId", "policy"}
KEYS = st.sampled_from(["schemaVersion", "fleetId", "loops", "policy"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.sampled_from(["", "x", "locall"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["mode", "autonomous", "rollout", "pause", "manual", "canaryPercent", "governance",
             "loops", "loopId", "transport", "scope", "loopIds", "suppressions", "safety"]
        ),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


@given(st.dictionaries(KEYS, JSON, max_size=4))
def test_every_validator_message_starts_with_a_registry_path(doc: dict[str, object]) -> None:
    for problem in validate_registry(doc, NOW):
        head = problem_path(problem)[0]
        assert head in TOP_LEVEL or re.fullmatch(r"loops\[\d+\]", head), problem


def test_a_rollback_file_with_stray_fields_parses_with_notes() -> None:
    text = "intent: rollback\nexpandStep: abc\ncolour: red\n" + GOVERNANCE + "  ticket: x\n"

    intent = parse_intent(text, "a.yaml", NOW)

    assert intent.intent == "rollback"
    assert [note.reason for note in intent.notes] == [
        "intent_unknown_field", "intent_field_invalid", "intent_unknown_field"
    ]  # fmt: skip
    assert [note.message for note in intent.notes] == [
        'unknown field "colour"',
        "expandStep is only allowed with intent expand (not rollback)",
        'unknown field "governance.ticket"',
    ]


@pytest.mark.parametrize(
    "text",
    [
        "intent: rollback\ncolour: red\n",  # no governance
        "intent: rollback\nloopId: 5\n" + GOVERNANCE,  # a known field of the wrong type
        "intent: rollback\n" + GOVERNANCE.replace("2026-12-31", "2020-01-01"),
    ],
)
def test_a_rollback_file_is_still_rejected_for_anything_else(text: str) -> None:
    with pytest.raises(IntentRejected) as caught:
        parse_intent(text, "a.yaml", NOW)
    assert "intent_unknown_field" not in caught.value.reasons


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_other_intents_still_reject_unknown_fields(intent: str) -> None:
    with pytest.raises(IntentRejected) as caught:
        parse_intent(f"intent: {intent}\ncolour: red\n" + GOVERNANCE, "a.yaml", NOW)
    assert caught.value.reasons == ["intent_unknown_field"]


def test_default_keys_differ_within_a_second() -> None:
    request = IntentRequest("rollback", "bob", "INC-42", "spike", "2026-12-31T00:00:00Z")
    one = intent_file_stem(request, NOW, "a1b2c3")
    two = intent_file_stem(request, NOW.replace(microsecond=999), "d4e5f6")
    assert one == "20261124T093042Z-rollback-inc-42-a1b2c3"
    assert two == "20261124T093042Z-rollback-inc-42-d4e5f6"
    later = intent_file_stem(request, NOW.replace(second=43), "a1b2c3")
    assert later.startswith("20261124T093043Z-")
