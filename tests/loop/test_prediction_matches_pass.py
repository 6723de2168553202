"""`plan` and `status` predict exactly what the next `--once` commits.

One tricky queue on a real repository: an expand, a rollback after it, a file replaying the
expand's key in the same pass, a rejected file whose fields partly parse, a resume, a rollback
reusing a key on a fleet the resume un-paused, an expand reusing the resume's key. The plan
(of a branch adding them, merged into main) and the status of main are compared with the
pass's rows, field by field, with the pacing guard (decisionAfterChange) off and on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.core.outcome_rows import outcome_row
from reconciler.reports.plan import make_plan
from reconciler.reports.status import repo_status
from tests.support import gitrepos as g

QUEUE: dict[str, str | dict[str, Any]] = {
    "10-expand.yaml": {"step": 10},
    "20-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-1"},
    "30-replay.yaml": {"step": 10, "idempotencyKey": "10-expand"},
    "40-partial.yaml": g.intent_text(step="ten", actor="bob"),
    "50-resume.yaml": {"intent": "resume"},
    "60-rollback-again.yaml": {
        "intent": "rollback",
        "approval_ref": "INC-2",
        "idempotencyKey": "20-rollback",
    },
    "70-expand-key.yaml": {"step": 5, "idempotencyKey": "50-resume"},
}
COMPARED = (
    "intentFile", "action", "status", "reasonCodes", "problems", "idempotencyKey", "traceId",
    "canary", "manualPause", "actor", "approvalRef", "decision", "subject",
)  # fmt: skip


def rows(outcomes: list[Any]) -> list[dict[str, Any]]:
    return [{key: outcome_row(o, None)[key] for key in COMPARED} for o in outcomes]


@pytest.mark.parametrize(
    ("paced", "statuses"),
    [
        # Pacing off: the resume runs on the rollback's decision, so the rollback reusing a
        # key finds the fleet un-paused and the last expand replays the resume's record.
        (False, ["applied", "applied", "replayed", "rejected", "applied", "applied", "replayed"]),
        # The layout's default (decisionAfterChange): the resume waits for a decision after
        # the rollback, and the expand behind it queues.
        (True, ["applied", "applied", "replayed", "rejected", "deferred", "replayed", "deferred"]),
    ],
)
def test_plan_and_status_predict_the_pass_of_a_tricky_queue(
    tmp_path: Path, paced: bool, statuses: list[str]
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=paced)
    g.git(repo, "checkout", "-q", "-b", "feature")
    g.add_intents(repo, QUEUE)
    planned = rows(
        [item.outcome for item in make_plan(str(repo), "main", now=lambda: g.FIXED).items]
    )
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "merge", "-q", "--ff-only", "feature")
    status = repo_status(str(repo), now=lambda: g.FIXED)

    report = g.once(repo)

    done = rows(report.outcomes)
    assert [row["status"] for row in done] == statuses
    assert done[3]["action"] == "expand" and done[3]["actor"] == "bob"
    if paced:
        assert done[4]["reasonCodes"] == ["guard_decision_predates_change"]
        assert done[6]["reasonCodes"] == [
            "guard_decision_predates_change",
            "queued_behind_deferred",
        ]
    else:
        assert "idempotency_replay_overridden" in done[5]["reasonCodes"]
    assert planned == done
    assert [{key: row[key] for key in COMPARED} for row in status["pending"]] == done
