"""`reconcile dispatch` as a real process: the rollout-dispatch workflow's one command.

dry_run must write nothing; apply and rollback write the intent file, run one pass and
commit (and with --push land on the bare remote); a rejection exits 3; a missing
governance flag is refused before anything is written.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import INTENTS, REGISTRY, STATE, TELEMETRY, recent, reconcile

GOVERNANCE = {
    "--by": "alice",
    "--approval-ref": "CAB-7",
    "--rationale": "gates green",
    "--review-by": "2099-01-01T00:00:00Z",
}
RESULT_KEYS = {
    "mode", "status", "predicted", "intent", "intentFile", "decision", "decisionTraceId",
    "traceId", "reasonCodes", "problems", "canary", "manualPause", "subject", "commit",
    "pushed", "record", "notBefore",
}  # fmt: skip


def governance(**changes: str | None) -> list[str]:
    values = {**GOVERNANCE, **{f"--{k.replace('_', '-')}": v for k, v in changes.items()}}
    args: list[str] = []
    for flag, value in values.items():
        if value is not None:
            args += [flag, value]
    return args


def dispatch(
    repo: Path, mode: str, *extra: str, env: dict[str, str] | None = None, **gov: str | None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run `dispatch --json`; return the process and its result document."""
    done = reconcile(
        repo, "dispatch", "--mode", mode, *governance(**gov), "--json", *extra, env=env
    )
    assert done.returncode in (0, 3), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return done, result


def snapshot(repo: Path) -> dict[str, Any]:
    return {
        "files": {
            str(path.relative_to(repo)): path.read_bytes()
            for path in sorted(repo.rglob("*"))
            if path.is_file() and ".git" not in path.relative_to(repo).parts
        },
        "refs": g.git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": g.head(repo),
        "status": g.git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all"),
    }


def committed_record(repo: Path, commit: str) -> dict[str, Any]:
    return g.records(repo, commit)[-1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo", generated_at=recent())


def hold(repo: Path) -> None:
    g.write_decision(repo, "hold", generated_at=recent(), trace_id="gates-hold")
    g.commit_all(repo, "gates: hold")


# dry_run ---------------------------------------------------------------------------------


def test_dry_run_previews_and_writes_nothing(repo: Path, tmp_path: Path) -> None:
    before = snapshot(repo)

    done, result = dispatch(repo, "dry_run", "--apply-intent", "expand", "--expand-step", "10")

    assert done.returncode == 0
    assert set(result) == RESULT_KEYS
    assert result["mode"] == "dry_run"
    assert (result["status"], result["predicted"]) == ("preview", "applied")
    assert result["intent"] == "expand"
    assert result["intentFile"].startswith(f"{INTENTS}/")
    assert re.fullmatch(
        r"\d{8}T\d{6}Z-expand-cab-7-[0-9a-f]{6}\.yaml", Path(result["intentFile"]).name
    )
    assert result["canary"] == {"before": 25, "after": 35}
    assert result["subject"] == "expand fleet-a canary 25% -> 35% (CAB-7)"
    assert (result["commit"], result["pushed"]) == (None, False)
    assert result["decision"] == "promote"
    assert result["record"]["status"] == "applied"
    assert result["notBefore"] is None
    assert snapshot(repo) == before
    text = reconcile(repo, "dispatch", "--mode", "dry_run", *governance())
    assert text.returncode == 0
    assert text.stdout == "preview: expand fleet-a canary 25% -> 50% (CAB-7)\n"
    assert snapshot(repo) == before


def test_dry_run_sees_the_pending_intents_before_it(tmp_path: Path) -> None:
    # A resume right behind a rollback on one decision: pacing off (the rollback is applied
    # by the same pass, so no decision can be generated after it).
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=recent(), paced=False)
    g.add_intents(repo, {"00-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-1"}})
    before = snapshot(repo)

    _, result = dispatch(repo, "dry_run", "--apply-intent", "resume")

    assert (result["status"], result["predicted"]) == ("preview", "applied")
    assert result["manualPause"] == {"before": True, "after": False}
    assert result["subject"] == "resume fleet-a: paused -> running (CAB-7)"
    assert snapshot(repo) == before


