"""`reconcile plan` as a real process on real git repositories: the pull-request check.

A bare repository plays GitHub; an operator's clone adds intents on a branch. The plan must
evaluate them on the merge of the branch into its base (never the worktree's files), write
nothing but its summary, and predict exactly what `reconcile --once` commits once the branch
is merged (tests/e2e/test_plan_merge.py covers the merge and the branch's owned edits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import INTENTS, REGISTRY, TELEMETRY, recent, reconcile

ROW_KEYS = {
    "type", "intentFile", "action", "status", "reasonCodes", "problems", "idempotencyKey",
    "traceId", "canary", "manualPause", "actor", "approvalRef", "decision", "intentCommit",
    "commit", "subject", "trailers", "new", "message", "notBefore", "fleet",
}  # fmt: skip


def plan_json(cwd: Path, *args: str) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Run `plan --json`; return the exit code, the intent rows and the summary line."""
    done = reconcile(cwd, "plan", "--json", *args)
    assert done.returncode in (0, 3), done.stderr
    lines = g.json_lines(done.stdout)
    assert lines and lines[-1]["type"] == "plan", done.stdout
    return done.returncode, lines[:-1], lines[-1]


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["intentFile"].rsplit("/", 1)[-1]: row for row in rows}


def set_canary(repo: Path, percent: int) -> None:
    path = repo / REGISTRY
    text = path.read_text()
    assert "canaryPercent: 25 " in text
    path.write_text(text.replace("canaryPercent: 25 ", f"canaryPercent: {percent} ", 1))


def snapshot(repo: Path) -> dict[str, Any]:
    """Everything plan could write: worktree bytes, refs, git's own files, status."""
    tree = {
        str(path.relative_to(repo)): path.read_bytes()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(repo).parts
    }
    git_files = {
        str(path.relative_to(repo / ".git"))
        for path in (repo / ".git").rglob("*")
        if path.is_file()
    }
    return {
        "tree": tree,
        "git": git_files,
        "refs": g.git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": g.git(repo, "symbolic-ref", "-q", "HEAD", check=False) + g.head(repo),
        "status": g.git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all"),
    }


def rollback_remote(tmp_path: Path, *, paced: bool) -> Path:
    """A bare remote whose main holds the example policies and one pending rollback."""
    seed = g.make_policy_repo(tmp_path / "seed", generated_at=recent(), paced=paced)
    g.add_intents(
        seed,
        {
            "10-rollback-inc-1.yaml": {
                "intent": "rollback",
                "approval_ref": "INC-1",
                "rationale": "error spike",
            }
        },
    )
    return g.make_remote(tmp_path, seed)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """`rollback_remote` with pacing off: the branch's expand and resume then run on the
    rollback's decision (the plan's own mechanics are the subject here, not the guards)."""
    return rollback_remote(tmp_path, paced=False)


def feature_branch(tmp_path: Path, remote: Path) -> Path:
    """The operator's clone on branch `feature`, which adds an expand and a resume."""
    ops = g.clone(remote, tmp_path / "ops")
    g.git(ops, "switch", "-q", "-c", "feature")
    g.add_intents(
        ops,
        {
            "20-expand-cab-2.yaml": {"step": 10, "approval_ref": "CAB-2"},
            "30-resume-cab-3.yaml": {"intent": "resume", "approval_ref": "CAB-3"},
        },
    )
    return ops


@pytest.fixture
def branch(tmp_path: Path, remote: Path) -> Path:
    return feature_branch(tmp_path, remote)


EXPECTED = {
    "10-rollback-inc-1.yaml": (
        False, "rollback", "applied", (25, 25), (False, True),
        "rollback fleet-a: pause at canary 25% (INC-1)",
    ),
    "20-expand-cab-2.yaml": (
        True, "expand", "applied", (25, 35), (True, False),
        "expand fleet-a canary 25% -> 35% (CAB-2)",
    ),
    "30-resume-cab-3.yaml": (
        True, "resume", "applied", (35, 35), (False, False),
        "resume fleet-a: already running, governance renewed (CAB-3)",
    ),
}  # fmt: skip


def facts(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["new"],
        row["action"],
        row["status"],
        (row["canary"]["before"], row["canary"]["after"]),
        (row["manualPause"]["before"], row["manualPause"]["after"]),
        row["subject"],
    )


