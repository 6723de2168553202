"""Inputs mean exactly one thing (issue 9, items 11-12) to the `--once` pass, in-process.

- blank governance in an intent file is missing governance;
- a `promote` decision that contradicts itself refuses expand, never rollback.

Every other path (`apply`, `status`, `plan`, `validate`, `intent new`) runs as a real process
in tests/e2e/test_inputs_mean_one_thing.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g
from tests.support.loops import CONTRADICTIONS, edit_decision


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # A decision fresh at `g.recent()`, the clock these passes run at (max age 24h).
    return g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())


def test_an_intent_file_with_a_no_break_space_actor_is_rejected(repo: Path) -> None:
    blank_actor = g.intent_text("rollback").replace("actor: alice", 'actor: "\\u00a0"')
    g.add_intents(repo, {"a-rollback.yaml": blank_actor, "b-rollback.yaml": {"intent": "rollback"}})

    report = g.once(repo, at=g.recent())

    assert g.statuses(report) == [
        ("a-rollback.yaml", "rejected"),
        ("b-rollback.yaml", "applied"),
    ]
    rejected = report.outcomes[0]
    assert rejected.reasons == ("intent_governance_missing",)
    assert rejected.problems == ("governance.actor is required",)
    assert g.processed(repo, "rejected") == ["a-rollback.yaml"]
    assert g.trailer(repo, report.commits[0], "Reason-Codes") == "intent_governance_missing"


@pytest.mark.parametrize(("summary", "found"), CONTRADICTIONS)
def test_the_loop_rejects_expand_under_a_contradicting_promote_and_applies_the_rollback(
    repo: Path, summary: dict[str, Any], found: str
) -> None:
    edit_decision(repo, **summary)
    g.add_intents(repo, {"a-expand.yaml": {}, "b-rollback.yaml": {"intent": "rollback"}})

    report = g.once(repo, at=g.recent())

    assert g.statuses(report) == [("a-expand.yaml", "rejected"), ("b-rollback.yaml", "applied")]
    rejected = report.outcomes[0]
    assert rejected.reasons == ("promotion_decision_inconsistent",)
    assert rejected.problems == (
        f"intent expand refused: the promotion decision says promote but {found}; regenerate it",
    )
    assert g.canary(repo) == 25
    assert "manual: true" in (repo / g.REGISTRY).read_text()
