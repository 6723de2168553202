"""Repositories, edits and readings shared by a loop guarantee's two kinds of test.

The in-process tests (tests/loop/) and the process tests (tests/e2e/) of one guarantee build
the same repositories and break them the same way; the helpers both need live here.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from reconciler.loop import head_move
from tests.support import gitrepos as g
from tests.support.gitrepos import REGISTRY


def marker(repo: Path) -> Path:
    return repo / ".git" / head_move.MARKER_NAME


def paused(repo: Path, rev: str | None = None) -> bool:
    text = g.show_file(repo, rev, REGISTRY) if rev else (repo / REGISTRY).read_text()
    line = next(line for line in text.splitlines() if line.strip().startswith("manual:"))
    return line.split(":", 1)[1].split("#", 1)[0].strip() == "true"


def break_registry(
    repo: Path, old: str = "transport: local\n", new: str = "transport: locall\n"
) -> None:
    path = repo / REGISTRY
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    g.commit_all(repo, "registry: a typo")


TELEMETRY_FOLDER = "policies/telemetry"


def applied_keys(repo: Path) -> Counter[str]:
    return Counter(r["idempotencyKey"] for r in g.all_records(repo) if r["status"] == "applied")


def sealed(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / TELEMETRY_FOLDER).glob("promotion-apply.*.jsonl"))


def two_expands_applied(tmp_path: Path) -> Path:
    """Two expands applied by the loop: keys 10-expand and 20-expand."""
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    g.add_intents(repo, {"10-expand.yaml": {"step": 10}, "20-expand.yaml": {"step": 10}})
    assert g.statuses(g.once(repo)) == [
        ("10-expand.yaml", "applied"),
        ("20-expand.yaml", "applied"),
    ]
    return repo


def rotated_repo(tmp_path: Path) -> Path:
    """Three expands with telemetryRotateBytes 2048: keys 000 and 001 sealed, 002 active."""
    repo = g.make_policy_repo(
        tmp_path / "repo", settings="telemetryRotateBytes: 2048\n", paced=False
    )
    g.add_intents(repo, {f"{n:03d}.yaml": {"step": 1} for n in range(3)})
    g.once(repo, clock=g.ticking_clock())
    assert len(sealed(repo)) == 1
    assert [r["idempotencyKey"] for r in g.records(repo)] == ["002"]
    return repo


def drop_index_key(repo: Path, path: str, key: str) -> None:
    doc = json.loads((repo / path).read_text())
    del doc["keys"][key]
    (repo / path).write_text(json.dumps(doc) + "\n")
    g.commit_all(repo, f"edit {path} by hand")


def edit_decision(repo: Path, **summary: Any) -> None:
    path = repo / g.DECISION
    doc = json.loads(path.read_text())
    doc["summary"].update(summary)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    g.commit_all(repo, "a decision that contradicts itself")


CONTRADICTIONS = [
    pytest.param({"promote": False}, "summary.promote is false", id="promote-false"),
    pytest.param(
        {"failedGates": ["governance"], "gateFailCount": 1},
        'summary.failedGates is ["governance"] and summary.gateFailCount is 1',
        id="failed-gates",
    ),
]


def two_passes(tmp_path: Path) -> Path:
    """A repository after two passes: two applied keys in the telemetry and its index."""
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(repo, {"10-expand.yaml": {"step": 10}})
    g.once(repo)
    g.add_intents(repo, {"20-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-1"}})
    g.once(repo)
    assert g.status(repo) == ""
    return repo
