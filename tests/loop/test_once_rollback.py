"""A rollback always leaves the fleet paused: the loop and `dispatch` on real git repos.

Issue 9, items 1 and 2: a rollback is never swallowed by an idempotency replay of a record
that leaves the fleet running, default keys are unique per request (a rollback, a resume and a
rollback dispatched within one minute are three mutations), and registry problems outside the
fields a rollback writes are noted in its record instead of blocking it. In-process passes
(the commands as real processes: tests/e2e/test_rollback_always_pauses.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.loop.dispatch import DispatchArgs, dispatch
from tests.support import gitrepos as g
from tests.support.gitrepos import FIXED
from tests.support.loops import break_registry, paused

OVERRIDDEN = "idempotency_replay_overridden"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")


# Item 1: dispatch within one minute -------------------------------------------------------


def dispatched(repo: Path, mode: str, apply_intent: str | None = None) -> dict[str, Any]:
    args = DispatchArgs(
        mode=mode,
        apply_intent=apply_intent,
        expand_step=None,
        actor="bob",
        approval_ref="INC-42",
        rationale="error spike",
        review_by="2099-01-01T00:00:00Z",
        repo=str(repo),
    )
    return dispatch(args, now=lambda: FIXED)  # one instant: the same minute and second


def test_rollback_resume_rollback_in_one_minute_leaves_the_fleet_paused(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)  # a resume on the same decision
    first = dispatched(repo, "rollback")
    resumed = dispatched(repo, "apply", "resume")
    assert (first["status"], resumed["status"]) == ("rolled_back", "applied")
    assert not paused(repo)

    last = dispatched(repo, "rollback")

    assert last["status"] == "rolled_back"
    assert "replayed" not in last["record"]
    assert last["record"]["status"] == "applied"
    assert last["manualPause"] == {"before": False, "after": True}
    assert paused(repo)
    keys = [first["record"]["idempotencyKey"], resumed["record"]["idempotencyKey"]]
    keys.append(last["record"]["idempotencyKey"])
    assert len(set(keys)) == 3  # unique per request, not per minute
    assert all(key.startswith("20261124T120000Z-") for key in keys)
    assert [r["intent"] for r in g.records(repo)] == ["rollback", "resume", "rollback"]


# Item 1: intent files reusing a key ---------------------------------------------------------


def test_a_rollback_file_reusing_an_expands_key_is_applied(repo: Path) -> None:
    g.add_intents(
        repo,
        {
            "a.yaml": {"step": 10, "idempotencyKey": "K1"},
            "b.yaml": {"intent": "rollback", "idempotencyKey": "K1"},
        },
    )

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "applied")]
    assert OVERRIDDEN in report.outcomes[1].reasons
    assert OVERRIDDEN in g.trailer(repo, report.commits[1], "Reason-Codes")
    assert g.subject(repo, report.commits[1]) == "rollback fleet-a: pause at canary 35% (CAB-123)"
    assert paused(repo)
    assert [(r["intent"], r["idempotencyKey"]) for r in g.records(repo)] == [
        ("expand", "K1"),
        ("rollback", "K1"),
    ]


def test_a_later_file_with_that_key_replays_the_newest_record(repo: Path) -> None:
    g.add_intents(
        repo,
        {
            "a.yaml": {"step": 10, "idempotencyKey": "K1"},
            "b.yaml": {"intent": "rollback", "idempotencyKey": "K1"},
        },
    )
    rollback = g.once(repo).outcomes[1].record
    g.add_intents(repo, {"c.yaml": {"step": 10, "idempotencyKey": "K1"}})

    report = g.once(repo, at=FIXED + timedelta(minutes=5))

    assert g.statuses(report) == [("c.yaml", "replayed")]
    replayed = report.outcomes[0].record
    assert replayed["intent"] == "rollback"
    assert replayed["timestamp"] == rollback["timestamp"]
    assert paused(repo)
    assert len(g.records(repo)) == 2


def test_a_rollback_file_reusing_a_key_after_a_resume_is_applied(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)  # a resume on the same decision
    g.add_intents(
        repo,
        {
            "a.yaml": {"intent": "rollback", "idempotencyKey": "inc-9"},
            "b.yaml": {"intent": "resume", "idempotencyKey": "resume-1"},
            "c.yaml": {"intent": "rollback", "idempotencyKey": "inc-9"},
        },
    )

    report = g.once(repo)

    assert [o.status for o in report.outcomes] == ["applied", "applied", "applied"]
    assert report.outcomes[2].reasons == (OVERRIDDEN,)
    assert paused(repo)


def test_a_rollback_file_replays_onto_a_paused_fleet(repo: Path) -> None:
    g.add_intents(
        repo,
        {
            "a.yaml": {"intent": "rollback", "idempotencyKey": "inc-9"},
            "b.yaml": {"intent": "rollback", "idempotencyKey": "inc-9"},
        },
    )

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "replayed")]
    assert paused(repo)
    assert len(g.records(repo)) == 1


def test_dry_run_predicts_the_override(repo: Path) -> None:
    g.add_intents(
        repo,
        {
            "a.yaml": {"step": 10, "idempotencyKey": "K1"},
            "b.yaml": {"intent": "rollback", "idempotencyKey": "K1"},
        },
    )
    before = g.head(repo)

    report = g.once(repo, dry_run=True)

    assert [o.status for o in report.outcomes] == ["applied", "applied"]
    assert OVERRIDDEN in report.outcomes[1].reasons
    assert g.head(repo) == before


# Item 2: a typo elsewhere in the registry -------------------------------------------------


def test_a_problem_at_an_owned_field_still_stops_a_rollback(repo: Path) -> None:
    break_registry(repo, "canaryPercent: 25", "canaryPercent: 250")
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "registry_invalid"
    assert g.pending(repo) == ["a.yaml"]


# Item 2: stray fields in a rollback intent file ---------------------------------------------


def test_a_rollback_with_a_stray_step_and_an_unknown_field_is_applied_with_notes(
    repo: Path,
) -> None:
    text = g.intent_text("rollback", step=25, colour="red").replace(
        "  actor:", "  approver: x\n  actor:"
    )
    g.add_intents(repo, {"a.yaml": text})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    outcome = report.outcomes[0]
    assert outcome.reasons == ("intent_field_invalid", "intent_unknown_field")
    assert outcome.record["warnings"] == [
        'unknown field "colour"',
        "expandStep is only allowed with intent expand (not rollback)",
        'unknown field "governance.approver"',
    ]
    assert outcome.record["expandStep"] is None
    assert paused(repo)
    assert g.processed(repo, "applied") == ["a.yaml"]


def test_a_rollback_without_governance_is_still_rejected(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": "intent: rollback\ncolour: red\n"})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "rejected")]
    assert report.outcomes[0].reasons == ("intent_governance_missing",)
    assert not paused(repo)