def test_dry_run_under_hold_predicts_the_rejection_and_exits_3(repo: Path) -> None:
    hold(repo)
    before = snapshot(repo)

    done, result = dispatch(repo, "dry_run")

    assert done.returncode == 3
    assert (result["status"], result["predicted"]) == ("preview", "rejected")
    assert result["reasonCodes"] == ["promotion_decision_not_promote"]
    assert result["decision"] == "hold"
    assert snapshot(repo) == before


# apply -----------------------------------------------------------------------------------


def test_apply_expand_commits_one_intent_and_reports_it(repo: Path, tmp_path: Path) -> None:
    result_file = tmp_path / "dispatch-result.json"
    summary_file = tmp_path / "summary.md"
    base = g.head(repo)

    done = reconcile(
        repo, "dispatch", "--mode", "apply", "--apply-intent", "expand", "--expand-step", "10",
        *governance(), "--result-file", str(result_file), "--summary-file", str(summary_file),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    result = json.loads(result_file.read_text())
    assert set(result) == RESULT_KEYS
    assert (result["mode"], result["status"], result["predicted"]) == ("apply", "applied", None)
    assert result["commit"] == g.head(repo)
    assert g.git(repo, "rev-parse", f"{result['commit']}^") == base
    assert done.stdout == (
        f"applied: expand fleet-a canary 25% -> 35% (CAB-7)\ncommit {result['commit']}\n"
    )
    assert g.subject(repo, "HEAD") == result["subject"]
    assert g.status(repo) == ""
    assert g.canary(repo) == 35
    assert result["decision"] == "promote"
    assert result["decisionTraceId"] == "gates-2026-11-24-0600"
    assert result["notBefore"] is None
    name = result["intentFile"].rsplit("/", 1)[-1]
    assert g.processed(repo, "applied") == [name]
    assert g.pending(repo) == []
    record = committed_record(repo, "HEAD")
    assert result["record"] == record
    assert result["traceId"] == record["traceId"] == g.trailer(repo, "HEAD", "Trace-Id")
    assert record["governance"]["actor"] == "alice"
    assert record["expandStep"] == 10
    assert json.loads(g.show_file(repo, "HEAD", STATE)) == record
    markdown = summary_file.read_text()
    assert markdown.startswith("## reconcile dispatch: apply\n\n✅ **applied**: `expand fleet-a")
    assert "| canary | 25% -> 35% |" in markdown
    assert f"| commit | `{result['commit']}` |" in markdown
    assert "| decision | promote (gates-2026-11-24-0600) |" in markdown


def test_apply_resume_unpauses(repo: Path) -> None:
    g.add_intents(repo, {"00-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-1"}})
    assert reconcile(repo, "--once").returncode == 0
    # (Pacing is not this test's subject: a decision after the rollback would be generated
    # within the second this real process ran it, so the guard is off here.)
    (repo / "reconciler.yaml").write_text(g.UNPACED)
    g.commit_all(repo, "no pacing")

    done, result = dispatch(repo, "apply", "--apply-intent", "resume")

    assert done.returncode == 0
    assert result["status"] == "applied"
    assert result["manualPause"] == {"before": True, "after": False}
    assert result["subject"] == "resume fleet-a: paused -> running (CAB-7)"
    assert result["commit"] == g.head(repo)
    assert g.status(repo) == ""


def test_apply_under_hold_is_rejected_committed_and_exits_3(repo: Path) -> None:
    hold(repo)
    registry_before = (repo / REGISTRY).read_bytes()

    done, result = dispatch(repo, "apply", "--apply-intent", "expand")

    assert done.returncode == 3
    assert result["status"] == "rejected"
    assert result["reasonCodes"] == ["promotion_decision_not_promote"]
    assert result["subject"].endswith(": decision hold")
    assert result["commit"] == g.head(repo)
    assert g.trailer(repo, "HEAD", "Reconcile-Status") == "rejected"
    assert (repo / REGISTRY).read_bytes() == registry_before
    assert g.processed(repo, "rejected") == [result["intentFile"].rsplit("/", 1)[-1]]
    assert g.status(repo) == ""


