"""`reconcile intent new`: a checked, time-stamped intent file that never overwrites one.

`loop.intent_files.write_intent_file` in-process (the command as a real process:
tests/e2e/test_intent.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.errors import RefusalError
from reconciler.core.intent_writing import (
    IntentRequest,
    build_intent_file,
    intent_document,
    intent_file_stem,
)
from reconciler.core.intents import parse_intent
from reconciler.core.reasons import ReasonCode
from reconciler.core.visible import has_visible_text
from reconciler.loop.intent_files import write_intent_file

NOW = datetime(2026, 11, 24, 9, 30, 42, tzinfo=UTC)
SUFFIX = "5eed01"
"""The random end of a default name, fixed here (write_intent_file(..., suffix=SUFFIX))."""
REVIEW_BY = "2026-12-31T00:00:00Z"


def request(**changes: Any) -> IntentRequest:
    base = IntentRequest(
        intent="expand",
        actor="alice",
        approval_ref="CAB-123",
        rationale="gates green for 7 days",
        review_by=REVIEW_BY,
    )
    return base._replace(**changes)


def test_the_written_file_parses_to_the_requested_values(tmp_path):
    full = request(
        expand_step=10,
        idempotency_key="cab-123-expand",
        expect_decision_trace_id="gates-2026-11-24-0600",
        loop_id="loop-a",
        horizon_ref="H-7",
        evidence_refs=("dash/1", "run/2"),
    )
    written = write_intent_file(str(tmp_path), full, NOW, suffix=SUFFIX)
    assert written.path == "policies/intents/20261124T093042Z-expand-cab-123-5eed01.yaml"
    text = (tmp_path / written.path).read_text(encoding="utf-8")
    assert text.startswith("# ")
    intent = parse_intent(text, "20261124T093042Z-expand-cab-123-5eed01.yaml", NOW)
    assert intent == written.intent
    assert intent.intent == "expand"
    assert intent.expand_step == 10
    assert (intent.actor, intent.approval_ref) == ("alice", "CAB-123")
    assert intent.rationale == "gates green for 7 days"
    assert intent.review_by == REVIEW_BY
    assert intent.idempotency_key == "cab-123-expand"
    assert intent.expect_decision_trace_id == "gates-2026-11-24-0600"
    assert (intent.loop_id, intent.horizon_ref) == ("loop-a", "H-7")
    assert intent.evidence_refs == ("dash/1", "run/2")
    assert intent.trace_id is None


def test_defaults_expand_step_written_and_key_from_the_file_name(tmp_path):
    written = write_intent_file(str(tmp_path), request(), NOW, suffix=SUFFIX)
    text = (tmp_path / written.path).read_text(encoding="utf-8")
    assert "expandStep: 25\n" in text
    assert "idempotencyKey" not in text
    assert written.intent.idempotency_key == "20261124T093042Z-expand-cab-123-5eed01"
    assert intent_document(written.intent) == {
        "intent": "expand",
        "expandStep": 25,
        "governance": {
            "actor": "alice",
            "approvalRef": "CAB-123",
            "rationale": "gates green for 7 days",
            "reviewBy": REVIEW_BY,
        },
        "idempotencyKey": "20261124T093042Z-expand-cab-123-5eed01",
    }


@pytest.mark.parametrize("intent", ["resume", "rollback"])
def test_resume_and_rollback_have_no_expand_step(tmp_path, intent):
    written = write_intent_file(str(tmp_path), request(intent=intent), NOW, suffix=SUFFIX)
    assert written.path == f"policies/intents/20261124T093042Z-{intent}-cab-123-5eed01.yaml"
    assert "expandStep" not in (tmp_path / written.path).read_text(encoding="utf-8")
    assert "expandStep" not in intent_document(written.intent)


def test_review_by_is_written_in_canonical_utc(tmp_path):
    written = write_intent_file(
        str(tmp_path), request(review_by="2026-12-31T01:00:00.5+01:00"), NOW
    )
    text = (tmp_path / written.path).read_text(encoding="utf-8")
    assert '  reviewBy: "2026-12-31T00:00:00Z"\n' in text


@pytest.mark.parametrize(
    ("approval_ref", "stem"),
    [
        ("CAB-123", "20261124T093042Z-expand-cab-123-5eed01"),
        ("  INC 9 / Ünïcode!! ", "20261124T093042Z-expand-inc-9-n-code-5eed01"),
        ("../../etc/passwd", "20261124T093042Z-expand-etc-passwd-5eed01"),
        ("日本", "20261124T093042Z-expand-5eed01"),
        ("X" * 80, "20261124T093042Z-expand-" + "x" * 40 + "-5eed01"),
    ],
)
def test_file_name_is_time_intent_a_slug_of_the_approval_ref_and_a_suffix(approval_ref, stem):
    assert intent_file_stem(request(approval_ref=approval_ref), NOW, SUFFIX) == stem


def test_the_name_uses_utc(tmp_path):
    local = datetime.fromisoformat("2026-11-24T23:59:07-05:00")
    assert intent_file_stem(request(), local, SUFFIX).startswith("20261125T045907Z-")


def test_two_intents_with_the_same_name_get_two_files(tmp_path):
    first = write_intent_file(str(tmp_path), request(rationale="first"), NOW, suffix=SUFFIX)
    before = (tmp_path / first.path).read_bytes()
    second = write_intent_file(str(tmp_path), request(rationale="second"), NOW, suffix=SUFFIX)
    third = write_intent_file(str(tmp_path), request(rationale="third"), NOW, suffix=SUFFIX)
    assert second.path == "policies/intents/20261124T093042Z-expand-cab-123-5eed01-2.yaml"
    assert third.path == "policies/intents/20261124T093042Z-expand-cab-123-5eed01-3.yaml"
    assert (tmp_path / first.path).read_bytes() == before
    assert second.intent.rationale == "second"
    assert second.intent.idempotency_key == "20261124T093042Z-expand-cab-123-5eed01-2"


def test_an_existing_file_or_symlink_is_never_overwritten(tmp_path):
    folder = tmp_path / "policies" / "intents"
    folder.mkdir(parents=True)
    (folder / "20261124T093042Z-expand-cab-123-5eed01.yaml").write_text("operator's\n")
    target = tmp_path / "elsewhere.txt"
    (folder / "20261124T093042Z-expand-cab-123-5eed01-2.yaml").symlink_to(target)
    written = write_intent_file(str(tmp_path), request(), NOW, suffix=SUFFIX)
    assert written.path.endswith("-cab-123-5eed01-3.yaml")
    assert (folder / "20261124T093042Z-expand-cab-123-5eed01.yaml").read_text() == "operator's\n"
    assert not target.exists()


NOT_WRITTEN = [
    (request(intent="resume", expand_step=10), ReasonCode.INTENT_FIELD_INVALID),
    (request(intent="rollback", expand_step=25), ReasonCode.INTENT_FIELD_INVALID),
    (request(expand_step=0), ReasonCode.INTENT_FIELD_INVALID),
    (request(expand_step=101), ReasonCode.INTENT_FIELD_INVALID),
    (request(intent="grow"), ReasonCode.INTENT_FIELD_INVALID),
    (request(review_by="2026-11-24T09:30:00Z"), ReasonCode.INTENT_REVIEW_BY_PAST),
    (request(review_by="2020-01-01T00:00:00Z"), ReasonCode.INTENT_REVIEW_BY_PAST),
    (request(review_by="next tuesday"), ReasonCode.INTENT_FIELD_INVALID),
    (request(review_by="2026-13-01T00:00:00Z"), ReasonCode.INTENT_FIELD_INVALID),
    (request(review_by=None), ReasonCode.INTENT_GOVERNANCE_MISSING),
    (request(actor=""), ReasonCode.INTENT_GOVERNANCE_MISSING),
    (request(actor=None), ReasonCode.INTENT_GOVERNANCE_MISSING),
    (request(approval_ref=""), ReasonCode.INTENT_GOVERNANCE_MISSING),
    (request(rationale=None), ReasonCode.INTENT_GOVERNANCE_MISSING),
    (request(idempotency_key=""), ReasonCode.INTENT_FIELD_INVALID),
    (request(loop_id=""), ReasonCode.INTENT_FIELD_INVALID),
    (request(evidence_refs=("ok", "")), ReasonCode.INTENT_FIELD_INVALID),
    (request(actor="al\udcffice"), ReasonCode.ARGUMENT_NOT_UTF8),
]


@pytest.mark.parametrize(
    ("bad", "reason"), NOT_WRITTEN, ids=[str(i) for i in range(len(NOT_WRITTEN))]
)
def test_an_intent_the_loop_would_reject_is_refused_and_nothing_is_written(tmp_path, bad, reason):
    with pytest.raises(RefusalError) as caught:
        write_intent_file(str(tmp_path), bad, NOW)
    assert caught.value.reason == reason
    assert caught.value.details or reason == ReasonCode.ARGUMENT_NOT_UTF8
    assert list(tmp_path.iterdir()) == []


HOSTILE = [
    "he said \"no\" and 'yes'",
    "line one\nline two\n\n",
    "key: value # not a comment",
    "---\n...\n--- !!python/object:os.system",
    "- [a, b]\n{c: d}",
    "*alias &anchor !tag %YAML @ ` |>",
    "null",
    "true",
    "0x1F",
    "  leading and trailing  ",
    "\ttab\r\ncrlf\x85nel\u2028ls\u2029ps",
    "café Ünïcode 日本語 😀 \U0001f9ea",
    "\ufeffbom \ufffe nonchar \x7f del \x9f c1 \x00 nul \x1b[31m",
    "\\ backslash \\n not a newline",
]


@pytest.mark.parametrize("text", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_text_round_trips_through_the_loops_parser(tmp_path, text):
    hostile = request(
        actor=text,
        approval_ref=text,
        rationale=text,
        idempotency_key=text,
        loop_id=text,
        horizon_ref=text,
        expect_decision_trace_id=text,
        evidence_refs=(text, "plain"),
    )
    written = write_intent_file(str(tmp_path), hostile, NOW)
    data = (tmp_path / written.path).read_bytes()
    intent = parse_intent(data.decode("utf-8"), Path(written.path).name, NOW)
    assert intent.actor == intent.approval_ref == intent.rationale == text
    assert intent.idempotency_key == intent.loop_id == intent.horizon_ref == text
    assert intent.expect_decision_trace_id == text
    assert intent.evidence_refs == (text, "plain")
    assert data.count(b"\n") == data.decode("utf-8").count("\n")  # one line per field


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1).filter(has_visible_text))  # blank governance is missing (issue 9)
def test_any_text_round_trips(text):
    built = build_intent_file(request(rationale=text, loop_id=text), "x.yaml", NOW)
    assert built.intent.rationale == text
    assert built.intent.loop_id == text


def test_the_bash_tools_layout_gets_its_intents_folder(tmp_path):
    fleet = tmp_path / ".superloop" / "ops-manager" / "fleet"
    fleet.mkdir(parents=True)
    (fleet / "registry.v1.json").write_text("{}\n")
    written = write_intent_file(str(tmp_path), request(), NOW, suffix=SUFFIX)
    assert written.path == (
        ".superloop/ops-manager/fleet/intents/20261124T093042Z-expand-cab-123-5eed01.yaml"
    )


def test_intents_dir_from_reconciler_yaml(tmp_path):
    (tmp_path / "reconciler.yaml").write_text("intentsDir: ops/queue\n")
    written = write_intent_file(str(tmp_path), request(), NOW, suffix=SUFFIX)
    assert written.path == "ops/queue/20261124T093042Z-expand-cab-123-5eed01.yaml"
    assert (tmp_path / written.path).is_file()


@pytest.mark.parametrize("folder", ["../outside", "/tmp/elsewhere"])
def test_an_intents_dir_outside_the_repository_is_refused(tmp_path, folder):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "reconciler.yaml").write_text(f"intentsDir: {folder}\n")
    with pytest.raises(RefusalError) as caught:
        write_intent_file(str(repo), request(), NOW)
    # Issue 9: one code for every command (it was settings_invalid here).
    assert caught.value.reason == ReasonCode.LAYOUT_PATH_OUTSIDE_REPO
    assert not (tmp_path / "outside").exists()


def test_a_missing_repository_is_refused(tmp_path):
    with pytest.raises(RefusalError) as caught:
        write_intent_file(str(tmp_path / "missing"), request(), NOW)
    assert caught.value.reason == ReasonCode.REPO_NOT_FOUND
