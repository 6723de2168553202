"""`reconcile demo` as a real process: the whole operator flow ends with the expected history.

The demo builds a bare remote, an operator clone and a CI clone in the given folder and runs
every step as a real `reconcile` or `git` process on the system clock (about 2 s).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import gitrepos as g
from tests.support.gitrepos import reconcile


def visible(names: list[str]) -> list[str]:
    return [name for name in names if not name.startswith(".")]  # .gitkeep


def written(name: str) -> str:
    """An `intent new` file name without its time and random suffix (`expand-cab-123.yaml`)."""
    match = re.fullmatch(r"\d{8}T\d{6}Z-(.+)-[0-9a-f]{6}\.yaml", name)
    assert match, name
    return f"{match.group(1)}.yaml"


def test_the_demo_runs_to_completion_with_the_expected_outcomes(tmp_path: Path) -> None:
    root = tmp_path / "demo"

    done = reconcile(tmp_path, "demo", "--dir", str(root))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "reconcile plan --base origin/main" in done.stdout
    assert done.stdout.rstrip().endswith(
        f"The demo repositories are in {root} (remote.git, ops, ci)."
    )
    assert "\033[" not in done.stdout  # not a terminal: no colours
    ci, ops, bare = root / "ci", root / "ops", root / "remote.git"
    assert sorted(path.name for path in root.iterdir()) == ["ci", "ops", "remote.git"]
    outcomes = [
        (
            g.trailer(ci, sha, "Reconcile-Action"),
            g.trailer(ci, sha, "Reconcile-Status"),
            g.trailer(ci, sha, "Decision"),
            g.trailer(ci, sha, "Canary"),
            g.trailer(ci, sha, "Manual-Pause"),
        )
        for sha in g.bot_commits(ci)
    ]
    assert outcomes == [
        ("expand", "applied", "promote", "25 -> 50", "false -> false"),
        # The typo file is rejected, but it says `intent: expand`: its action is kept.
        ("expand", "rejected", "promote", "50 -> 50", "false -> false"),
        # Deferred by the first pass (no commit), applied on the gates job's next decision.
        ("expand", "applied", "promote", "50 -> 75", "false -> false"),
        ("expand", "rejected", "hold", "75 -> 75", "false -> false"),
        ("rollback", "applied", "hold", "75 -> 75", "false -> true"),
    ]
    # Issue 11: the two expands merged together did not both ride on one decision.
    assert "1 applied, 0 replayed, 1 deferred, 1 rejected" in done.stdout
    assert "decision after change: waiting for a decision generated after" in done.stdout
    # The audit trail checks out end to end (verify exits 0: the demo would stop otherwise).
    assert "reconcile verify" in done.stdout
    subjects = [g.subject(ci, sha) for sha in g.bot_commits(ci)]
    assert subjects[0] == "expand fleet-a canary 25% -> 50% (CAB-123)"
    assert subjects[1] == "reject zz-typo: governance missing"
    assert subjects[2] == "expand fleet-a canary 50% -> 75% (CAB-124)"
    assert subjects[3].endswith(": decision hold")
    assert subjects[4] == "rollback fleet-a: pause at canary 75% (INC-42)"
    assert g.head(ci) == g.git(bare, "rev-parse", "refs/heads/main")
    assert g.canary(ci) == 75
    for clone in (ci, ops):
        assert g.status(clone) == ""
    assert visible(g.pending(ci)) == []
    assert [written(name) for name in visible(g.processed(ci, "applied"))] == [
        "expand-cab-123.yaml",
        "expand-cab-124.yaml",
        "rollback-inc-42.yaml",
    ]
    rejected = visible(g.processed(ci, "rejected"))
    assert [written(rejected[0]), rejected[1]] == ["expand-cab-125.yaml", "zz-typo.yaml"]


def test_the_demo_refuses_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()

    done = reconcile(tmp_path, "demo", "--dir", str(tmp_path / "taken"))

    assert done.returncode == 2, done.stderr
    assert "already exists" in done.stderr
    assert list((tmp_path / "taken").iterdir()) == []
