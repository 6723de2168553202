"""`reconcile repair-index [--fleet ID]` on a repository with several fleets, as a real process.

Without `--fleet` every fleet's indexes are rebuilt under one lock, in one commit; with it,
that fleet's only.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support import gitrepos as g
from tests.support.fleets import add_fleet_intents, fleet_path, make_fleets_repo

INDEX = "state/promotion-apply-index.json"


def repair(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return g.reconcile(repo, "repair-index", "--json", *args)


def result_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def lost_indexes(tmp_path: Path) -> Path:
    """Both fleets applied an intent, then both key indexes were deleted (committed)."""
    repo = make_fleets_repo(tmp_path / "r")
    for fleet in ("staging", "prod-eu"):
        add_fleet_intents(repo, fleet, {"001-expand.yaml": {"step": 5}})
    g.once(repo)
    g.git(repo, "rm", "-q", fleet_path("staging", INDEX), fleet_path("prod-eu", INDEX))
    g.git(repo, "commit", "-q", "-m", "indexes lost")
    return repo


def test_repair_index_without_fleet_rebuilds_every_fleets_index_in_one_commit(
    tmp_path: Path,
) -> None:
    repo = lost_indexes(tmp_path)
    before = g.count_commits(repo)
    result = result_of(repair(repo))
    assert [Path(path) for path in result["changed"]] == [
        repo / fleet_path("prod-eu", INDEX),
        repo / fleet_path("staging", INDEX),
    ]
    assert [(entry["fleet"], entry["keys"]) for entry in result["fleets"]] == [
        ("prod-eu", 1),
        ("staging", 1),
    ]
    assert (result["keys"], result["commit"]) == (2, g.head(repo))
    assert g.count_commits(repo) == before + 1
    assert g.subject(repo, "HEAD") == (
        "repair telemetry index (prod-eu: promotion-apply-index.json; "
        "staging: promotion-apply-index.json)"
    )
    assert g.status(repo) == ""
    assert result_of(repair(repo))["changed"] == []


def test_repair_index_with_fleet_rebuilds_that_fleets_index_only(tmp_path: Path) -> None:
    repo = lost_indexes(tmp_path)
    result = result_of(repair(repo, "--fleet", "staging"))
    assert [Path(path) for path in result["changed"]] == [repo / fleet_path("staging", INDEX)]
    assert [entry["fleet"] for entry in result["fleets"]] == ["staging"]
    assert g.name_status(repo, "HEAD") == {("A", fleet_path("staging", INDEX))}
    assert not (repo / fleet_path("prod-eu", INDEX)).exists()


def test_repair_index_with_an_unknown_fleet_or_in_a_single_fleet_repository_is_refused(
    tmp_path: Path,
) -> None:
    repo = lost_indexes(tmp_path)
    head = g.head(repo)
    done = repair(repo, "--fleet", "prod-us")
    assert (done.returncode, done.stderr.splitlines()[-1]) == (1, "reason: fleet_unknown")
    assert (g.head(repo), g.status(repo)) == (head, "")
    single = g.make_policy_repo(tmp_path / "single")
    done = repair(single, "--fleet", "default")
    assert (done.returncode, done.stderr.splitlines()[-1]) == (1, "reason: fleet_unknown")
    assert "fleets" not in result_of(repair(single))  # one fleet: the result as before
