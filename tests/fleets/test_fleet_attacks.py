"""Attacks on several fleets in one repository: each test is a defect found and fixed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from tests.support import gitrepos as g
from tests.support.fleets import (
    add_fleet_intents,
    fleet_canary,
    fleet_path,
    intents,
    make_fleets_repo,
)

UNPACED = "guards:\n  decisionAfterChange: false\n"


def test_an_intents_folder_inside_another_fleets_intents_folder_is_refused(
    tmp_path: Path,
) -> None:
    # prod-eu's intents folder is staging's applied/: every intent staging applied would be
    # applied again in prod-eu (and staging's applied file moved away).
    settings = UNPACED + (
        "fleets:\n  prod-eu:\n    intentsDir: policies/fleets/staging/intents/applied\n"
    )
    repo = make_fleets_repo(tmp_path / "r", settings=settings)
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    with pytest.raises(RefusalError) as caught:
        g.once(repo)
    assert caught.value.reason == "fleets_invalid"
    assert any("inside fleet staging's intents folder" in line for line in caught.value.details)
    assert fleet_canary(repo, "prod-eu") == 25
    assert g.pending(repo, intents("staging")) == ["001-expand.yaml"]


def test_a_fleet_named_in_settings_without_a_folder_never_stops_a_rollback(
    tmp_path: Path,
) -> None:
    # `fleets:` names prod-us before its folder exists: its registry folder cannot be locked,
    # which refused the whole pass (prod-eu's rollback too) with `file_error`.
    repo = make_fleets_repo(tmp_path / "r", settings=UNPACED + "fleets:\n  prod-us: {}\n")
    add_fleet_intents(repo, "prod-eu", {"001-rollback.yaml": {"intent": "rollback"}})
    assert g.statuses(g.once(repo)) == [("001-rollback.yaml", "applied")]
    assert g.status(repo) == ""


@pytest.mark.parametrize(
    ("folder", "push"),
    [("state", False), ("telemetry", True), ("intents/applied", False), ("promotion", True)],
)
def test_a_symlink_in_another_fleets_folder_never_stops_a_rollback(
    tmp_path: Path, folder: str, push: bool
) -> None:
    # A symlinked folder of staging refused the whole pass before the lock (`path_symlink`):
    # prod-eu's rollback too, though docs/fleets.md says it is staging's refusal only.
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "prod-eu", {"001-rollback.yaml": {"intent": "rollback"}})
    link = repo / fleet_path("staging", folder)
    if link.exists():
        shutil.rmtree(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    (repo / "elsewhere").mkdir()
    link.symlink_to(os.path.relpath(repo / "elsewhere", link.parent))
    g.commit_all(repo, "staging: a symlinked folder")
    bare = g.make_remote(tmp_path, repo) if push else None
    report = g.once(repo, push=push)
    assert g.statuses(report) == [("001-rollback.yaml", "applied")]
    assert [(fleet, error.reason) for fleet, error in report.refusals] == [
        ("staging", "path_symlink")
    ]
    assert "001-expand.yaml" in g.pending(repo, intents("staging"))
    if bare is not None:
        assert report.pushed
        assert g.head(bare, "main") == g.head(repo)
    assert fleet_canary(repo, "staging") == 25


@pytest.mark.parametrize("push", [False, True])
def test_a_broken_journal_of_another_fleet_never_stops_a_rollback(
    tmp_path: Path, push: bool
) -> None:
    # An unreadable journal in staging's folder (an interrupted apply, or one committed by a
    # pull request: .gitignore does not stop `git add -f`) raised `journal_corrupt` for the
    # whole pass, prod-eu's rollback included.
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "prod-eu", {"001-rollback.yaml": {"intent": "rollback"}})
    (repo / fleet_path("staging", ".reconciler-journal.json")).write_text("garbage")
    g.git(repo, "add", "-f", "--", fleet_path("staging", ".reconciler-journal.json"))
    g.git(repo, "commit", "-q", "-m", "staging: a journal")
    if push:
        g.make_remote(tmp_path, repo)
    report = g.once(repo, push=push)
    assert g.statuses(report) == [("001-rollback.yaml", "applied")]
    assert [(fleet, error.reason) for fleet, error in report.refusals] == [
        ("staging", "journal_corrupt")
    ]
    assert g.pending(repo, intents("staging")) == ["001-expand.yaml"]
    assert report.pushed == push
