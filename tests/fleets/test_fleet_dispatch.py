"""`reconcile dispatch --fleet ID` on a repository with several fleets, as a real process.

The intent goes to the fleet's folder (with `fleet: <id>`), is committed by a pass over that
fleet only, and the result names the fleet; the scaffolded dispatch workflow's command line
(`init --fleets`) runs as written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import gitrepos as g
from tests.support.fleets import add_fleet_intents, fleet_canary, intents, make_fleets_repo

GOVERNANCE = ("--by", "alice", "--approval-ref", "CAB-7", "--rationale", "gates green")


def dispatch(repo: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    return g.reconcile(
        repo, "dispatch", "--mode", mode, *GOVERNANCE, "--review-by", "7d", "--json", *args
    )


def result_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def fleets_repo(tmp_path: Path) -> Path:
    return make_fleets_repo(tmp_path / "r", generated_at=g.recent())


def test_dispatch_with_fleet_commits_its_intent_in_a_pass_over_that_fleet_only(
    tmp_path: Path,
) -> None:
    repo = fleets_repo(tmp_path)
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 25}})
    before = g.count_commits(repo)

    result = result_of(dispatch(repo, "apply", "--fleet", "prod-eu", "--expand-step", "5"))

    assert (result["status"], result["fleet"]) == ("applied", "prod-eu")
    assert result["canary"] == {"before": 25, "after": 30}
    name = Path(result["intentFile"]).name
    assert result["intentFile"] == f"{intents('prod-eu')}/{name}"
    assert g.processed(repo, "applied", intents("prod-eu")) == [name]
    assert g.count_commits(repo) == before + 1
    assert result["commit"] == g.head(repo)
    assert g.subject(repo, "HEAD") == "expand prod-eu canary 25% -> 30% (CAB-7)"
    assert g.trailer(repo, "HEAD", "Fleet") == "prod-eu"
    applied = g.show_file(repo, "HEAD", f"{intents('prod-eu')}/applied/{name}")
    assert 'intent: "expand"\nfleet: "prod-eu"\n' in applied
    # Staging's pending intent is left to the regular pass.
    assert (fleet_canary(repo, "prod-eu"), fleet_canary(repo, "staging")) == (30, 25)
    assert g.pending(repo, intents("staging")) == ["001-expand.yaml"]
    assert g.status(repo) == ""


def test_dispatch_dry_run_with_fleet_previews_that_fleet_and_writes_nothing(
    tmp_path: Path,
) -> None:
    repo = make_fleets_repo(tmp_path / "r", generated_at=g.recent(), canary={"staging": 50})
    head = g.head(repo)
    result = result_of(dispatch(repo, "dry_run", "--fleet", "staging", "--expand-step", "10"))
    assert (result["status"], result["predicted"], result["fleet"]) == (
        "preview",
        "applied",
        "staging",
    )
    assert result["canary"] == {"before": 50, "after": 60}
    assert result["intentFile"].startswith(f"{intents('staging')}/")
    assert (g.head(repo), g.status(repo)) == (head, "")


def test_dispatch_without_fleet_is_refused_and_leaves_no_intent(tmp_path: Path) -> None:
    repo = fleets_repo(tmp_path)
    for mode in ("rollback", "dry_run"):
        done = dispatch(repo, mode)
        assert done.returncode == 1
        assert done.stderr == (
            "error: dispatch works on one fleet; pass --fleet (one of: prod-eu, staging)\n"
            "reason: fleet_required\n"
        )
    assert g.status(repo) == ""


def test_dispatch_with_an_unknown_fleet_or_in_a_single_fleet_repository_is_refused(
    tmp_path: Path,
) -> None:
    repo = fleets_repo(tmp_path)
    done = dispatch(repo, "rollback", "--fleet", "prod-us")
    assert (done.returncode, done.stderr.splitlines()[-1]) == (1, "reason: fleet_unknown")
    assert g.status(repo) == ""
    single = g.make_policy_repo(tmp_path / "single", generated_at=g.recent(), paced=False)
    done = dispatch(single, "rollback", "--fleet", "default")
    assert (done.returncode, done.stderr.splitlines()[-1]) == (1, "reason: fleet_unknown")
    assert "this repository holds one fleet" in done.stderr
    assert g.status(single) == ""


def test_the_scaffolded_dispatch_workflows_command_runs_for_the_chosen_fleet(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "r"
    init = g.reconcile(
        tmp_path, "init", str(repo), "--fleets", "staging,prod-eu",
        "--install", "rollout-reconciler==0.1.0",
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    g.git(repo, "init", "-q", "-b", "main")
    g.commit_all(repo, "init --fleets")
    script = (repo / ".github/workflows/rollout-dispatch.yml").read_text()
    command = re.search(r"(reconcile dispatch \\\n.*?) \|\| code=\$\?", script, re.S)
    assert command is not None
    env = {
        "MODE": "rollback", "APPLY_INTENT": "expand", "EXPAND_STEP": "25", "TO_PERCENT": "",
        "ACTOR": "bob", "APPROVAL_REF": "INC-9", "RATIONALE": "error spike",
        "REVIEW_BY": "7d", "FLEET": "prod-eu", "GITHUB_RUN_ID": "42",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }  # fmt: skip
    # As the workflow runs it, without --push (no remote here).
    line = command.group(1).replace("--push \\\n", "").replace("reconcile ", "reconciler ", 1)
    done = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m {line}"],
        capture_output=True, text=True, cwd=repo, timeout=100, check=False,
        env={**os.environ, "PYTHONPATH": str(g.ROOT), **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((repo / "dispatch-result.json").read_text())
    assert (result["status"], result["fleet"]) == ("rolled_back", "prod-eu")
    assert g.trailer(repo, "HEAD", "Fleet") == "prod-eu"
