"""Data is never markup: rich-looking values print as typed, and every command exits normally.

Issue 9, item 14: an intent with `actor: "alice[/bold]"` made `--once` commit the intent and
then exit 70 with a rich `MarkupError` (the same for `plan` and `status`). Issue 10: the
Markdown summaries of `plan` and `dispatch` escape it too (tests/render/ checks every
renderer in-process). Real processes, so the exit codes and the bytes printed are the real
ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import reconcile as run

ACTOR = "alice[/bold]"
APPROVAL = "[red]x[/red]"
RATIONALE = ":smile: [link=https://example.com]click[/link] [/]"
HOSTILE_NAME = "[bold]oops[red].yaml"  # a name is data too (rejected for its name, printed)


def intent(actor: str = ACTOR, approval: str = APPROVAL) -> str:
    return json.dumps(
        {
            "intent": "expand",
            "expandStep": 5,
            "governance": {
                "actor": actor,
                "approvalRef": approval,
                "rationale": RATIONALE,
                "reviewBy": g.REVIEW_BY,
            },
        }
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # Pacing off: a dispatched or branched expand after 20-expand runs on the same decision.
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent(), paced=False)
    g.add_intents(repo, {"20-expand.yaml": intent(), HOSTILE_NAME: intent("[bold]bob", "[/]")})
    return repo


def assert_printed_as_typed(stdout: str) -> None:
    assert ACTOR in stdout
    assert HOSTILE_NAME in stdout


def test_once_prints_the_values_as_typed_and_exits_3_for_the_rejected_name(repo: Path) -> None:
    done = run(repo, "--once")

    assert done.returncode == 3, done.stdout + done.stderr  # the hostile name is rejected
    assert "Traceback" not in done.stderr and "MarkupError" not in done.stderr
    assert_printed_as_typed(done.stdout)
    assert "1 applied, 0 replayed, 1 rejected" in done.stdout
    assert g.trailer(repo, "HEAD~1", "Actor") == ACTOR


def test_status_prints_the_values_as_typed(repo: Path) -> None:
    pending = run(repo, "status")
    assert pending.returncode == 0, pending.stderr
    assert_printed_as_typed(pending.stdout)
    assert run(repo, "--once").returncode == 3

    done = run(repo, "status")

    assert done.returncode == 0, done.stderr
    assert f"governance: {ACTOR} ({APPROVAL})" in done.stdout


def test_plan_prints_the_values_as_typed(repo: Path, tmp_path: Path) -> None:
    g.git(repo, "switch", "-q", "-c", "feature")
    g.add_intents(repo, {"30-expand.yaml": intent()})
    summary = tmp_path / "plan.md"

    done = run(repo, "plan", "--base", "main", "--summary-file", str(summary))

    assert done.returncode == 0, done.stdout + done.stderr
    assert_printed_as_typed(done.stdout)
    assert f"Approval-Ref: {APPROVAL}" in done.stdout
    assert RATIONALE in done.stdout
    assert f"Actor: {ACTOR}" in summary.read_text()


def test_history_prints_the_values_as_typed(repo: Path) -> None:
    assert run(repo, "--once").returncode == 3

    done = run(repo, "history")

    assert done.returncode == 0, done.stderr
    assert ACTOR in done.stdout and APPROVAL in done.stdout
    assert "[bold]bob" not in done.stdout  # the rejected file's intent was never parsed


def test_dry_run_and_json_print_the_values_as_typed(repo: Path) -> None:
    table = run(repo, "--once", "--dry-run")
    lines = g.json_lines(run(repo, "--once", "--dry-run", "--json").stdout)

    assert table.returncode == 3, table.stderr
    assert_printed_as_typed(table.stdout)
    assert [line.get("actor") for line in lines if line["type"] == "intent"] == [ACTOR, None]


MARKDOWN_ACTOR = "**eve** <b>x</b> | `y`"
"""Markdown, HTML, a table pipe and a code span in one actor (issue 10: every renderer)."""


def unescaped_pipes(line: str) -> int:
    """The pipes GitHub splits a table row on (a backslash and the next character are one)."""
    return len(re.findall(r"(?<!\\)(?:\\\\)*\|", line))


def test_the_plan_markdown_escapes_an_actor_in_its_table(repo: Path, tmp_path: Path) -> None:
    g.git(repo, "switch", "-q", "-c", "feature")
    g.add_intents(repo, {"30-expand.yaml": intent(MARKDOWN_ACTOR, "CAB|1")})
    summary = tmp_path / "plan.md"

    done = run(repo, "plan", "--base", "main", "--summary-file", str(summary))

    assert MARKDOWN_ACTOR in done.stdout  # the table for people: as typed
    table = [line for line in summary.read_text().splitlines() if line.startswith("| ")]
    assert {unescaped_pipes(line) for line in table} == {9}  # 8 cells a row, none split
    assert "\\*\\*eve\\*\\* \\<b>x\\</b> \\| \\`y\\`" in summary.read_text()


def test_the_dispatch_markdown_escapes_the_values(repo: Path, tmp_path: Path) -> None:
    g.write_decision(repo, generated_at=g.recent(), trace_id="gates|<b>1</b>")
    g.commit_all(repo, "a decision whose trace id looks like markup")
    summary = tmp_path / "dispatch.md"

    done = run(
        repo, "dispatch", "--mode", "dry_run", "--by", MARKDOWN_ACTOR, "--approval-ref", "CAB|1",
        "--rationale", RATIONALE, "--review-by", g.REVIEW_BY, "--summary-file", str(summary),
    )  # fmt: skip

    assert done.returncode in (0, 3), done.stderr
    text = summary.read_text()
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert {unescaped_pipes(line) for line in table} == {3}  # two cells a row
    assert "(CAB|1)`" in text.splitlines()[2]  # the subject: a code span, outside the table
    assert "| decision | promote (gates\\|\\<b>1\\</b>) |" in text