# What the plan says ----------------------------------------------------------------------


def test_plan_lists_new_and_already_pending_intents_in_the_loops_order(branch: Path) -> None:
    code, rows, summary = plan_json(branch)

    assert code == 0
    assert [row["intentFile"] for row in rows] == [f"{INTENTS}/{name}" for name in EXPECTED]
    assert {name: facts(row) for name, row in by_name(rows).items()} == EXPECTED
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["type"] == "intent"
        assert row["problems"] == []
        assert row["commit"] is None
        assert row["notBefore"] is None
        assert row["decision"] == "promote"
    assert [row["reasonCodes"] for row in rows] == [[], [], ["rollout_unchanged"]]
    expand = by_name(rows)["20-expand-cab-2.yaml"]
    adding = g.git(branch, "log", "-1", "--format=%H", "--", f"{INTENTS}/20-expand-cab-2.yaml")
    assert expand["intentCommit"] == expand["traceId"] == adding
    assert expand["idempotencyKey"] == "20-expand-cab-2"
    assert expand["actor"] == "alice" and expand["approvalRef"] == "CAB-2"
    assert expand["trailers"] == {
        "Reconcile-Intent": f"{INTENTS}/20-expand-cab-2.yaml",
        "Reconcile-Status": "applied",
        "Reconcile-Action": "expand",
        "Idempotency-Key": "20-expand-cab-2",
        "Trace-Id": adding,
        "Decision": "promote",
        "Decision-Trace-Id": "gates-2026-11-24-0600",
        "Actor": "alice",
        "Approval-Ref": "CAB-2",
        "Canary": "25 -> 35",
        "Manual-Pause": "true -> false",
        "Intent-Commit": adding,
    }
    assert expand["message"].startswith("expand fleet-a canary 25% -> 35% (CAB-2)\n\n")
    assert summary == {
        "type": "plan",
        "base": g.head(branch, "origin/main"),
        "baseRef": "origin/main",
        "mergeBase": g.head(branch, "origin/main"),
        "head": g.head(branch),
        "new": 2,
        "rejected": False,
        "reasonCodes": [],
        "problems": [],
        "ignored": [],
    }


def test_plan_evaluates_the_merge_not_the_worktree_and_flags_the_branchs_owned_edits(
    branch: Path,
) -> None:
    # Issue 9: the branch's own (committed) decision and canary are what the merge brings, so
    # the plan evaluates them, and fails because a pull request must not edit them by hand.
    g.write_decision(branch, "hold", generated_at=recent(), trace_id="gates-branch-hold")
    set_canary(branch, 60)
    g.commit_all(branch, "branch: hold decision, canary 60")
    # And an uncommitted worktree change that differs from both: never part of the merge.
    (branch / REGISTRY).write_text((branch / REGISTRY).read_text().replace(" 60 ", " 70 ", 1))

    code, rows, summary = plan_json(branch, "--base", "origin/main")

    assert code == 3
    assert summary["reasonCodes"] == ["pr_edits_owned_content"]
    assert summary["problems"] == [
        "policies/promotion/decision.json: the promotion decision is written by the gates job, "
        "not by hand",
        "policies/registry.yaml: policy.autonomous.rollout.canaryPercent changed (25 -> 60): "
        "the reconciler owns this field; change it through an intent",
    ]
    assert [(row["status"], row["canary"]) for row in rows] == [
        ("applied", {"before": 60, "after": 60}),
        ("rejected", {"before": 60, "after": 60}),
        ("rejected", {"before": 60, "after": 60}),
    ]
    for row in rows:
        assert row["decision"] == "hold"
        assert row["trailers"]["Decision-Trace-Id"] == "gates-branch-hold"


