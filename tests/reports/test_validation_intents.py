"""`reconcile validate --intents FILE...`: the pre-commit check of intent files.

Each file is read and parsed exactly as the loop will (no symlinks, size cap, UTF-8, the
intent parser), so a file that passes here is never rejected by the loop for its content.
The function runs in-process with a fixed clock; the command and the pre-commit hook run
as real processes in tests/e2e/test_validate_intents.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.reports.validation import validate_intent_files
from tests.support import gitrepos as g
from tests.support.gitrepos import FIXED
from tests.support.intentfiles import BAD, GOOD, hook, write


def validate(*paths: Path | str) -> dict[str, dict[str, Any]]:
    results = validate_intent_files([str(path) for path in paths], now=FIXED)
    return {Path(result["path"]).name: result for result in results}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "intents"
    path.mkdir()
    return path


# The function ----------------------------------------------------------------------------


def test_valid_files_are_ok(folder: Path) -> None:
    paths = [write(folder, name, text) for name, text in GOOD.items()]

    results = validate(*paths)

    assert results == {
        path.name: {"path": str(path), "ok": True, "reasonCodes": [], "problems": []}
        for path in paths
    }


@pytest.mark.parametrize("name", list(BAD))
def test_an_invalid_file_lists_its_reason_codes(folder: Path, name: str) -> None:
    content, reasons = BAD[name]
    path = write(folder, name, content)

    (result,) = validate(path).values()

    assert result["ok"] is False
    assert result["reasonCodes"] == reasons
    assert len(result["problems"]) >= len(reasons)
    assert all(isinstance(problem, str) and problem for problem in result["problems"])


def test_a_symlink_is_refused_even_to_a_valid_file(folder: Path, tmp_path: Path) -> None:
    target = write(tmp_path, "real.yaml", GOOD["expand.yaml"])
    link = folder / "link.yaml"
    link.symlink_to(target)

    (result,) = validate(link).values()

    assert result["reasonCodes"] == ["intent_not_regular_file"]
    assert result["problems"] == ["intent file is a symlink, which is refused"]


def test_a_fifo_a_folder_and_a_missing_file_are_rejected_without_hanging(folder: Path) -> None:
    os.mkfifo(folder / "fifo.yaml")
    (folder / "dir.yaml").mkdir()

    results = validate(folder / "fifo.yaml", folder / "dir.yaml", folder / "missing.yaml")

    assert {name: result["reasonCodes"] for name, result in results.items()} == {
        "fifo.yaml": ["intent_not_regular_file"],
        "dir.yaml": ["intent_not_regular_file"],
        "missing.yaml": ["intent_unreadable"],
    }


def test_validate_agrees_with_what_the_loop_rejects(tmp_path: Path) -> None:
    # Pacing off: a deferred resume superseded by a later rollback would be rejected for the
    # queue it sits in, not for its content.
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    folder = repo / g.INTENTS
    folder.mkdir(parents=True)
    for name, (content, _) in BAD.items():
        write(folder, name, content)
    for name, text in GOOD.items():
        write(folder, name, text)
    expected = validate(*sorted(folder.iterdir()))

    report = g.once(repo)

    loop = {outcome.source.name: outcome for outcome in report.outcomes}
    assert loop.keys() == expected.keys()
    for name, outcome in loop.items():
        assert (outcome.status != "rejected") == expected[name]["ok"], name
        if outcome.status == "rejected":
            assert list(outcome.reasons) == expected[name]["reasonCodes"], name
            assert list(outcome.problems) == expected[name]["problems"], name


# The pre-commit hook ---------------------------------------------------------------------


def test_the_hook_selects_pending_intent_files_only() -> None:
    pattern = re.compile(hook()["files"])

    assert pattern.search("policies/intents/20261124T0930Z-expand-cab-1.yaml")
    assert pattern.search("policies/intents/x.yml")
    assert not pattern.search("policies/intents/applied/x.yaml")
    assert not pattern.search("policies/intents/rejected/x.yaml")
    assert not pattern.search("policies/registry.yaml")
    assert not pattern.search("policies/intents/notes.md")
