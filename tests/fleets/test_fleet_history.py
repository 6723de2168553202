"""`reconcile history` in a repository with several fleets: the Fleet: trailer, `--fleet`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.reports.history import HistoryQuery, entry_json, read_history
from tests.support import gitrepos as g
from tests.support.fleets import add_fleet_intents, make_fleets_repo


@pytest.fixture
def two_fleets(tmp_path: Path) -> Path:
    """Three loop commits: prod-eu's expand and rollback, staging's expand."""
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 25}})
    add_fleet_intents(
        repo,
        "prod-eu",
        {"001-expand.yaml": {"step": 5}, "002-rollback.yaml": {"intent": "rollback"}},
    )
    g.once(repo)
    return repo


def test_every_entry_names_the_fleet_of_its_commit(two_fleets: Path) -> None:
    entries = read_history(str(two_fleets), HistoryQuery())
    assert [(entry.fleet, entry.action) for entry in entries] == [
        ("staging", "expand"),
        ("prod-eu", "rollback"),
        ("prod-eu", "expand"),
    ]
    assert entry_json(entries[0])["fleet"] == "staging"


def test_fleet_keeps_only_the_commits_of_the_fleets_named(two_fleets: Path) -> None:
    prod = read_history(str(two_fleets), HistoryQuery(fleets=("prod-eu",)))
    assert [entry.fleet for entry in prod] == ["prod-eu", "prod-eu"]
    both = read_history(str(two_fleets), HistoryQuery(fleets=("staging", "prod-eu")))
    assert len(both) == 3
    expands = read_history(str(two_fleets), HistoryQuery(fleets=("staging",), intent="001-expand"))
    assert [(entry.fleet, entry.canary) for entry in expands] == [("staging", "25 -> 50")]


def test_an_unknown_fleet_is_refused(two_fleets: Path) -> None:
    with pytest.raises(RefusalError) as caught:
        read_history(str(two_fleets), HistoryQuery(fleets=("prod-us",)))
    assert caught.value.reason is ReasonCode.FLEET_UNKNOWN


def test_a_single_fleet_repository_has_no_fleet_and_refuses_fleet(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "r", paced=False)
    g.add_intents(repo, {"001-expand.yaml": {"step": 5}})
    g.once(repo)
    (entry,) = read_history(str(repo), HistoryQuery())
    assert entry.fleet is None
    with pytest.raises(RefusalError) as caught:
        read_history(str(repo), HistoryQuery(fleets=("default",)))
    assert caught.value.reason is ReasonCode.FLEET_UNKNOWN
    table = g.reconcile(repo, "history").stdout
    assert table.splitlines()[0].split()[:2] == ["time", "commit"]  # no fleet column


def test_the_cli_prints_a_fleet_column_and_filters_by_fleet(two_fleets: Path) -> None:
    done = g.reconcile(two_fleets, "history")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["fleet", "time", "commit"]
    assert [line.split()[0] for line in lines[1:]] == ["staging", "prod-eu", "prod-eu"]
    done = g.reconcile(two_fleets, "history", "--fleet", "staging", "--json")
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(doc["fleet"], doc["action"]) for doc in docs] == [("staging", "expand")]
    done = g.reconcile(two_fleets, "history", "--fleet", "nope")
    assert done.returncode == 1
    assert "fleet_unknown" in done.stderr