def test_plan_uses_the_base_decision_when_only_the_base_holds(tmp_path: Path) -> None:
    seed = g.make_policy_repo(
        tmp_path / "seed", decision="hold", generated_at=recent(), trace_id="gates-hold"
    )
    g.git(seed, "switch", "-q", "-c", "feature")
    g.write_decision(seed, "promote", generated_at=recent(), trace_id="gates-branch-promote")
    g.add_intents(seed, {"20-expand-cab-2.yaml": {"step": 10, "approval_ref": "CAB-2"}})

    code, rows, summary = plan_json(seed, "--base", "main")

    assert code == 3
    assert summary["rejected"] is True
    (row,) = rows
    assert row["status"] == "rejected"
    assert row["reasonCodes"] == ["promotion_decision_not_promote"]
    assert row["subject"] == "reject 20-expand-cab-2: decision hold"
    assert row["trailers"]["Decision-Trace-Id"] == "gates-hold"
    assert (row["canary"], row["manualPause"]) == (
        {"before": 25, "after": 25},
        {"before": False, "after": False},
    )


def test_plan_uses_the_base_telemetry_for_replays(tmp_path: Path) -> None:
    seed = g.make_policy_repo(tmp_path / "seed", generated_at=recent())
    g.add_intents(seed, {"10-expand.yaml": {"step": 10, "idempotencyKey": "cab-9"}})
    done = reconcile(seed, "--once")
    assert done.returncode == 0, done.stderr
    assert g.canary(seed) == 35
    g.git(seed, "switch", "-q", "-c", "feature")
    g.add_intents(seed, {"20-expand-again.yaml": {"step": 10, "idempotencyKey": "cab-9"}})
    (seed / TELEMETRY).write_text("")  # the worktree's copy must not matter

    code, rows, _ = plan_json(seed, "--base", "main")

    assert code == 0
    (row,) = rows
    assert (row["new"], row["status"]) == (True, "replayed")
    assert row["subject"] == "replay 20-expand-again: key cab-9 already applied (CAB-123)"
    assert (row["canary"]["before"], row["canary"]["after"]) == (35, 35)


def test_a_new_intent_that_would_be_rejected_exits_3(branch: Path) -> None:
    g.add_intents(branch, {"40-expand-typo.yaml": "intent: expand\nexpandStpe: 50\n"})

    code, rows, summary = plan_json(branch)

    assert code == 3
    assert summary["rejected"] is True and summary["new"] == 3
    typo = by_name(rows)["40-expand-typo.yaml"]
    # Rejected for its typo, but the file says `intent: expand`: that is kept (issue 10).
    assert (typo["new"], typo["status"], typo["action"]) == (True, "rejected", "expand")
    assert "intent_unknown_field" in typo["reasonCodes"]
    assert typo["problems"]
    assert typo["subject"].startswith("reject 40-expand-typo: ")
    assert typo["trailers"]["Reconcile-Status"] == "rejected"
    human = reconcile(branch, "plan")
    assert human.returncode == 3
    assert "40-expand-typo.yaml" in human.stdout


def test_an_already_pending_rejected_intent_does_not_fail_the_plan(tmp_path: Path) -> None:
    seed = g.make_policy_repo(tmp_path / "seed", generated_at=recent())
    g.add_intents(seed, {"10-typo.yaml": "intent: rollback\n"})
    g.git(seed, "switch", "-q", "-c", "feature")
    g.add_intents(seed, {"20-rollback.yaml": {"intent": "rollback"}})

    code, rows, summary = plan_json(seed)

    assert code == 0
    assert summary["baseRef"] == "main"  # no remote: the local default branch
    assert summary["rejected"] is False
    assert [(row["new"], row["status"]) for row in rows] == [
        (False, "rejected"),
        (True, "applied"),
    ]
    assert rows[0]["reasonCodes"] == ["intent_governance_missing"]


def test_plan_with_no_new_intents_exits_0_and_says_so(tmp_path: Path) -> None:
    seed = g.make_policy_repo(tmp_path / "seed", generated_at=recent())

    done = reconcile(seed, "plan")
    code, rows, summary = plan_json(seed, "--base", "main")

    assert done.returncode == 0
    assert "0 new intent(s)" in done.stdout
    assert (code, rows, summary["new"], summary["rejected"]) == (0, [], 0, False)
    assert summary["base"] == summary["head"] == g.head(seed)


# What the plan predicts is what the loop commits -----------------------------------------


