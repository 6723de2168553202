"""`reconcile history` as a real process: the table, JSON lines, refusals and exit codes.

Reading the commits' trailers, the filters and limits: in-process in tests/reports/test_history.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.histories import (
    JSON_KEYS,
    applied_message,
    commit,
    git,
    make_history_repo,
)


@pytest.fixture
def history_repo(tmp_path: Path) -> dict[str, str]:
    """A repository: operator commits and reconcile commits, one a day from 2026-11-01."""
    return make_history_repo(tmp_path)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "history", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_prints_a_table_with_values_as_text(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    sha = commit(repo, applied_message(1, actor="[red]mallory[/red]"), 1)
    done = run_cli("--repo", str(repo))
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split() == [
        "time", "commit", "action", "status", "canary", "pause", "actor", "approval", "decision",
        "reasons",
    ]  # fmt: skip
    assert sha[:12] in row
    assert "[red]mallory[/red]" in row
    assert "2026-11-01T09:30:00Z" in row  # UTC with Z, as every time shown to people
    assert "25% -> 50%  paused -> running" in row  # the tables' words, not the trailers'


def test_cli_table_has_a_reasons_column(history_repo):
    done = run_cli("--repo", history_repo["repo"], "--status", "rejected")
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split()[-1] == "reasons"
    assert row.endswith("promotion_decision_not_promote, intent_review_by_past")
    assert "running -> running" in row
    done = run_cli("--repo", history_repo["repo"], "--status", "applied", "--limit", "1")
    assert done.stdout.splitlines()[1].endswith("  -")  # no reasons: the absent mark


def test_cli_json_prints_one_object_per_line(history_repo):
    done = run_cli("--repo", history_repo["repo"], "--json", "--actor", "carol", "--limit", "5")
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [doc["commit"] for doc in docs] == [history_repo["replay"], history_repo["two"]]
    assert all(list(doc) == JSON_KEYS for doc in docs)


def test_cli_on_an_empty_history(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    done = run_cli("--repo", str(repo))
    assert (done.returncode, done.stdout) == (0, "no reconcile commits yet\n")
    done = run_cli("--repo", str(repo), "--json")
    assert (done.returncode, done.stdout) == (0, "")


def test_cli_refuses_a_folder_that_is_not_a_repository(tmp_path):
    done = run_cli("--repo", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("error: not a git repository")
    assert "reason: not_a_git_repo" in done.stderr


@pytest.mark.parametrize("args", [["--since", "-1"], ["--since=--all"], ["--limit", "0"]])
def test_cli_refuses_bad_arguments_as_usage_errors(history_repo, args):
    done = run_cli("--repo", history_repo["repo"], *args)
    assert done.returncode == 2
    assert "Invalid value for '--" in done.stderr
