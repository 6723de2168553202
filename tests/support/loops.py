"""Repositories, edits and readings shared by a loop guarantee's two kinds of test.

The in-process tests (tests/loop/) and the process tests (tests/e2e/) of one guarantee build
the same repositories and break them the same way; the helpers both need live here.
"""

from __future__ import annotations

from pathlib import Path

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
