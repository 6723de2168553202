"""Blank governance is missing governance (issue 9, item 11): pure rules, table-driven.

A value with no visible character (spaces, U+00A0, U+200B, ...) names no one, so apply's
flags, intent files, `intent new`, `dispatch` and the registry's governance block all treat
it as they treat an empty one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.core import registry
from reconciler.core.applying import ApplyArgs, validate_args
from reconciler.core.errors import RefusalError
from reconciler.core.intent_writing import IntentRequest, build_intent_file
from reconciler.core.intents import IntentRejected, parse_intent
from reconciler.core.reasons import ReasonCode
from reconciler.core.visible import has_visible_text
from reconciler.loop.dispatch import DispatchArgs
from reconciler.loop.dispatch import _request as dispatch_request

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
REVIEW_BY = "2099-01-01T00:00:00Z"

BLANK = [
    " ",
    "\t",
    "  \t \n \r\n",
    "\u00a0",  # NO-BREAK SPACE (Zs)
    "\u200b",  # ZERO WIDTH SPACE (Cf)
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE / BOM (Cf)
    "\u2060",  # WORD JOINER (Cf)
    "\u200e\u200f\u202e",  # bidi marks and override (Cf)
    "\u3000\u2003\u205f",  # ideographic, em and math spaces (Zs)
    "\u2028\u2029",  # line and paragraph separators (Zl, Zp)
    "\x00\x1b\x7f\x85",  # controls (Cc)
    "\u0301\u20dd",  # combining marks without a base (Mn, Me)
    "\u3164\u115f\u1160\uffa0",  # Hangul fillers: letters that render blank
    "\u2800",  # BRAILLE PATTERN BLANK
    "\ue000",  # private use (Co)
    "\U000e0001",  # LANGUAGE TAG (Cf)
]
VISIBLE = ["a", " alice ", "\u00a0x", "0", "-", "#", "\u00e9", "\u65e5", "\U0001f600", "\u200bx"]


@pytest.mark.parametrize("value", BLANK, ids=repr)
def test_a_value_with_no_visible_character_is_blank(value: str) -> None:
    assert not has_visible_text(value)


@pytest.mark.parametrize("value", VISIBLE, ids=repr)
def test_a_value_with_one_visible_character_is_not_blank(value: str) -> None:
    assert has_visible_text(value)


def test_only_strings_are_text() -> None:
    assert not has_visible_text(None)
    assert not has_visible_text(5)
    assert not has_visible_text("")


def apply_args(**overrides: str | None) -> ApplyArgs:
    values: dict[str, str | None] = {
        "intent": "expand",
        "expand_step": None,
        "actor": "alice",
        "approval_ref": "CAB-1",
        "rationale": "gates green",
        "review_by": REVIEW_BY,
    }
    values.update(overrides)
    return ApplyArgs(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "flag"),
    [
        ("actor", "--by"),
        ("approval_ref", "--approval-ref"),
        ("rationale", "--rationale"),
        ("review_by", "--review-by"),
    ],
)
@pytest.mark.parametrize("blank", [" ", "\t", "\u200b", "\u00a0"], ids=repr)
def test_apply_refuses_a_blank_governance_flag_as_missing(
    field: str, flag: str, blank: str
) -> None:
    with pytest.raises(RefusalError) as caught:
        validate_args(apply_args(**{field: blank}))
    assert caught.value.reason == ReasonCode.GOVERNANCE_MISSING
    assert caught.value.message == f"{flag} is required"


def test_apply_keeps_a_visible_flag_as_typed() -> None:
    assert validate_args(apply_args(actor=" alice ")).actor == " alice "


def test_a_non_utf8_flag_is_still_refused_as_not_utf8() -> None:
    # Undecodable command-line bytes arrive as lone surrogates; they show as U+FFFD.
    with pytest.raises(RefusalError) as caught:
        validate_args(apply_args(actor="\udcff"))
    assert caught.value.reason == ReasonCode.ARGUMENT_NOT_UTF8


def intent_text(field: str, value: str) -> str:
    governance = {
        "actor": "alice",
        "approvalRef": "CAB-1",
        "rationale": "gates green",
        "reviewBy": REVIEW_BY,
    }
    governance[field] = value
    lines = "".join(f'  {key}: "{text}"\n' for key, text in governance.items())
    return f"intent: expand\ngovernance:\n{lines}"


@pytest.mark.parametrize("field", ["actor", "approvalRef", "rationale", "reviewBy"])
@pytest.mark.parametrize("blank", ["\\u00a0", " ", "\\t", "\\u200b", "\\ufeff\\u2060"])
def test_an_intent_file_with_a_blank_governance_value_is_rejected(field: str, blank: str) -> None:
    with pytest.raises(IntentRejected) as caught:
        parse_intent(intent_text(field, blank), "x.yaml", NOW)
    assert caught.value.problems == [
        (ReasonCode.INTENT_GOVERNANCE_MISSING, f"governance.{field} is required")
    ]


def test_intent_new_refuses_a_blank_actor_before_writing() -> None:
    request = IntentRequest("expand", " ", "CAB-1", "gates green", REVIEW_BY)
    with pytest.raises(RefusalError) as caught:
        build_intent_file(request, "x.yaml", NOW)
    assert caught.value.reason == ReasonCode.INTENT_GOVERNANCE_MISSING
    assert caught.value.details == ("governance.actor is required",)


@pytest.mark.parametrize("blank", [" ", "\u200b", "\u00a0"], ids=repr)
def test_dispatch_refuses_a_blank_governance_flag(blank: str) -> None:
    args = DispatchArgs("rollback", None, None, "alice", blank, "why", REVIEW_BY)
    with pytest.raises(RefusalError) as caught:
        dispatch_request(args, lambda: datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.reason == ReasonCode.GOVERNANCE_MISSING
    assert caught.value.message == "--approval-ref is required for mode rollback"


GOVERNANCE = "policy.autonomous.governance"
GUARDED = "when policy.mode is guarded_auto"


def registry_doc(**governance: str) -> dict[str, object]:
    block = {
        "actor": "alice",
        "approvalRef": "CAB-1",
        "rationale": "why",
        "changedAt": "2026-11-01T00:00:00Z",
        "reviewBy": REVIEW_BY,
        **governance,
    }
    return {
        "schemaVersion": "v1",
        "loops": [{"loopId": "a"}],
        "policy": {"mode": "guarded_auto", "autonomous": {"governance": block}},
    }


@pytest.mark.parametrize("field", ["actor", "approvalRef", "rationale"])
@pytest.mark.parametrize("blank", [" ", "\t", "\u200b", "\u00a0", "\u3164"], ids=repr)
def test_the_registry_reports_blank_governance_as_it_reports_empty(field: str, blank: str) -> None:
    empty = registry.validate_registry(registry_doc(**{field: ""}), NOW)
    assert empty == [
        f"{GOVERNANCE}.{field} must be a non-empty string when present",
        f"{GOVERNANCE}.{field} is required {GUARDED}",
    ]
    assert registry.validate_registry(registry_doc(**{field: blank}), NOW) == empty


def test_a_registry_governance_value_with_spaces_around_it_is_valid() -> None:
    assert registry.validate_registry(registry_doc(actor=" alice "), NOW) == []
