"""`reconcile --once` on real git repos: every status and reason code a pass can produce.

Each rejection case drops one bad intent and then a good rollback into the queue: the bad one
must be rejected with its reason code (trailer and record) and land in `rejected/`, and the
rollback after it must still be applied (the queue continues).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import FIXED, INTENTS

BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "intent: rollback\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")


# Applied ---------------------------------------------------------------------------------


def test_expand_is_applied_with_its_commit_record_and_moved_file(repo: Path) -> None:
    intent_commit = g.add_intents(repo, {"20261124-expand.yaml": {"step": 25}})
    base = g.head(repo)

    report = g.once(repo)

    assert g.statuses(report) == [("20261124-expand.yaml", "applied")]
    sha = report.commits[0]
    assert g.head(repo) == sha == report.head
    assert g.git(repo, "rev-parse", f"{sha}^") == base
    assert g.subject(repo, sha) == "expand fleet-a canary 25% -> 50% (CAB-123)"
    assert g.git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha) == f"{g.BOT}|{g.BOT}"
    assert g.git(repo, "log", "-1", "--format=%at", sha) == str(int(FIXED.timestamp()))
    trailers = g.trailers(repo, sha)
    assert trailers == {
        "Reconcile-Intent": f"{INTENTS}/20261124-expand.yaml",
        "Reconcile-Status": "applied",
        "Reconcile-Action": "expand",
        "Idempotency-Key": "20261124-expand",
        "Trace-Id": intent_commit,
        "Decision": "promote",
        "Decision-Trace-Id": "gates-2026-11-24-0600",
        "Actor": "alice",
        "Approval-Ref": "CAB-123",
        "Canary": "25 -> 50",
        "Manual-Pause": "false -> false",
        "Intent-Commit": intent_commit,
    }
    assert g.canary(repo) == 50
    record = g.records(repo)[-1]
    assert record["status"] == "applied"
    assert record["rollout"]["after"] == {"canaryPercent": 50, "manualPause": False}
    assert record["traceId"] == intent_commit
    assert record["files"] == {
        "registryFile": g.REGISTRY,
        "promotionStateFile": g.DECISION,
        "applyStateFile": g.STATE,
        "applyTelemetryFile": g.TELEMETRY,
    }
    assert record["git"] == {
        "intentFile": f"{INTENTS}/20261124-expand.yaml",
        "intentCommit": intent_commit,
        "baseCommit": base,
    }
    assert g.state(repo) == record
    assert g.records(repo, sha) == [record]
    assert g.pending(repo) == []
    assert g.processed(repo, "applied") == ["20261124-expand.yaml"]
    assert g.status(repo) == ""


def test_default_expand_step_is_25_and_governance_is_written(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {"actor": "carol", "approval_ref": "CAB-9"}})

    report = g.once(repo)

    assert report.outcomes[0].record["expandStep"] == 25
    text = (repo / g.REGISTRY).read_text()
    assert "actor: carol" in text and "approvalRef: CAB-9" in text
    assert "changedAt: 2026-11-24T12:00:00Z" in text
    assert "reviewBy: 2099-01-01T00:00:00Z" in text


def test_rollback_then_resume_are_applied_with_pause_trailers(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)  # a resume on the same decision
    g.add_intents(
        repo,
        {"a-rollback.yaml": {"intent": "rollback"}, "b-resume.yaml": {"intent": "resume"}},
    )

    report = g.once(repo)

    assert g.statuses(report) == [("a-rollback.yaml", "applied"), ("b-resume.yaml", "applied")]
    rollback, resume = report.commits
    assert g.subject(repo, rollback) == "rollback fleet-a: pause at canary 25% (CAB-123)"
    assert g.trailer(repo, rollback, "Manual-Pause") == "false -> true"
    assert g.trailer(repo, rollback, "Reconcile-Action") == "rollback"
    assert g.subject(repo, resume) == "resume fleet-a: paused -> running (CAB-123)"
    assert g.trailer(repo, resume, "Manual-Pause") == "true -> false"
    assert g.trailer(repo, resume, "Canary") == "25 -> 25"
    assert "manual: true" in g.show_file(repo, rollback, g.REGISTRY)
    assert "manual: false" in g.show_file(repo, resume, g.REGISTRY)
    assert [r["intent"] for r in g.records(repo)] == ["rollback", "resume"]


def test_noop_expand_at_100_is_applied_with_rollout_unchanged(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)  # two expands on one decision
    g.add_intents(repo, {"a.yaml": {"step": 100}, "b.yaml": {"step": 10}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "applied")]
    assert report.outcomes[1].reasons == ("rollout_unchanged",)
    assert g.trailer(repo, report.commits[1], "Reason-Codes") == "rollout_unchanged"
    assert g.trailer(repo, report.commits[1], "Canary") == "100 -> 100"


# Replayed --------------------------------------------------------------------------------


def test_two_files_with_one_key_in_a_pass_apply_once_then_replay(repo: Path) -> None:
    g.add_intents(
        repo,
        {
            "a.yaml": {"step": 10, "idempotencyKey": "rollout-42"},
            "b.yaml": {"step": 10, "idempotencyKey": "rollout-42"},
        },
    )

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "replayed")]
    assert g.canary(repo) == 35
    replay = report.commits[1]
    assert g.subject(repo, replay) == "replay b: key rollout-42 already applied (CAB-123)"
    assert g.trailer(repo, replay, "Reconcile-Status") == "replayed"
    assert g.trailer(repo, replay, "Idempotency-Key") == "rollout-42"
    # The replay changes only the apply-state file and moves its intent file.
    assert g.name_status(repo, replay) == {
        ("M", g.STATE),
        ("D", f"{INTENTS}/b.yaml"),
        ("A", f"{INTENTS}/applied/b.yaml"),
    }
    # Telemetry holds the one real mutation; the state file holds the replayed record.
    assert [r["status"] for r in g.records(repo)] == ["applied"]
    assert g.state(repo)["replayed"] is True
    assert g.state(repo)["git"]["intentFile"] == f"{INTENTS}/a.yaml"
    assert g.processed(repo, "applied") == ["a.yaml", "b.yaml"]


def test_replay_with_another_request_is_flagged_as_a_mismatch(repo: Path) -> None:
    g.add_intents(
        repo,
        {
            "a.yaml": {"step": 10, "idempotencyKey": "k"},
            "b.yaml": {"intent": "resume", "idempotencyKey": "k"},
        },
    )

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "replayed")]
    assert "idempotency_request_mismatch" in report.outcomes[1].reasons
    assert "idempotency_request_mismatch" in g.trailer(repo, report.commits[1], "Reason-Codes")
    assert "manual: false" in (repo / g.REGISTRY).read_text()


def test_a_rejected_key_is_not_replayed_later(repo: Path) -> None:
    g.write_decision(repo, "hold")
    g.add_intents(repo, {"a.yaml": {"idempotencyKey": "k"}})
    assert g.statuses(g.once(repo)) == [("a.yaml", "rejected")]
    g.write_decision(repo, "promote")
    g.add_intents(repo, {"b.yaml": {"idempotencyKey": "k"}})

    assert g.statuses(g.once(repo)) == [("b.yaml", "applied")]


# Rejected --------------------------------------------------------------------------------

Setup = Callable[[Path], None]


def _decision(**kw: object) -> Setup:
    def setup(repo: Path) -> None:
        g.write_decision(repo, **kw)  # type: ignore[arg-type]
        g.commit_all(repo, "decision")

    return setup


def _text(name: str, content: str | bytes, *, commit: bool = True) -> Setup:
    def setup(repo: Path) -> None:
        g.write_intent(repo, name, content)
        if commit:
            g.commit_all(repo, "intent")

    return setup


def _intent(name: str = "bad.yaml", **kw: object) -> Setup:
    return _text(name, g.intent_text(**kw))  # type: ignore[arg-type]


def _both(*setups: Setup) -> Setup:
    def setup(repo: Path) -> None:
        for item in setups:
            item(repo)

    return setup


def _invalid_decision(repo: Path) -> None:
    (repo / g.DECISION).write_text('{"summary": {"decision": "promote"')
    g.commit_all(repo, "broken decision")


def _advisory(repo: Path) -> None:
    registry = repo / g.REGISTRY
    registry.write_text(registry.read_text().replace("mode: guarded_auto ", "mode: advisory "))
    g.commit_all(repo, "advisory")


def _symlink_outside(*, commit: bool) -> Setup:
    def setup(repo: Path) -> None:
        outside = repo.parent / "outside.yaml"
        outside.write_text(g.intent_text())
        (repo / INTENTS).mkdir(parents=True, exist_ok=True)
        os.symlink(outside, repo / INTENTS / "bad.yaml")
        if commit:
            g.commit_all(repo, "a symlink intent")

    return setup


def _fifo(repo: Path) -> None:
    (repo / INTENTS).mkdir(parents=True, exist_ok=True)
    os.mkfifo(repo / INTENTS / "bad.yaml")


def _named(name: str | bytes, *, commit: bool = False) -> Setup:
    def setup(repo: Path) -> None:
        folder = os.fsencode(repo / INTENTS)
        os.makedirs(folder, exist_ok=True)
        raw = os.fsencode(name)
        fd = os.open(os.path.join(folder, raw), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(g.intent_text())
        if commit:
            g.commit_all(repo, "a badly named intent")

    return setup


REJECTIONS: dict[str, tuple[Setup, str, str]] = {
    # id: (setup, expected reason code, expected subject suffix after "reject <stem>: ")
    "hold": (
        _both(_decision(decision="hold"), _intent()),
        "promotion_decision_not_promote",
        "decision hold",
    ),
    "skipped": (
        _both(_decision(decision="skipped"), _intent(intent="resume")),
        "promotion_decision_not_promote",
        "decision skipped",
    ),
    "stale": (
        _both(_decision(generated_at=FIXED - timedelta(hours=25)), _intent()),
        "promotion_decision_stale",
        "decision stale",
    ),
    "no-generated-at": (
        _both(_decision(generated_at=None), _intent()),
        "promotion_decision_stale",
        "decision stale",
    ),
    "future": (
        _both(_decision(generated_at=FIXED + timedelta(hours=1)), _intent()),
        "promotion_decision_future",
        "decision from the future",
    ),
    "trace-mismatch": (
        _intent(expectDecisionTraceId="gates-2026-11-23-0600"),
        "promotion_decision_trace_mismatch",
        "decision trace mismatch",
    ),
    "trace-mismatch-no-trace": (
        _both(_decision(trace_id=None), _intent(expectDecisionTraceId="gates-x")),
        "promotion_decision_trace_mismatch",
        "decision trace mismatch",
    ),
    "state-invalid": (
        _both(_invalid_decision, _intent()),
        "promotion_state_invalid",
        "promotion decision unreadable",
    ),
    "advisory": (
        _both(_advisory, _intent()),
        "registry_not_guarded_auto",
        "fleet not in guarded_auto",
    ),
    "yaml-invalid": (
        _text("bad.yaml", "intent: [expand\n"),
        "intent_yaml_invalid",
        "not valid YAML",
    ),
    "yaml-not-a-mapping": (
        _text("bad.yaml", "- expand\n"),
        "intent_yaml_invalid",
        "not valid YAML",
    ),
    "yaml-empty": (_text("bad.yaml", ""), "intent_yaml_invalid", "not valid YAML"),
    "unknown-field": (_intent(colour="red"), "intent_unknown_field", "unknown field"),
    "unknown-governance-field": (
        _text("bad.yaml", g.intent_text().replace("  actor:", "  approver: x\n  actor:")),
        "intent_unknown_field",
        "unknown field",
    ),
    "intent-unknown": (_intent(intent="explode"), "intent_field_invalid", "invalid field"),
    "step-on-resume": (
        _intent(intent="resume", step=10),
        "intent_field_invalid",
        "invalid field",
    ),
    "step-0": (_intent(step=0), "intent_field_invalid", "invalid field"),
    "step-101": (_intent(step=101), "intent_field_invalid", "invalid field"),
    "step-string": (_intent(step="25"), "intent_field_invalid", "invalid field"),
    "step-bool": (_intent(step=True), "intent_field_invalid", "invalid field"),
    "step-float": (_intent(step=25.0), "intent_field_invalid", "invalid field"),
    "actor-number": (
        _text("bad.yaml", g.intent_text().replace("actor: alice", "actor: 7")),
        "intent_field_invalid",
        "invalid field",
    ),
    "key-number": (_intent(idempotencyKey=5), "intent_field_invalid", "invalid field"),
    "evidence-not-list": (_intent(evidenceRefs="x"), "intent_field_invalid", "invalid field"),
    "governance-not-mapping": (
        _text("bad.yaml", "intent: rollback\ngovernance: alice\n"),
        "intent_field_invalid",
        "invalid field",
    ),
    "governance-missing": (
        _text("bad.yaml", "intent: rollback\n"),
        "intent_governance_missing",
        "governance missing",
    ),
    "approval-missing": (
        _text("bad.yaml", g.intent_text().replace("  approvalRef: CAB-123\n", "")),
        "intent_governance_missing",
        "governance missing",
    ),
    "review-by-past": (
        _intent(review_by="2026-11-24T11:59:59Z"),
        "intent_review_by_past",
        "reviewBy in the past",
    ),
    "review-by-not-time": (
        _intent(review_by="next-week"),
        "intent_field_invalid",
        "invalid field",
    ),
    "symlink-outside-committed": (
        _symlink_outside(commit=True),
        "intent_not_regular_file",
        "not a regular file",
    ),
    "symlink-outside-untracked": (
        _symlink_outside(commit=False),
        "intent_not_regular_file",
        "not a regular file",
    ),
    "fifo": (_fifo, "intent_not_regular_file", "not a regular file"),
    "too-large-committed": (
        _text("bad.yaml", b"#" * (10 * 1024 * 1024)),
        "intent_too_large",
        "file too large",
    ),
    "too-large-untracked": (
        _text("bad.yaml", b"# padding\n" * (1024 * 1024), commit=False),
        "intent_too_large",
        "file too large",
    ),
    "not-utf8": (
        _text("bad.yaml", b"intent: rollback\n# caf\xe9\n"),
        "intent_not_utf8",
        "not UTF-8",
    ),
    "billion-laughs": (_text("bad.yaml", BILLION_LAUGHS), "intent_alias_limit", "YAML aliases"),
    "name-with-space": (_named("bad name.yaml"), "intent_name_invalid", "invalid file name"),
    "name-leading-dash": (_named("-bad.yaml"), "intent_name_invalid", "invalid file name"),
    "name-unicode": (_named("b\u00e4d.yaml"), "intent_name_invalid", "invalid file name"),
    "name-not-utf8": (_named(b"b\xffd.yaml"), "intent_name_invalid", "invalid file name"),
    "name-committed": (
        _named("bad name.yaml", commit=True),
        "intent_name_invalid",
        "invalid file name",
    ),
}


TARGETS = {
    "name-with-space": "bad_name.yaml",
    "name-leading-dash": "x-bad.yaml",
    "name-unicode": "b_d.yaml",
    "name-committed": "bad_name.yaml",
    "name-not-utf8": "b_d.yaml",
}
"""Where a hostile name lands in rejected/ (made safe); every other case: bad.yaml."""


@pytest.mark.parametrize("case", list(REJECTIONS), ids=list(REJECTIONS))
def test_bad_intent_is_rejected_with_its_reason_and_the_queue_continues(
    tmp_path: Path, case: str
) -> None:
    setup, reason, short = REJECTIONS[case]
    repo = g.make_policy_repo(tmp_path / "repo")
    setup(repo)
    g.add_intents(repo, {"zz-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-9"}})
    before = g.head(repo)

    report = g.once(repo)

    assert [outcome.status for outcome in report.outcomes] == ["rejected", "applied"]
    rejected, rollback = report.outcomes
    assert reason in rejected.reasons
    sha = report.commits[0]
    assert g.git(repo, "rev-parse", f"{sha}^") == before
    assert g.subject(repo, sha).startswith(f"reject {rejected.source.stem}: {short}")
    assert reason in g.trailer(repo, sha, "Reason-Codes").split(", ")
    assert g.trailer(repo, sha, "Reconcile-Status") == "rejected"
    # The rejection record is in telemetry (not in the apply-state file), at the commit.
    record = g.records(repo, sha)[-1]
    assert record["status"] == "rejected"
    assert reason in record["reasonCodes"]
    assert record["errors"]
    assert record["git"]["intentFile"] == rejected.source.shown_path
    assert record["git"]["baseCommit"] == before
    # Exactly the record files and the intent's move; no registry, no apply-state file.
    target = f"{INTENTS}/rejected/{TARGETS.get(case, 'bad.yaml')}"
    tracked = g.git(repo, "ls-tree", "--name-only", before, "--", rejected.source.path)
    expected = {("A", g.TELEMETRY), ("A", g.INDEX), ("A", target)}
    if tracked:
        expected.add(("D", rejected.source.path))
    assert g.name_status(repo, sha) == expected
    assert not (repo / rejected.source.path).exists()
    # The queue went on: the rollback was applied on top.
    assert rollback.source.name == "zz-rollback.yaml"
    assert g.trailer(repo, report.commits[1], "Manual-Pause") == "false -> true"
    assert g.pending(repo) == []
    assert g.status(repo) == ""
    assert g.processed(repo, "applied") == ["zz-rollback.yaml"]


def test_stale_decision_message_and_rejection_record_carry_the_decision(repo: Path) -> None:
    g.write_decision(repo, "promote", generated_at=FIXED - timedelta(days=3))
    g.add_intents(repo, {"a.yaml": {}})

    report = g.once(repo)

    record = g.records(repo)[-1]
    assert record["decision"] == "promote"
    assert record["decisionTraceId"] == "gates-2026-11-24-0600"
    assert "stale" in record["errors"][0]
    assert g.trailer(repo, report.commits[0], "Decision") == "promote"
    assert not (repo / g.STATE).exists()  # a rejection is no "latest applied" record


def test_missing_decision_rejects_expand_but_applies_rollback_with_notes(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", decision=None)
    g.add_intents(repo, {"a-expand.yaml": {}, "b-rollback.yaml": {"intent": "rollback"}})

    report = g.once(repo)

    assert g.statuses(report) == [("a-expand.yaml", "rejected"), ("b-rollback.yaml", "applied")]
    assert report.outcomes[0].reasons == ("promotion_state_missing",)
    assert g.subject(repo, report.commits[0]) == "reject a-expand: no promotion decision"
    notes = report.outcomes[1].reasons
    assert "rollback_without_decision" in notes
    assert "rollback_without_decision" in g.trailer(repo, report.commits[1], "Reason-Codes")
    record = g.state(repo)
    assert record["decision"] is None
    assert "rollback_without_decision" in record["reasonCodes"]
    assert g.trailer(repo, report.commits[1], "Decision") == ""


def test_advisory_mode_rejects_expand_and_applies_rollback_with_a_note(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", mode="advisory")
    g.add_intents(
        repo,
        {"a.yaml": {}, "b.yaml": {"intent": "resume"}, "c.yaml": {"intent": "rollback"}},
    )

    report = g.once(repo)

    assert [o.status for o in report.outcomes] == ["rejected", "rejected", "applied"]
    assert report.outcomes[0].reasons == ("registry_not_guarded_auto",)
    assert report.outcomes[1].reasons == ("registry_not_guarded_auto",)
    assert "rollback_in_advisory_mode" in report.outcomes[2].reasons
    assert "rollback_in_advisory_mode" in g.trailer(repo, report.commits[2], "Reason-Codes")


def test_decision_without_summary_decision_rejects_expand(repo: Path) -> None:
    (repo / g.DECISION).write_text(json.dumps({"schemaVersion": "v1", "summary": {}}))
    g.commit_all(repo, "empty decision")
    g.add_intents(repo, {"a.yaml": {}, "b.yaml": {"intent": "rollback"}})

    report = g.once(repo)

    assert [o.status for o in report.outcomes] == ["rejected", "applied"]
    assert report.outcomes[0].reasons == ("promotion_decision_missing",)
    assert "rollback_without_decision" in report.outcomes[1].reasons


def test_every_problem_of_one_file_is_listed(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": "intent: explode\nexpandStep: 0\ncolour: red\n"})

    report = g.once(repo)

    outcome = report.outcomes[0]
    assert set(outcome.reasons) == {
        "intent_field_invalid",
        "intent_unknown_field",
        "intent_governance_missing",
    }
    assert g.trailer(repo, report.commits[0], "Reason-Codes") == ", ".join(sorted(outcome.reasons))
    body = g.git(repo, "log", "-1", "--format=%b", report.commits[0])
    assert '- unknown field "colour"' in body


def test_rollback_ignores_expect_decision_trace_id(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {"intent": "rollback", "expectDecisionTraceId": "other"}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert g.trailer(repo, report.commits[0], "Manual-Pause") == "false -> true"


def test_an_intent_with_a_bom_and_crlf_line_ends_is_applied_and_kept_as_is(repo: Path) -> None:
    data = b"\xef\xbb\xbf" + g.intent_text(step=5).replace("\n", "\r\n").encode()
    g.add_intents(repo, {"a.yaml": data})  # type: ignore[dict-item]

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert (repo / INTENTS / "applied" / "a.yaml").read_bytes() == data
