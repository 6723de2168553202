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
from tests.support.signed_histories import ALLOWED, hostile_commit, make_signed_history


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
        "time", "commit", "verification", "action", "status", "canary", "pause", "actor",
        "approval", "decision", "author", "committer", "reasons",
    ]  # fmt: skip
    assert row.split()[1:3] == [sha[:12], "unsigned"]
    assert "  Test Author  rollout-reconciler  -" in row  # author, committer, no reasons
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


def test_cli_shows_verification_and_verified_only_as_json(tmp_path):
    signed = make_signed_history(tmp_path)
    done = run_cli("--repo", str(signed.repo))
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert [(row[1], row[2]) for row in rows] == [
        (signed.unknown[:12], "forged"),
        (signed.forged[:12], "forged"),
        (signed.verified[:12], "verified"),
        (signed.unsigned[:12], "unsigned"),
    ]
    done = run_cli("--repo", str(signed.repo), "--verified-only", "--json")
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(doc["commit"], doc["verification"]) for doc in docs] == [(signed.verified, "verified")]
    assert docs[0]["committer"] == {"name": "rollout-reconciler", "email": "reconciler@localhost"}


def test_cli_verified_only_with_nothing_verified_says_nothing_matches(history_repo):
    done = run_cli("--repo", history_repo["repo"], "--verified-only")
    assert (done.returncode, done.stdout) == (0, "no reconcile commits match\n")


def test_cli_prints_hostile_author_names_escaped(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    hostile_commit(repo, "ev\x1b[2Jil\u202e" + "x" * 40)
    done = run_cli("--repo", str(repo))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    header, row = done.stdout.splitlines()
    name = "ev\\x1b[2Jil\\u202e" + "x" * 6 + "…"  # cut to 24 columns
    assert f"  {name}  {name}  -" in row  # author, committer, no reasons
    done = run_cli("--repo", str(repo), "--json")
    doc = json.loads(done.stdout)
    assert doc["author"]["name"] == "ev\x1b[2Jil\u202e" + "x" * 40  # JSON keeps the value
    assert doc["author"]["email"] == "x\x1b[2J@example.com"


def test_cli_refuses_history_when_the_trust_files_are_broken(tmp_path):
    signed = make_signed_history(tmp_path)
    (signed.repo / ALLOWED).unlink()
    done = run_cli("--repo", str(signed.repo))
    assert done.returncode == 1
    assert "invalid trust settings" in done.stderr
