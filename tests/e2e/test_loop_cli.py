"""`python -m reconciler --once` as a real process: exit codes, JSON lines, error lines.

The process reads the real clock, so the decision is generated "just now".
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import INTENTS


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    fresh = datetime.now(UTC) - timedelta(minutes=1)
    return g.make_policy_repo(tmp_path / "repo", generated_at=fresh)


def test_applied_intents_exit_0_with_one_json_line_each_and_a_pass_line(repo: Path) -> None:
    intent_commit = g.add_intents(repo, {"a.yaml": {}, "b.yaml": {"intent": "rollback"}})

    done = g.run_cli(repo, "--json")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    first, second, summary = g.json_lines(done.stdout)
    commits = g.bot_commits(repo)
    assert first["type"] == second["type"] == "intent"
    assert first["intentFile"] == f"{INTENTS}/a.yaml"
    assert first["status"] == "applied" and first["action"] == "expand"
    assert first["canary"] == {"before": 25, "after": 50}
    assert first["commit"] == commits[0]
    assert first["traceId"] == first["intentCommit"] == intent_commit
    assert first["subject"] == "expand fleet-a canary 25% -> 50% (CAB-123)"
    assert first["trailers"] == g.trailers(repo, commits[0])
    assert second["manualPause"] == {"before": False, "after": True}
    assert second["commit"] == commits[1]
    assert summary == {
        "type": "pass",
        "applied": 2,
        "replayed": 0,
        "rejected": 0,
        "deferred": 0,  # issue 11: intents a progression guard holds for a later pass
        "head": commits[1],
        "pushed": False,
        "attempts": 1,
        "dryRun": False,
        "recovered": False,
        "pendingLeft": 0,
        "ignored": [],  # issue 9: entries of the intents folder that are not intents
        "refusals": [],  # issue 13: fleets whose pass was refused (several fleets)
    }
    assert g.head(repo) == commits[1]


def test_any_rejection_exits_3_and_the_rest_is_still_applied(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": "intent: expand\n", "b.yaml": {"intent": "rollback"}})

    done = g.run_cli(repo, "--json")

    assert done.returncode == 3, done.stderr
    rows = g.json_lines(done.stdout)
    assert [row.get("status") for row in rows[:2]] == ["rejected", "applied"]
    assert rows[0]["reasonCodes"] == ["intent_governance_missing"]
    assert rows[0]["problems"]
    assert rows[2]["rejected"] == 1 and rows[2]["applied"] == 1


def test_a_replay_exits_0(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {"idempotencyKey": "k"}, "b.yaml": {"idempotencyKey": "k"}})

    done = g.run_cli(repo, "--json")

    assert done.returncode == 0, done.stderr
    assert g.json_lines(done.stdout)[-1]["replayed"] == 1


def test_nothing_pending_exits_0_and_says_so(repo: Path) -> None:
    done = g.run_cli(repo)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nothing to do: no pending intents"


def test_the_table_names_each_intent_and_the_totals(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {}})

    done = g.run_cli(repo)

    assert done.returncode == 0, done.stderr
    assert "a.yaml" in done.stdout and "25% -> 50%" in done.stdout
    assert done.stdout.splitlines()[-1] == "1 applied, 0 replayed, 0 rejected"


def test_an_invalid_registry_exits_1_and_leaves_the_intents_pending(repo: Path) -> None:
    registry = repo / g.REGISTRY
    registry.write_text(registry.read_text().replace("mode: guarded_auto", "mode: yolo"))
    g.commit_all(repo, "typo")
    g.add_intents(repo, {"a.yaml": {}})
    before = g.head(repo)

    done = g.run_cli(repo, "--json")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: invalid fleet registry")
    assert done.stderr.splitlines()[-1] == "reason: registry_invalid"
    assert g.head(repo) == before
    assert g.pending(repo) == ["a.yaml"]
    assert g.status(repo) == ""


def test_a_dirty_worktree_exits_1_with_worktree_dirty(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {}})
    (repo / "notes.txt").write_text("wip\n")

    done = g.run_cli(repo)

    assert done.returncode == 1
    assert "notes.txt" in done.stderr
    assert done.stderr.splitlines()[-1] == "reason: worktree_dirty"
    assert g.pending(repo) == ["a.yaml"]


def test_dry_run_prints_what_would_happen_and_commits_nothing(tmp_path: Path) -> None:
    fresh = datetime.now(UTC) - timedelta(minutes=1)
    # Two expands chained on one decision: pacing off.
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=fresh, paced=False)
    g.add_intents(repo, {"a.yaml": {}, "b.yaml": {}})
    before = g.head(repo)

    done = g.run_cli(repo, "--dry-run", "--json")

    assert done.returncode == 0, done.stderr
    first, second, summary = g.json_lines(done.stdout)
    assert (first["canary"], second["canary"]) == (
        {"before": 25, "after": 50},
        {"before": 50, "after": 75},
    )
    assert first["commit"] is None and second["commit"] is None
    assert summary["dryRun"] is True and summary["head"] == before
    assert g.head(repo) == before
    assert g.status(repo) == ""
    assert g.pending(repo) == ["a.yaml", "b.yaml"]


def test_dry_run_table_says_nothing_was_committed(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {}})

    done = g.run_cli(repo, "--dry-run")

    assert done.returncode == 0, done.stderr
    assert "dry run: nothing committed" in done.stdout
    assert (
        done.stdout.splitlines()[-1]
        == "1 would be applied, 0 would be replayed, 0 would be rejected"
    )


def test_max_intents_leaves_the_rest_and_reports_it(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {}, "b.yaml": {}, "c.yaml": {}})

    done = g.run_cli(repo, "--max-intents", "1", "--json")

    assert done.returncode == 0, done.stderr
    rows = g.json_lines(done.stdout)
    assert len(rows) == 2
    assert rows[-1]["pendingLeft"] == 2
    assert g.pending(repo) == ["b.yaml", "c.yaml"]


def test_max_intents_zero_is_a_usage_error(repo: Path) -> None:
    done = g.run_cli(repo, "--max-intents", "0")

    assert done.returncode == 2
    assert "--max-intents" in done.stderr


def test_a_lock_held_too_long_exits_75_retryable_with_lock_timeout(repo: Path) -> None:
    from reconciler.adapters import locking

    g.add_intents(repo, {"a.yaml": {}})

    with locking.hold_locks([str(repo / "policies")], 5.0):
        done = g.run_cli(repo, "--lock-timeout", "0.2s")

    assert done.returncode == 75  # EX_TEMPFAIL: retryable
    assert done.stderr.splitlines()[-1] == "reason: lock_timeout"
    assert g.pending(repo) == ["a.yaml"]


def test_a_non_utf8_file_name_is_rejected_and_printed_on_a_strict_utf8_stdout(
    repo: Path,
) -> None:
    folder = os.fsencode(repo / INTENTS)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, b"b\xffd.yaml"), "wb") as handle:
        handle.write(g.intent_text("rollback").encode())

    done = g.run_cli(repo, "--json", env={"PYTHONIOENCODING": "utf-8:strict"})

    assert done.returncode == 3, done.stderr
    row = g.json_lines(done.stdout)[0]
    assert row["intentFile"] == f"{INTENTS}/b\ufffdd.yaml"
    assert row["reasonCodes"] == ["intent_name_invalid"]
