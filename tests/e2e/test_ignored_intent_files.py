"""Entries of the intents folder that are not intents are reported as ignored, with why.

Issue 9, item 13: `nested/deep.yaml`, `x.yaml.bak`, `.hidden.yaml` and a folder named
`dir.yaml/` were silently skipped (`status` said "pending intents: none"), so a misplaced
intent was lost without a word. `status`, `plan` and the `--once` pass now list each one, as
real processes (the limit on the files listed, in-process: tests/loop/test_queue.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import INTENTS
from tests.support.gitrepos import reconcile as run

IGNORED = [
    (f"{INTENTS}/.hidden.yaml", "ignored_hidden"),
    (f"{INTENTS}/dir.yaml/", "ignored_folder"),
    (f"{INTENTS}/nested/deep.yaml", "ignored_in_subfolder"),
    (f"{INTENTS}/nested/more/deeper.yml", "ignored_in_subfolder"),
    (f"{INTENTS}/x.json", "ignored_not_yaml_name"),
    (f"{INTENTS}/x.yaml.bak", "ignored_not_yaml_name"),
]


def add_strays(repo: Path) -> None:
    """One file of each kind that is not an intent (dir.yaml/ holds a file, so git keeps it)."""
    for name in ("nested/deep.yaml", "nested/more/deeper.yml", "x.yaml.bak", ".hidden.yaml"):
        g.write_intent(repo, name, step=5)
    (repo / INTENTS / "x.json").write_text('{"intent": "expand"}\n')
    (repo / INTENTS / "dir.yaml").mkdir()
    (repo / INTENTS / "dir.yaml" / "inside.yaml").write_text(g.intent_text(step=5))
    (repo / INTENTS / ".gitkeep").write_text("")  # init's placeholder: expected, not reported


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: one applied intent in applied/ (never reported), the strays and one intent."""
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())
    g.add_intents(repo, {"10-expand.yaml": {"step": 5}})
    assert run(repo, "--once").returncode == 0
    add_strays(repo)
    g.write_intent(repo, "20-rollback.yaml", intent="rollback")
    g.commit_all(repo, "strays and a rollback")
    return repo


def reported(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    for item in items:
        assert set(item) == {"path", "reason", "why"} and item["why"]
    return [(item["path"], item["reason"]) for item in items]


def assert_listed_in_text(stdout: str) -> None:
    assert f"ignored ({len(IGNORED)}, not intents, never read):" in stdout
    for path, reason in IGNORED:
        (line,) = [line for line in stdout.splitlines() if line.startswith(f" - {path}: ")]
        assert line.endswith(f" ({reason})")
    assert "applied/" not in stdout.replace("intents/applied/", "")
    assert ".gitkeep" not in stdout


def test_status_lists_the_ignored_files(repo: Path) -> None:
    human = run(repo, "status")
    report = run(repo, "status", "--json")

    assert human.returncode == report.returncode == 0, human.stderr
    assert_listed_in_text(human.stdout)
    doc = g.json_lines(report.stdout.replace("\n", " "))[0]
    assert reported(doc["ignored"]) == IGNORED
    assert [row["intentFile"] for row in doc["pending"]] == [f"{INTENTS}/20-rollback.yaml"]
    nested = doc["ignored"][2]["why"]
    assert nested == f"in a subfolder: only files directly in {INTENTS}/ are intents"


def test_status_lists_an_empty_folder_named_like_an_intent_and_says_none_pending(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())
    (repo / INTENTS / "dir.yaml").mkdir(parents=True)

    done = run(repo, "status")

    assert "pending intents: none" in done.stdout
    assert f" - {INTENTS}/dir.yaml/: a folder, not a file" in done.stdout


@pytest.mark.parametrize("dry_run", [False, True], ids=["pass", "dry-run"])
def test_the_pass_lists_the_ignored_files_and_leaves_them_alone(repo: Path, dry_run: bool) -> None:
    flags = ["--dry-run"] if dry_run else []
    before = {path: (repo / path).exists() for path, _ in IGNORED}

    done = run(repo, "--once", "--json", *flags)

    assert done.returncode == 0, done.stderr
    lines = g.json_lines(done.stdout)
    assert [line["intentFile"] for line in lines if line["type"] == "intent"] == [
        f"{INTENTS}/20-rollback.yaml"
    ]
    assert lines[-1]["type"] == "pass"
    assert reported(lines[-1]["ignored"]) == IGNORED
    assert {path: (repo / path).exists() for path, _ in IGNORED} == before
    human = run(repo, "--once", *flags)
    assert human.returncode == 0
    assert_listed_in_text(human.stdout)
    if not dry_run:
        assert "nothing to do: no pending intents" in human.stdout


def test_plan_lists_the_ignored_files_of_the_merged_tree(repo: Path) -> None:
    g.git(repo, "switch", "-q", "-c", "feature")
    (repo / INTENTS / "README.md").write_text("Intents go directly in this folder.\n")
    g.commit_all(repo, "a readme")

    human = run(repo, "plan", "--base", "main")
    machine = run(repo, "plan", "--base", "main", "--json")

    assert human.returncode == machine.returncode == 0, human.stderr
    expected = sorted([*IGNORED, (f"{INTENTS}/README.md", "ignored_not_yaml_name")])
    summary = g.json_lines(machine.stdout)[-1]
    assert reported(summary["ignored"]) == expected
    assert f"ignored ({len(expected)}, not intents, never read):" in human.stdout
    for path, reason in expected:
        assert any(line.startswith(f" - {path}: ") and line.endswith(f"({reason})")
                   for line in human.stdout.splitlines())  # fmt: skip


def test_plans_markdown_summary_lists_the_ignored_files(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "plan.md"

    done = run(repo, "plan", "--base", "main", "--summary-file", str(target))

    assert done.returncode == 0, done.stderr
    text = target.read_text()
    assert "Ignored (not intents, never read):" in text
    assert f"- `{INTENTS}/nested/deep.yaml`: in a subfolder" in text