@pytest.mark.parametrize(
    ("paced", "statuses"),
    [
        (False, ["applied", "applied", "applied", "rejected"]),
        # The layout's default: the expand waits for a decision generated after the rollback,
        # the resume queues behind it; both stay pending and commit nothing.
        (True, ["applied", "deferred", "deferred", "rejected"]),
    ],
)
def test_the_plan_equals_what_once_commits_after_the_merge(
    tmp_path: Path, paced: bool, statuses: list[str]
) -> None:
    branch = feature_branch(tmp_path, rollback_remote(tmp_path, paced=paced))
    g.add_intents(branch, {"40-expand-typo.yaml": "intent: expand\nexpandStpe: 50\n"})
    code, rows, _ = plan_json(branch, "--base", "origin/main")
    assert code == 3
    assert [row["status"] for row in rows] == statuses
    g.git(branch, "switch", "-q", "main")
    g.git(branch, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    g.git(branch, "push", "-q", "origin", "main")
    ci = g.clone(Path(g.git(branch, "remote", "get-url", "origin")), tmp_path / "ci")

    done = reconcile(ci, "--once", "--push", "--json")

    assert done.returncode == 3, done.stderr
    committed = [line for line in g.json_lines(done.stdout) if line["type"] == "intent"]
    assert len(committed) == len(rows) == 4
    for predicted, actual in zip(rows, committed, strict=True):
        assert actual["intentFile"] == predicted["intentFile"]
        for key in ("status", "action", "subject", "trailers", "reasonCodes", "canary"):
            assert actual[key] == predicted[key], (predicted["intentFile"], key)
        assert actual["manualPause"] == predicted["manualPause"]
        assert actual["traceId"] == predicted["traceId"]
        assert actual["notBefore"] == predicted["notBefore"]
        if actual["status"] == "deferred":  # no commit: the file waits in the intents folder
            assert actual["commit"] is None
            assert actual["intentFile"].rsplit("/", 1)[-1] in g.pending(ci)
            continue
        message = g.git(ci, "log", "-1", "--format=%B", actual["commit"])
        assert message.rstrip("\n") == predicted["message"].rstrip("\n")
        assert g.subject(ci, actual["commit"]) == predicted["subject"]
        assert g.trailers(ci, actual["commit"]) == predicted["trailers"]
    assert g.head(ci) == g.git(ci, "ls-remote", "origin", "refs/heads/main").split()[0]


def test_plan_works_on_githubs_detached_merge_checkout(branch: Path, tmp_path: Path) -> None:
    # actions/checkout of a pull request: HEAD detached at the merge of the branch into main.
    g.git(branch, "switch", "-q", "--detach", "origin/main")
    g.git(branch, "merge", "-q", "--no-ff", "-m", "Merge feature into main", "feature")

    code, rows, summary = plan_json(branch, "--base", "origin/main")

    assert code == 0
    assert summary["base"] == g.head(branch, "origin/main")
    assert {name: facts(row) for name, row in by_name(rows).items()} == EXPECTED


# Summary files ---------------------------------------------------------------------------


def test_plan_appends_its_summary_to_github_step_summary(branch: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("## an earlier step\n")

    done = reconcile(branch, "plan", env={"GITHUB_STEP_SUMMARY": str(summary)})

    assert done.returncode == 0, done.stderr
    text = summary.read_text()
    assert text.startswith("## an earlier step\n## reconcile plan\n")
    assert "2 new intent(s): 2 would be applied, 0 replayed, 0 deferred, 0 rejected." in text
    assert "| `20-expand-cab-2.yaml` | yes | ✅ applied | expand | 25% -> 35% |" in text
    assert "| `10-rollback-inc-1.yaml` | no | ✅ applied | rollback |" in text
    assert "<details><summary>expand fleet-a canary 25% -> 35% (CAB-2)</summary>" in text
    assert "Canary: 25 -> 35" in text


def test_summary_file_is_written_instead_of_the_step_summary(branch: Path, tmp_path: Path) -> None:
    step = tmp_path / "step-summary.md"
    step.write_text("kept\n")
    target = tmp_path / "plan.md"
    target.write_text("stale content\n")
    g.add_intents(branch, {"40-expand-typo.yaml": "intent: expand\nexpandStpe: 50\n"})

    done = reconcile(
        branch, "plan", "--summary-file", str(target), env={"GITHUB_STEP_SUMMARY": str(step)}
    )

    assert done.returncode == 3
    assert step.read_text() == "kept\n"
    text = target.read_text()
    assert text.startswith("## reconcile plan\n")
    assert "3 new intent(s): 2 would be applied, 0 replayed, 0 deferred, 1 rejected." in text
    assert "| `40-expand-typo.yaml` | yes | ❌ rejected | expand |" in text
    assert "stale content" not in text


# Invalid base refs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--base", "no-such-branch"], id="unknown"),
        pytest.param(["--base=-n"], id="option-like"),
        pytest.param(["--base=--output=/tmp/x"], id="long-option-like"),
        pytest.param(["--base", ""], id="empty"),
        pytest.param(["--base", "origin/main:policies"], id="not-a-commit"),
    ],
)
def test_an_invalid_base_is_refused_with_base_ref_invalid(branch: Path, args: list[str]) -> None:
    before = snapshot(branch)

    done = reconcile(branch, "plan", *args)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1] == "reason: base_ref_invalid"
    assert done.stdout == ""
    assert snapshot(branch) == before


