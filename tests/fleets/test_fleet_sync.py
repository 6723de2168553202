"""Several fleets against a remote, a dirty worktree, a crash, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from tests.support import gitrepos as g
from tests.support.fleets import (
    add_fleet_intents,
    fleet_canary,
    fleet_path,
    intents,
    make_fleets_repo,
)


def test_push_publishes_every_fleets_commits_and_a_racing_clone_loses_nothing(
    tmp_path: Path,
) -> None:
    source = make_fleets_repo(tmp_path / "source")
    bare = g.make_remote(tmp_path, source)
    one = g.clone(bare, tmp_path / "one")
    two = g.clone(bare, tmp_path / "two")
    add_fleet_intents(one, "staging", {"001-expand.yaml": {"step": 5}})
    g.git(one, "push", "-q", "origin", "main")
    # `two` has its own pending intent in prod-eu, committed locally, not pushed.
    add_fleet_intents(two, "prod-eu", {"001-expand.yaml": {"step": 10}})
    report = g.once(two, push=True)
    assert sorted(g.statuses(report)) == [("001-expand.yaml", "applied")] * 2
    assert report.pushed
    assert g.head(two) == g.git(two, "rev-parse", "origin/main").strip()
    assert fleet_canary(two, "staging") == 30 and fleet_canary(two, "prod-eu") == 35
    fleets = {g.trailer(two, sha, "Fleet") for sha in g.bot_commits(two)}
    assert fleets == {"staging", "prod-eu"}


def test_a_diverged_checkout_rescues_intents_of_every_fleet(tmp_path: Path) -> None:
    source = make_fleets_repo(tmp_path / "source")
    bare = g.make_remote(tmp_path, source)
    one = g.clone(bare, tmp_path / "one")
    two = g.clone(bare, tmp_path / "two")
    add_fleet_intents(two, "prod-eu", {"009-expand.yaml": {"step": 5}})
    g.once(two)  # a local reconciler commit the remote does not have
    add_fleet_intents(two, "staging", {"010-expand.yaml": {"step": 5}})
    (one / "README").write_text("moved on\n")
    g.commit_all(one, "someone else")
    g.git(one, "push", "-q", "origin", "main")
    report = g.once(two, push=True)
    assert sorted(o.source.path for o in report.outcomes) == [
        f"{intents('prod-eu')}/009-expand.yaml",
        f"{intents('staging')}/010-expand.yaml",
    ]
    assert report.pushed
    assert (two / "README").exists()


def test_a_dirty_file_of_a_fleet_being_committed_refuses_the_pass(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    registry = repo / fleet_path("staging", "registry.yaml")
    registry.write_text(registry.read_text() + "# local edit\n")
    with pytest.raises(RefusalError) as caught:
        g.once(repo)
    assert caught.value.reason == "worktree_dirty"
    assert g.pending(repo, intents("staging")) == ["001-expand.yaml"]


def test_max_intents_and_dry_run_count_across_fleets(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "staging", {"001.yaml": {"step": 1}, "002.yaml": {"step": 1}})
    add_fleet_intents(repo, "prod-eu", {"001.yaml": {"step": 1}})
    head = g.head(repo)
    dry = g.once(repo, dry_run=True)
    assert len(dry.outcomes) == 3 and g.head(repo) == head
    report = g.once(repo, max_intents=2)
    assert len(report.outcomes) == 2 and report.pending_left == 1
    assert g.pending(repo, intents("staging")) == ["002.yaml"]


def test_the_cli_names_a_refused_fleet_and_exits_1_after_the_others(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", generated_at=g.recent())
    (repo / fleet_path("staging", "registry.yaml")).write_text("fleetId: [broken\n")
    g.commit_all(repo, "break staging")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    done = g.run_cli(repo, "--json")
    assert done.returncode == 1, done.stderr
    lines = g.json_lines(done.stdout)
    assert [row.get("fleet") for row in lines[:-1]] == ["prod-eu"]
    assert lines[-1]["refusals"][0]["fleet"] == "staging"
    assert "error: fleet staging: " in done.stderr and "reason: " in done.stderr
    only = g.run_cli(repo, "--fleet", "prod-us")
    assert only.returncode == 1 and "reason: fleet_unknown" in only.stderr


def test_a_pass_killed_mid_move_is_finished_by_the_next_one(tmp_path: Path) -> None:
    """kill -9 right after the branch moved, before any file was written."""
    repo = make_fleets_repo(tmp_path / "r", generated_at=g.recent())
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 10}})
    script = (
        "import os, signal, sys\n"
        "from reconciler.loop import head_move\n"
        "def die(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "head_move._finish_move = die\n"
        "from reconciler.cli import main\n"
        "main(['--once', '--repo', sys.argv[1]])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(repo)],
        cwd=g.ROOT,
        env={**os.environ, "PYTHONPATH": str(g.ROOT)},
        capture_output=True,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL
    assert fleet_canary(repo, "staging") == 25  # the branch moved, no file was written yet
    report = g.once(repo, at=g.recent())
    assert report.recovered and report.outcomes == []
    assert fleet_canary(repo, "staging") == 30 and fleet_canary(repo, "prod-eu") == 35
    assert g.pending(repo, intents("staging")) == [] == g.pending(repo, intents("prod-eu"))
    assert g.status(repo) == ""
    assert json.loads(
        (repo / fleet_path("prod-eu", "state/promotion-apply-state.json")).read_text()
    )


def test_the_worktree_check_looks_at_the_committed_fleets_files_only(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    # Another fleet's edited registry is not written by this pass: it stays as it is.
    other = repo / fleet_path("prod-eu", "registry.yaml")
    other.write_text(other.read_text() + "# being edited\n")
    # An untracked file in the fleet's applied/ folder is never walked (as with one fleet).
    (repo / intents("staging") / "applied").mkdir(parents=True)
    (repo / intents("staging") / "applied" / "stray.txt").write_text("x\n")
    report = g.once(repo)
    assert g.statuses(report) == [("001-expand.yaml", "applied")]
    assert other.read_text().endswith("# being edited\n")
    # An untracked file in the fleet's telemetry folder is foreign: refused.
    add_fleet_intents(repo, "staging", {"002-expand.yaml": {"step": 5}})
    (repo / fleet_path("staging", "telemetry") / "extra.jsonl").write_text("{}\n")
    with pytest.raises(RefusalError) as caught:
        g.once(repo)
    assert caught.value.reason == "worktree_dirty"
    assert "telemetry/extra.jsonl" in caught.value.message
