"""Attacks on several fleets in one repository: each test is a defect found and fixed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.adapters import locking
from reconciler.core.errors import RefusalError, RetryableError
from reconciler.inputs.layouts import resolve_layout
from reconciler.journal import JOURNAL_NAME
from reconciler.loop.config import load_configs
from reconciler.loop.head_move import MARKER_NAME
from reconciler.loop.once import repository_lock_folders
from reconciler.loop.repair import repair_index
from reconciler.telemetry.index import INDEX_NAME, SEGMENTS_INDEX_NAME
from tests.support import gitrepos as g
from tests.support.fleets import (
    add_fleet_intents,
    fleet_canary,
    fleet_path,
    intents,
    make_fleets_repo,
)

UNPACED = "guards:\n  decisionAfterChange: false\n"
CRASHER = g.ROOT / "tests" / "support" / "crashing_once.py"


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


@pytest.mark.parametrize(
    ("key", "what", "kept"),
    [
        ("registryFile", "registry", JOURNAL_NAME),
        ("applyStateFile", "state", f"{INDEX_NAME}, {SEGMENTS_INDEX_NAME}"),
    ],
)
def test_two_fleets_keeping_their_registries_or_states_in_one_folder_are_refused(
    tmp_path: Path, key: str, what: str, kept: str
) -> None:
    # Each fleet's state folder holds its key indexes, and its registry folder its crash
    # journal, under fixed names: two fleets there rewrote each other's indexes on every pass
    # (and one fleet's recovery would have run the other's journal). Nothing refused it.
    name = "registry.yaml" if key == "registryFile" else "state.json"
    settings = UNPACED + (
        f"fleets:\n  staging:\n    {key}: shared/staging-{name}\n"
        f"  prod-eu:\n    {key}: shared/prod-eu-{name}\n"
    )
    repo = make_fleets_repo(tmp_path / "r", settings=settings)
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    before = g.head(repo)
    with pytest.raises(RefusalError) as caught:
        g.once(repo)
    assert caught.value.reason == "fleets_invalid"
    lines = [line for line in caught.value.details if "one folder" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"fleets prod-eu and staging keep their {what} file in one folder")
    assert kept in lines[0]
    assert (g.head(repo), g.pending(repo, intents("staging"))) == (before, ["001-expand.yaml"])
    # One fleet's registry and state in one folder is that fleet's own business.
    alone = UNPACED + "fleets:\n  staging:\n    applyStateFile: policies/fleets/staging/s.json\n"
    other = make_fleets_repo(tmp_path / "o", settings=alone)
    add_fleet_intents(other, "staging", {"001-expand.yaml": {"step": 5}})
    assert g.statuses(g.once(other)) == [("001-expand.yaml", "applied")]


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


def test_a_pass_over_one_fleet_holds_the_whole_repository_lock(tmp_path: Path) -> None:
    # `--once --fleet prod-eu` locked prod-eu's folders only: it ran beside a pass over
    # staging (one HEAD, one index, one crash marker and one fast-import marks file for both).
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "prod-eu", {"001-rollback.yaml": {"intent": "rollback"}})
    staging = load_configs(str(repo), fleets=["staging"])
    before = g.head(repo)
    with locking.hold_locks(repository_lock_folders(staging), 0):
        with pytest.raises(RetryableError) as caught:
            g.once(repo, fleets=["prod-eu"], lock_timeout="0s")
    assert caught.value.reason == "lock_timeout"
    assert g.head(repo) == before
    assert g.statuses(g.once(repo, fleets=["prod-eu"])) == [("001-rollback.yaml", "applied")]


@pytest.mark.slow
def test_a_crashed_pass_over_another_fleet_never_stops_a_fleets_rollback(tmp_path: Path) -> None:
    # A `--once --fleet staging` killed mid-move leaves a marker naming staging's intents;
    # the next `--once --fleet prod-eu` recovered it against prod-eu's folder only and
    # refused (`journal_corrupt`): prod-eu's rollback waited for someone to delete it.
    fresh = datetime.now(UTC) - timedelta(minutes=1)
    repo = make_fleets_repo(tmp_path / "r", generated_at=fresh)
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "prod-eu", {"001-rollback.yaml": {"intent": "rollback"}})
    crashed = subprocess.run(
        [sys.executable, str(CRASHER), "before:_drop_consumed", "--repo", str(repo),
         "--fleet", "staging"],
        capture_output=True, text=True, timeout=60, cwd=str(g.ROOT),
        env={**os.environ, "PYTHONPATH": str(g.ROOT)}, check=False,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert (repo / ".git" / MARKER_NAME).exists()
    report = g.once(repo, fleets=["prod-eu"], at=datetime.now(UTC))
    assert report.recovered
    assert g.statuses(report) == [("001-rollback.yaml", "applied")]
    assert g.pending(repo, intents("staging")) == []
    assert g.processed(repo, "applied", intents("staging")) == ["001-expand.yaml"]
    assert fleet_canary(repo, "staging") == 30
    assert g.status(repo) == ""


def test_repair_index_of_one_fleet_holds_the_whole_repository_lock(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    staging = load_configs(str(repo), fleets=["staging"])
    with locking.hold_locks(repository_lock_folders(staging), 0):
        with pytest.raises(RetryableError) as caught:
            repair_index(str(repo), commit=True, now=lambda: g.FIXED, lock_timeout="0s",
                         fleet="prod-eu")  # fmt: skip
    assert caught.value.reason == "lock_timeout"


ORDER = "maxDecisionAge: 30d\n" + UNPACED + "fleets:\n  prod-eu:\n    after: staging\n"


@pytest.mark.parametrize("folder", ["telemetry", "state"])
def test_a_folder_of_another_fleet_leading_outside_never_stops_a_rollback(
    tmp_path: Path, folder: str
) -> None:
    # staging's folder symlinked out of the repository refused the layout of every fleet
    # (`layout_path_outside_repo`): prod-eu's rollback, `apply --fleet prod-eu` too. It is
    # staging's refusal now, and prod-eu's upstream gate never reads through it.
    repo = make_fleets_repo(tmp_path / "r", settings=ORDER, canary={"staging": 100})
    outside = tmp_path / "outside"
    outside.mkdir()
    link = repo / fleet_path("staging", folder)
    if link.exists():
        shutil.rmtree(link)
    link.symlink_to(outside)
    g.commit_all(repo, "staging: a folder outside")
    add_fleet_intents(
        repo,
        "prod-eu",
        {"001-expand.yaml": {"step": 5}, "002-rollback.yaml": {"intent": "rollback"}},
    )
    report = g.once(repo)
    assert [o.status for o in report.outcomes] == ["deferred", "applied", "rejected"]
    assert "outside the repository" in report.outcomes[0].problems[0]
    assert [(fleet, error.reason) for fleet, error in report.refusals] == [
        ("staging", "layout_path_outside_repo")
    ]
    assert "manual: true" in (repo / fleet_path("prod-eu", "registry.yaml")).read_text()
    assert list(outside.iterdir()) == []
    # Every other use of staging still refuses it.
    with pytest.raises(RefusalError) as caught:
        resolve_layout(str(repo), fleet="staging")
    assert caught.value.reason == "layout_path_outside_repo"
    assert resolve_layout(str(repo), fleet="prod-eu").refused is None


def test_case_twins_and_an_absolute_root_are_refused(tmp_path: Path) -> None:
    from reconciler.inputs import layouts

    repo = make_fleets_repo(tmp_path / "twins", settings="fleets:\n  Staging: {}\n")
    with pytest.raises(RefusalError) as caught:
        layouts.resolve_layouts(str(repo))
    assert caught.value.reason == "fleets_invalid"
    assert any("differ only in case" in detail for detail in caught.value.details)
    repo = make_fleets_repo(tmp_path / "absolute", settings="fleets:\n  odd:\n    root: /etc\n")
    with pytest.raises(RefusalError) as caught:
        layouts.resolve_layouts(str(repo))
    assert caught.value.reason == "fleets_invalid"
    assert any("relative to the repository" in detail for detail in caught.value.details)


def test_requires_without_after_is_one_problem(tmp_path: Path) -> None:
    from reconciler.inputs import layouts

    repo = make_fleets_repo(
        tmp_path / "r", settings="fleets:\n  prod-eu:\n    requires: {minCanary: 50}\n"
    )
    held = {layout.fleet.id: layout.held for layout in layouts.resolve_layouts(str(repo))}
    assert held["staging"] is None
    assert held["prod-eu"] is not None
    assert [d for d in held["prod-eu"].details if "requires" in d] == [
        "fleets.prod-eu.requires needs after: the upstream fleet it is measured on"
    ]