def test_a_base_without_common_history_is_refused(branch: Path) -> None:
    g.git(branch, "switch", "-q", "--orphan", "unrelated")
    g.git(branch, "commit", "-q", "--allow-empty", "-m", "unrelated root")
    g.git(branch, "switch", "-q", "feature")

    done = reconcile(branch, "plan", "--base", "unrelated")

    assert done.returncode == 1
    assert "no common history" in done.stderr
    assert done.stderr.splitlines()[-1] == "reason: base_ref_invalid"


def test_without_a_default_branch_plan_asks_for_base(tmp_path: Path) -> None:
    seed = g.make_policy_repo(tmp_path / "seed", generated_at=recent())
    g.git(seed, "branch", "-q", "-m", "main", "trunk")

    done = reconcile(seed, "plan")

    assert done.returncode == 1
    assert "pass --base REF" in done.stderr
    assert done.stderr.splitlines()[-1] == "reason: base_ref_invalid"


# Plan writes nothing ---------------------------------------------------------------------


def test_plan_writes_nothing_but_its_summary(branch: Path, tmp_path: Path) -> None:
    g.add_intents(branch, {"40-expand-typo.yaml": "intent: expand\nexpandStpe: 50\n"})
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    before = snapshot(branch)
    assert before["status"] == ""

    for args in (["--json"], [], ["--base", "origin/main"]):
        done = reconcile(branch, "plan", *args, env={"TMPDIR": str(temp)})
        assert done.returncode == 3, done.stderr

    assert snapshot(branch) == before
    assert list(temp.iterdir()) == []


def test_an_uncommitted_intent_counts_as_new(branch: Path) -> None:
    # An operator runs `reconcile plan` right after `reconcile intent new`, before committing.
    g.write_intent(branch, "40-expand-typo.yaml", "intent: expand\nexpandStpe: 50\n")

    code, rows, summary = plan_json(branch)

    assert code == 3
    assert summary["new"] == 3
    typo = by_name(rows)["40-expand-typo.yaml"]
    assert (typo["new"], typo["status"], typo["intentCommit"]) == (True, "rejected", None)


def test_plan_works_on_the_bash_tools_layout(tmp_path: Path) -> None:
    from tests.support import fleet

    repo = tmp_path / "superloop"
    repo.mkdir()
    g.git(repo, "init", "-q", "-b", "main")
    fleet.write_registry(repo, canary=25, manual=False)
    fleet.write_decision(repo, "promote", generated_at=recent().strftime("%Y-%m-%dT%H:%M:%SZ"))
    g.commit_all(repo, "fleet")
    g.git(repo, "switch", "-q", "-c", "feature")
    folder = str(fleet.SUPERLOOP / "intents")
    g.write_intent(repo, "10-expand.yaml", folder=folder, step=5)
    g.commit_all(repo, "intent")
    before = snapshot(repo)

    code, rows, summary = plan_json(repo)

    assert code == 0
    (row,) = rows
    assert row["intentFile"] == f"{folder}/10-expand.yaml"
    assert (row["new"], row["status"], row["subject"]) == (
        True,
        "applied",
        "expand fleet-phase11 canary 25% -> 30% (CAB-123)",
    )
    assert summary["baseRef"] == "main"
    assert snapshot(repo) == before
