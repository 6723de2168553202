"""`reconcile plan` evaluates the merge of the branch, and flags its edits of owned content.

Issue 9: a pull request that edits `canaryPercent: 25` to `90` by hand and adds an expand by
10 was planned as `25% -> 35%` (exit 0) while the reconciler then committed `90% -> 100%`.
Real processes on real repositories: a bare remote plays GitHub, a clone holds the branch,
a second clone plays CI running `--once --push` after the merge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import DECISION, INDEX, INTENTS, REGISTRY, SEGMENTS, STATE, TELEMETRY
from tests.support.gitrepos import reconcile as run

OWNED = "pr_edits_owned_content"


def plan_json(cwd: Path, *args: str) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    done = run(cwd, "plan", "--json", *args)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    lines = g.json_lines(done.stdout)
    assert lines and lines[-1]["type"] == "plan", done.stdout
    return done.returncode, lines[:-1], lines[-1]


def edit(repo: Path, path: str, old: str, new: str) -> None:
    target = repo / path
    text = target.read_text()
    assert text.count(old) == 1, (path, old)
    target.write_text(text.replace(old, new))


def git_files(repo: Path) -> set[str]:
    return {str(p.relative_to(repo / ".git")) for p in (repo / ".git").rglob("*") if p.is_file()}


def merge_and_run_ci(ops: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """Merge `feature` into main as GitHub does (a merge commit), push, run CI's pass."""
    g.git(ops, "switch", "-q", "main")
    g.git(ops, "pull", "-q", "--ff-only", "origin", "main")
    g.git(ops, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    g.git(ops, "push", "-q", "origin", "main")
    ci = g.clone(Path(g.git(ops, "remote", "get-url", "origin")), tmp_path / "ci")
    done = run(ci, "--once", "--push", "--json")
    assert done.returncode in (0, 3), done.stderr
    return [line for line in g.json_lines(done.stdout) if line["type"] == "intent"]


def assert_plan_is_the_commit(planned: list[dict[str, Any]], done: list[dict[str, Any]]) -> None:
    assert [row["intentFile"] for row in done] == [row["intentFile"] for row in planned]
    for predicted, actual in zip(planned, done, strict=True):
        for key in ("status", "action", "subject", "trailers", "reasonCodes", "canary"):
            assert actual[key] == predicted[key], (predicted["intentFile"], key)
        assert actual["manualPause"] == predicted["manualPause"]


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """main: the example policies (canary 25, running) with a fresh decision."""
    seed = g.make_policy_repo(tmp_path / "seed", generated_at=g.recent())
    return g.make_remote(tmp_path, seed)


@pytest.fixture
def ops(tmp_path: Path, remote: Path) -> Path:
    """The operator's clone, on a new branch `feature`."""
    repo = g.clone(remote, tmp_path / "ops")
    g.git(repo, "switch", "-q", "-c", "feature")
    return repo


@pytest.fixture
def processed(tmp_path: Path) -> Path:
    """Like `ops`, but main already holds one applied and one rejected intent (35%)."""
    seed = g.make_policy_repo(tmp_path / "seed", generated_at=g.recent())
    g.add_intents(seed, {"10-expand.yaml": {"step": 10}, "11-typo.yaml": "intent: rollback\n"})
    assert run(seed, "--once").returncode == 3
    assert g.canary(seed) == 35
    repo = g.clone(g.make_remote(tmp_path, seed), tmp_path / "ops")
    g.git(repo, "switch", "-q", "-c", "feature")
    return repo


# The case -------------------------------------------------------------------------


def test_a_hand_edit_of_canary_fails_the_plan_which_predicts_what_once_commits_after_the_merge(
    ops: Path, tmp_path: Path
) -> None:
    edit(ops, REGISTRY, "canaryPercent: 25 ", "canaryPercent: 90 ")
    g.write_intent(ops, "20-expand-cab-2.yaml", step=10, approval_ref="CAB-2")
    g.commit_all(ops, "expand by 10, and 90 by hand")

    code, rows, summary = plan_json(ops)
    human = run(ops, "plan")

    assert code == 3
    assert summary["problems"] == [
        f"{REGISTRY}: policy.autonomous.rollout.canaryPercent changed (25 -> 90): the "
        "reconciler owns this field; change it through an intent"
    ]
    # Merged anyway, the hand edit is drift (docs/audit.md): the expand is rejected on it.
    (row,) = rows
    assert (row["status"], row["reasonCodes"]) == ("rejected", ["audit_drift"])
    assert row["canary"] == {"before": 90, "after": 90}
    assert human.returncode == 3
    assert "policy.autonomous.rollout.canaryPercent changed (25 -> 90)" in human.stderr

    committed = merge_and_run_ci(ops, tmp_path)

    assert_plan_is_the_commit(rows, committed)
    assert committed[0]["reasonCodes"] == ["audit_drift"]


def test_the_plan_starts_from_what_the_target_gained_after_the_branch_started(
    ops: Path, tmp_path: Path
) -> None:
    # main moves on: another expand is merged and reconciled (25 -> 35) after the branch began.
    other = g.clone(Path(g.git(ops, "remote", "get-url", "origin")), tmp_path / "other")
    g.add_intents(other, {"10-expand-first.yaml": {"step": 10, "approval_ref": "CAB-1"}})
    assert run(other, "--once", "--push").returncode == 0
    # Pacing is not this test's subject (a decision after that expand would be generated
    # within the second the real process ran it): main turns decisionAfterChange off.
    (other / "reconciler.yaml").write_text(g.UNPACED)
    g.commit_all(other, "no pacing")
    g.git(other, "push", "-q", "origin", "main")
    g.add_intents(ops, {"20-expand-cab-2.yaml": {"step": 10, "approval_ref": "CAB-2"}})
    g.git(ops, "fetch", "-q", "origin")
    before = git_files(ops)

    code, rows, summary = plan_json(ops, "--base", "origin/main")

    assert code == 0, summary
    assert summary["problems"] == []
    assert summary["base"] == g.head(ops, "origin/main") != summary["mergeBase"]
    (row,) = rows
    assert row["canary"] == {"before": 35, "after": 45}
    assert git_files(ops) == before  # the merge's objects went to a temporary folder
    assert_plan_is_the_commit(rows, merge_and_run_ci(ops, tmp_path))


# What counts as an edit of owned content ---------------------------------------------------


def test_comments_and_the_operators_own_registry_fields_may_change(ops: Path) -> None:
    edit(ops, REGISTRY, "# Fleet rollout policy", "# The fleet's rollout policy")
    edit(ops, REGISTRY, "cooldownSeconds: 300", "cooldownSeconds: 600")
    edit(ops, REGISTRY, "canaryPercent: 25     # share", "canaryPercent: 25  # the share")
    quoted = 'rationale: "Initial guarded rollout"'
    edit(ops, REGISTRY, quoted, quoted.replace('"', "'"))
    edit(ops, REGISTRY, "manual: false ", "manual: False ")  # the same value, spelled otherwise
    g.write_intent(ops, "20-expand.yaml", step=5)
    g.commit_all(ops, "registry housekeeping and an expand")

    code, rows, summary = plan_json(ops)

    assert code == 0, summary["problems"]
    assert summary["problems"] == summary["reasonCodes"] == []
    assert rows[0]["canary"] == {"before": 25, "after": 30}


@pytest.mark.parametrize(
    ("path", "old", "new", "problem"),
    [
        pytest.param(
            REGISTRY, "manual: false ", "manual: true ",
            "policy.autonomous.rollout.pause.manual changed (false -> true)", id="pause-manual",
        ),
        pytest.param(
            REGISTRY, "actor: alice", "actor: mallory",
            'policy.autonomous.governance.actor changed ("alice" -> "mallory")',
            id="governance-actor",
        ),
        pytest.param(
            REGISTRY, "      reviewBy: 2099-01-01T00:00:00Z\n", "",
            'policy.autonomous.governance.reviewBy changed ("2099-01-01T00:00:00Z" -> absent)',
            id="governance-field-removed",
        ),
        pytest.param(
            DECISION, '"decision": "promote"', '"decision": "hold"',
            "the promotion decision is written by the gates job", id="decision",
        ),
        pytest.param(
            TELEMETRY, '"status":"applied"', '"status":"rejected"',
            "telemetry is written only by the reconciler", id="telemetry",
        ),
        pytest.param(
            STATE, '"status":"applied"', '"status":"rejected"',
            "apply state and key indexes are written only by the reconciler", id="state",
        ),
        pytest.param(
            INDEX, "10-expand", "10-other",
            "apply state and key indexes are written only by the reconciler", id="key-index",
        ),
    ],
)  # fmt: skip
def test_each_edit_of_owned_content_is_one_problem(
    processed: Path, path: str, old: str, new: str, problem: str
) -> None:
    edit(processed, path, old, new)
    g.commit_all(processed, f"hand edit of {path}")

    code, _, summary = plan_json(processed)

    assert code == 3
    assert summary["reasonCodes"] == [OWNED]
    (line,) = summary["problems"]
    assert line.startswith(f"{path}: {problem}")


@pytest.mark.parametrize(
    "path",
    [
        f"{INTENTS}/applied/30-sneaked-in.yaml",
        "policies/telemetry/promotion-apply.20261124T120000Z.jsonl",
        SEGMENTS,
    ],
)
def test_adding_files_the_reconciler_writes_is_a_problem(processed: Path, path: str) -> None:
    target = processed / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(g.intent_text("expand", step=50) if path.endswith(".yaml") else "{}\n")
    g.commit_all(processed, f"add {path}")

    code, _, summary = plan_json(processed)

    assert code == 3
    assert [line.split(": ", 1)[0] for line in summary["problems"]] == [path]


def test_moving_a_rejected_intent_back_is_a_problem_and_re_adding_it_is_not(
    processed: Path,
) -> None:
    rejected = f"{INTENTS}/rejected/11-typo.yaml"
    g.git(processed, "mv", rejected, f"{INTENTS}/11-typo.yaml")
    g.commit_all(processed, "move it back")

    code, _, summary = plan_json(processed)

    assert code == 3
    assert [line.split(": ", 1)[0] for line in summary["problems"]] == [rejected]
    g.git(processed, "reset", "-q", "--hard", "HEAD^")
    g.write_intent(processed, "12-rollback.yaml", intent="rollback")
    g.commit_all(processed, "a new file instead")
    assert plan_json(processed)[0] == 0


def test_every_owned_edit_is_listed_in_the_markdown_summary(ops: Path, tmp_path: Path) -> None:
    edit(ops, REGISTRY, "canaryPercent: 25 ", "canaryPercent: 90 ")
    edit(ops, DECISION, '"decision": "promote"', '"decision": "hold"')
    g.commit_all(ops, "two hand edits")
    summary = tmp_path / "plan.md"

    done = run(ops, "plan", "--summary-file", str(summary))

    assert done.returncode == 3
    text = summary.read_text()
    assert f"`{OWNED}`" in text
    assert f"- {DECISION}: the promotion decision is written by the gates job" in text
    assert f"- {REGISTRY}: policy.autonomous.rollout.canaryPercent changed (25 -> 90)" in text


# A merge that conflicts -------------------------------------------------------------------


def test_a_branch_that_does_not_merge_cleanly_is_refused(ops: Path, tmp_path: Path) -> None:
    other = g.clone(Path(g.git(ops, "remote", "get-url", "origin")), tmp_path / "other")
    edit(other, REGISTRY, "cooldownSeconds: 300", "cooldownSeconds: 400")
    g.commit_all(other, "main: 400")
    g.git(other, "push", "-q", "origin", "main")
    edit(ops, REGISTRY, "cooldownSeconds: 300", "cooldownSeconds: 500")
    g.add_intents(ops, {"20-expand.yaml": {"step": 5}})
    g.commit_all(ops, "branch: 500")
    g.git(ops, "fetch", "-q", "origin")
    before = git_files(ops)

    done = run(ops, "plan", "--base", "origin/main")

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert f"conflicts in {REGISTRY}" in done.stderr
    assert done.stderr.splitlines()[-1] == "reason: pr_merge_conflict"
    assert git_files(ops) == before


def test_hostile_intent_files_in_the_merge_are_predicted_as_once_commits_them(
    ops: Path, tmp_path: Path
) -> None:
    # Read from git objects, not a checkout: a symlink must stay a rejected symlink and a
    # huge file a rejected huge file, exactly as the loop reads them after the merge.
    (ops / INTENTS).mkdir(parents=True, exist_ok=True)
    (ops / INTENTS / "20-link.yaml").symlink_to("../registry.yaml")
    (ops / INTENTS / "30-huge.yaml").write_text("# padding\n" * 10_000)
    g.write_intent(ops, "40-expand.yaml", step=5)
    g.git(ops, "config", "commit.gpgSign", "true")  # the stand-in merge commit is never signed
    g.git(ops, "add", "-A")
    g.git(ops, "-c", "commit.gpgSign=false", "commit", "-q", "-m", "hostile intents")

    code, rows, summary = plan_json(ops)

    assert code == 3
    assert summary["problems"] == []
    assert [(row["status"], row["reasonCodes"]) for row in rows] == [
        ("rejected", ["intent_not_regular_file"]),
        ("rejected", ["intent_too_large"]),
        ("applied", []),
    ]
    g.git(ops, "config", "commit.gpgSign", "false")
    assert_plan_is_the_commit(rows, merge_and_run_ci(ops, tmp_path))
