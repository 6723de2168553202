"""Issue 9: everything the loop commits names files repo-relative, never a host path.

A missing or broken decision used to put `/tmp/.../policies/promotion/decision.json` into a
rejected record's `errors` and the commit body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.reports import plan
from tests.support import gitrepos as g


def committed_text(repo: Path, since: str) -> str:
    """Every blob the commits since `since` wrote, and their messages, as one text."""
    out = [g.git(repo, "log", "--format=%B", f"{since}..HEAD")]
    changed = g.git(
        repo, "diff", "--name-only", "--no-renames", "--diff-filter=d", since, "HEAD"
    ).splitlines()
    out += [g.show_file(repo, "HEAD", path) for path in changed if path]
    return "\n".join(out)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def break_decision(repo: Path, how: str) -> None:
    decision = repo / g.DECISION
    if how == "missing":
        decision.unlink()
    elif how == "invalid":
        decision.write_text("{not json")
    else:  # a folder where the file should be
        decision.unlink()
        decision.mkdir()
        (decision / "keep").write_text("")
    g.commit_all(repo, f"decision {how}")


@pytest.mark.parametrize("how", ["missing", "invalid", "folder"])
def test_no_absolute_path_is_committed_when_the_decision_is_unusable(
    tmp_path: Path, how: str
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    break_decision(repo, how)
    since = g.add_intents(
        repo, {"a-expand.yaml": {"step": 10}, "b-rollback.yaml": {"intent": "rollback"}}
    )
    predicted = plan.make_plan(str(repo), "HEAD~1", now=lambda: g.FIXED)

    report = g.once(repo)

    assert g.statuses(report) == [("a-expand.yaml", "rejected"), ("b-rollback.yaml", "applied")]
    text = committed_text(repo, since)
    assert str(tmp_path) not in text
    assert str(repo.resolve()) not in text
    records = [*g.records(repo), g.state(repo)]
    for record in records:
        assert not [s for s in strings(record) if s.startswith("/")], record
    rejected = g.records(repo)[0]
    assert any(g.DECISION in error for error in rejected["errors"]), rejected["errors"]
    # The PR check predicts the very same problems (it reads the decision from a temp copy;
    # it copies files only, so a folder there reads as a missing decision).
    if how != "folder":
        assert list(predicted.items[0].outcome.problems) == rejected["errors"]


def test_a_repo_reached_through_a_symlink_commits_the_same_relative_paths(
    tmp_path: Path,
) -> None:
    real = g.make_policy_repo(tmp_path / "real")
    break_decision(real, "missing")
    since = g.add_intents(real, {"a.yaml": {"step": 10}})
    (tmp_path / "link").symlink_to(real)

    g.once(tmp_path / "link")

    text = committed_text(real, since)
    assert str(tmp_path) not in text
    record = json.loads(g.show_file(real, "HEAD", g.TELEMETRY).splitlines()[-1])
    assert record["files"]["promotionStateFile"] == g.DECISION
    assert record["errors"] == [f"promotion state file not found: {g.DECISION}"]


def test_a_checkout_moved_elsewhere_commits_identical_problem_text(tmp_path: Path) -> None:
    first = g.make_policy_repo(tmp_path / "first")
    break_decision(first, "missing")
    g.add_intents(first, {"a.yaml": {"step": 10}})
    second = g.clone(first, tmp_path / "second")

    g.once(first)
    g.once(second)

    assert g.show_file(first, "HEAD", g.TELEMETRY) == g.show_file(second, "HEAD", g.TELEMETRY)