def test_apply_with_push_lands_on_the_remote(repo: Path, tmp_path: Path) -> None:
    bare = g.make_remote(tmp_path, repo)
    other = g.clone(bare, tmp_path / "other")  # the remote moves on before the dispatch
    g.write_intent(other, "README.txt", "notes\n", folder="docs")
    g.commit_all(other, "docs")
    g.git(other, "push", "-q", "origin", "main")
    moved = g.head(other)

    done, result = dispatch(repo, "apply", "--push")

    assert done.returncode == 0
    assert result["status"] == "applied"
    assert result["pushed"] is True
    remote_head = g.git(bare, "rev-parse", "refs/heads/main")
    assert remote_head == result["commit"] == g.head(repo)
    assert g.git(bare, "rev-parse", f"{remote_head}^") == moved
    assert g.subject(bare, remote_head) == "expand fleet-a canary 25% -> 50% (CAB-7)"
    assert g.status(repo) == ""


# rollback --------------------------------------------------------------------------------


def test_rollback_pauses_even_under_hold(repo: Path) -> None:
    hold(repo)

    done, result = dispatch(repo, "rollback", "--apply-intent", "expand", "--expand-step", "25")

    assert done.returncode == 0
    assert (result["mode"], result["status"], result["intent"]) == (
        "rollback",
        "rolled_back",
        "rollback",
    )
    assert result["manualPause"] == {"before": False, "after": True}
    assert result["canary"] == {"before": 25, "after": 25}
    assert result["subject"] == "rollback fleet-a: pause at canary 25% (CAB-7)"
    assert result["record"]["expandStep"] is None
    assert result["decision"] == "hold"
    assert result["commit"] == g.head(repo)
    assert g.status(repo) == ""


def test_rollback_works_without_a_decision(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", decision=None)

    done, result = dispatch(repo, "rollback", "--apply-intent", "resume", "--expand-step", "5")

    assert done.returncode == 0
    assert result["status"] == "rolled_back"
    assert result["decision"] is None
    assert sorted(result["reasonCodes"]) == [
        "promotion_state_missing",
        "rollback_without_decision",
    ]
    assert result["manualPause"]["after"] is True
    assert g.status(repo) == ""


@pytest.mark.parametrize("step", ["0", "150", "abc", ""])
def test_rollback_ignores_whatever_expand_step_the_workflow_passes(repo: Path, step: str) -> None:
    # The workflow passes its expand_step input in every mode; an incident must not fail on it.
    done, result = dispatch(repo, "rollback", "--apply-intent", "expand", "--expand-step", step)

    assert done.returncode == 0
    assert result["status"] == "rolled_back"


@pytest.mark.parametrize("step", ["0", "150", "abc"])
def test_an_invalid_expand_step_is_a_usage_error_for_expand(repo: Path, step: str) -> None:
    before = snapshot(repo)

    done = reconcile(repo, "dispatch", "--mode", "apply", "--expand-step", step, *governance())

    assert done.returncode == 2
    assert "--expand-step" in done.stderr
    assert snapshot(repo) == before


# Refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["apply", "rollback"])  # dry_run needs none: test_dispatch_preview
@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (["by", "approval_ref", "rationale", "review_by"], "--by is required for mode {}"),
        (["approval_ref", "rationale", "review_by"], "--approval-ref is required for mode {}"),
        (["rationale", "review_by"], "--rationale is required for mode {}"),
        (["review_by"], "--review-by is required for mode {}"),
        (["rationale"], "--rationale is required for mode {}"),
    ],
)
def test_a_missing_governance_flag_is_refused_before_anything_is_written(
    repo: Path, tmp_path: Path, mode: str, missing: list[str], message: str
) -> None:
    before = snapshot(repo)
    result_file = tmp_path / "result.json"

    done = reconcile(
        repo, "dispatch", "--mode", mode, "--result-file", str(result_file),
        *governance(**dict.fromkeys(missing)),
    )  # fmt: skip

    assert done.returncode == 1
    assert done.stderr == f"error: {message.format(mode)}\nreason: governance_missing\n"
    assert done.stdout == ""
    assert snapshot(repo) == before
    assert not result_file.exists()


def test_an_empty_governance_flag_counts_as_missing(repo: Path) -> None:
    done = reconcile(repo, "dispatch", "--mode", "apply", *governance(by=""))

    assert done.returncode == 1
    assert done.stderr.startswith("error: --by is required for mode apply\n")


