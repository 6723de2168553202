"""One vocabulary in every human output, one JSON convention per kind (docs/output.md).

Issue 10, item 6: pause showed as `running -> paused` in tables but `false -> true` in
`history` and the PR Markdown; times ended in `+00:00` in `history` and `Z` elsewhere;
`status --json` printed an indented object while `dispatch --json` printed one line.
Real processes: the bytes each command prints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import gitrepos as g

EXAMPLE_REVIEW_BY = "2027-12-31T00:00:00Z"
OFFSET_REVIEW_BY = "2028-01-01T02:00:00+02:00"
"""A registry time written with an offset: people see it as 2028-01-01T00:00:00Z."""
GOVERNANCE = [
    "--by", "alice", "--approval-ref", "CAB-7", "--rationale", "words", "--review-by",
    g.REVIEW_BY,
]  # fmt: skip
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([^\d\s),;|]*)")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())
    registry = repo / g.REGISTRY
    text = registry.read_text()
    assert f"reviewBy: {EXAMPLE_REVIEW_BY}" in text
    registry.write_text(text.replace(EXAMPLE_REVIEW_BY, OFFSET_REVIEW_BY, 1))
    # Into the first commit (the audit's baseline): a later commit would be a hand edit.
    g.git(repo, "commit", "-q", "-a", "--amend", "--no-edit")
    g.add_intents(repo, {"10-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-1"}})
    return repo


def own_words(text: str) -> str:
    """The text without the commit messages it quotes (indented, or in a fenced block)."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and not line.startswith("    "):
            kept.append(line)
    return "\n".join(kept)


def human_outputs(repo: Path, summary: Path) -> dict[str, str]:
    """Every command's text for people (and the plan's Markdown), after one rollback."""
    out = {"status-pending": g.reconcile(repo, "status").stdout}
    out["once"] = g.reconcile(repo, "--once").stdout
    out["history"] = g.reconcile(repo, "history").stdout
    out["status"] = g.reconcile(repo, "status").stdout
    out["validate"] = g.reconcile(repo, "validate").stdout
    # Pacing is not this test's subject (a decision after the rollback would be generated
    # within the second this real process ran it): the resume may follow on the same one.
    (repo / "reconciler.yaml").write_text(g.UNPACED)
    g.commit_all(repo, "no pacing")
    g.git(repo, "switch", "-q", "-c", "feature")
    g.add_intents(repo, {"20-resume.yaml": {"intent": "resume", "approval_ref": "CAB-2"}})
    out["plan"] = g.reconcile(repo, "plan", "--base", "main", "--summary-file", str(summary)).stdout
    out["plan.md"] = summary.read_text()
    return out


def test_pause_and_times_read_the_same_in_every_human_output(repo: Path, tmp_path: Path) -> None:
    outputs = human_outputs(repo, tmp_path / "plan.md")

    for name, text in outputs.items():
        words = own_words(text)
        assert not re.search(r"\b(true|false)\b", words), (name, words)
        suffixes = {match.group(1) for match in TIME.finditer(words)}
        assert suffixes <= {"Z"}, (name, suffixes)
    for name in ("status-pending", "once", "history"):  # the rollback
        assert "running -> paused" in outputs[name], name
    for name in ("plan", "plan.md"):  # the resume after it
        assert "paused -> running" in outputs[name], name
    assert "review by 2028-01-01T00:00:00Z" in outputs["status-pending"]
    assert "review by 2099-01-01T00:00:00Z" in outputs["status"]  # the rollback's own
    assert ", paused, review by 2099-01-01T00:00:00Z)" in outputs["validate"]
    assert outputs["status"].startswith("fleet fleet-a: canary 25%, paused, mode guarded_auto")


def test_documents_are_indented_and_streams_are_json_lines(repo: Path, tmp_path: Path) -> None:
    documents = {
        "status": ["status", "--json"],
        "validate": ["validate", "--json"],
        "dispatch": ["dispatch", "--mode", "dry_run", "--json"],
        "intent new": ["intent", "new", "expand", "--step", "5", *GOVERNANCE, "--json"],
        "repair-index": ["repair-index", "--no-commit", "--json"],
        "schema": ["schema", "intent"],
        "init": ["init", str(tmp_path / "new"), "--install", "rollout-reconciler==0.1.0", "--json"],
    }
    for name, args in documents.items():
        done = g.reconcile(repo, *args)
        assert done.returncode == 0, (name, done.stderr)
        assert done.stdout.startswith("{\n  "), name  # one document, indented
        assert isinstance(json.loads(done.stdout), dict), name
    g.git(repo, "stash", "-q", "--include-untracked")  # the intent written above
    streams = {
        "once": ["--once", "--dry-run", "--json"],
        "plan": ["plan", "--base", "main", "--json"],
        "validate --intents": ["validate", "--intents", f"{g.INTENTS}/10-rollback.yaml", "--json"],
    }
    for name, args in streams.items():
        done = g.reconcile(repo, *args)
        assert done.returncode == 0, (name, done.stderr)
        lines = done.stdout.splitlines()
        assert lines and all(isinstance(json.loads(line), dict) for line in lines), name
    assert g.reconcile(repo, "--once").returncode == 0
    history = g.reconcile(repo, "history", "--json").stdout.splitlines()
    assert len(history) == 1 and json.loads(history[0])["time"].endswith("Z")


def test_apply_prints_its_record_on_one_line_unless_pretty(tmp_path: Path) -> None:
    from tests.support import fleet

    folder = tmp_path / "plain"
    fleet.write_registry(folder, canary=25, manual=False)
    fleet.write_decision(folder, "promote")
    args = ["apply", "--repo", str(folder), "--intent", "rollback", *GOVERNANCE]

    compact = g.reconcile(tmp_path, *args, "--idempotency-key", "k-1")
    pretty = g.reconcile(tmp_path, *args, "--idempotency-key", "k-1", "--pretty")

    assert compact.returncode == 0, compact.stderr
    assert compact.stdout.count("\n") == 1  # the bash tool's `jq -c` record
    assert pretty.stdout.startswith("{\n  ")
    assert json.loads(pretty.stdout).items() >= json.loads(compact.stdout).items()  # + replayed