def test_a_refused_pass_leaves_no_intent_file_behind(repo: Path) -> None:
    # The worktree is dirty, so the pass refuses: the dispatched intent must not stay queued
    # for a later pass to apply behind the operator's back.
    registry = repo / REGISTRY
    registry.write_text(registry.read_text() + "# local edit\n")

    done = reconcile(repo, "dispatch", "--mode", "apply", *governance())

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "reason: worktree_dirty"
    assert g.pending(repo) == []
    assert g.git(repo, "status", "--porcelain") == " M policies/registry.yaml"


# Summaries -------------------------------------------------------------------------------


def test_the_summary_goes_to_github_step_summary_by_default(repo: Path, tmp_path: Path) -> None:
    step = tmp_path / "step.md"
    step.write_text("earlier\n")

    done, result = dispatch(repo, "rollback", env={"GITHUB_STEP_SUMMARY": str(step)})

    assert done.returncode == 0
    text = step.read_text()
    assert text.startswith("earlier\n## reconcile dispatch: rollback\n\n⏪ **rolled_back**: ")
    assert f"| trace id | `{result['traceId']}` |" in text


def test_the_dry_run_summary_and_result_file(repo: Path, tmp_path: Path) -> None:
    result_file = tmp_path / "r.json"
    summary = tmp_path / "s.md"

    done = reconcile(
        repo, "dispatch", "--mode", "dry_run", *governance(), "--result-file", str(result_file),
        "--summary-file", str(summary),
    )  # fmt: skip

    assert done.returncode == 0
    result = json.loads(result_file.read_text())
    assert (result["status"], result["predicted"], result["commit"]) == (
        "preview",
        "applied",
        None,
    )
    assert result["traceId"] == result["record"]["traceId"]
    text = summary.read_text()
    assert "🔎 **preview** (would be applied): `expand fleet-a canary 25% -> 50% (CAB-7)`" in text
    assert "| commit | - |" in text
    assert g.records(repo) == [] and not (repo / TELEMETRY).exists()


def test_apply_resume_ignores_the_expand_step(repo: Path) -> None:
    done, result = dispatch(repo, "apply", "--apply-intent", "resume", "--expand-step", "abc")

    assert done.returncode == 0
    assert (result["intent"], result["status"]) == ("resume", "applied")
    assert result["record"]["expandStep"] is None


def test_an_unreachable_remote_leaves_nothing_behind(repo: Path, tmp_path: Path) -> None:
    bare = g.make_remote(tmp_path, repo)
    bare.rename(tmp_path / "gone.git")
    before = snapshot(repo)

    done = reconcile(repo, "dispatch", "--mode", "rollback", "--push", *governance())

    assert done.returncode == 75  # EX_TEMPFAIL: retryable
    assert done.stderr.splitlines()[-1] == "reason: remote_unavailable"
    assert snapshot(repo) == before


def test_apply_also_processes_the_intents_queued_before_it(repo: Path) -> None:
    g.add_intents(repo, {"00-typo.yaml": "intent: expand\nexpandStpe: 50\n"})

    done, result = dispatch(repo, "apply")

    assert done.returncode == 0  # only the dispatched intent decides the exit code
    assert result["status"] == "applied"
    bots = g.bot_commits(repo)
    assert [g.trailer(repo, sha, "Reconcile-Status") for sha in bots] == ["rejected", "applied"]
    assert bots[-1] == result["commit"] == g.head(repo)
    assert g.status(repo) == ""


def test_a_dispatch_superseded_by_a_rollback_in_its_pass_reports_the_rejection(
    repo: Path,
) -> None:
    # The dispatched expand is deferred (the decision predates 0-expand's change), then a
    # rollback queued after it supersedes it: committed as rejected. dispatch reported its
    # first outcome, "deferred" (exit 75: the workflow said to run it again).
    g.add_intents(
        repo, {"0-expand.yaml": {"step": 10}, "zzz-rollback.yaml": {"intent": "rollback"}}
    )
    done, result = dispatch(repo, "apply", "--apply-intent", "expand", "--expand-step", "5")
    assert (done.returncode, result["status"]) == (3, "rejected")
    assert result["reasonCodes"] == ["superseded_by_rollback"]
    assert g.trailer(repo, result["commit"], "Reconcile-Status") == "rejected"
    assert g.status(repo) == ""
