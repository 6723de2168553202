"""`reconcile apply --fleet ID` on a repository with several fleets, as a real process.

One fleet's files are written (registry, state, telemetry), the rules know the fleet (its
registry's fleetId, its upstream), and its lock excludes the loop's without waiting on
another fleet's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from reconciler.adapters import locking
from reconciler.loop.config import load_configs
from reconciler.loop.once import repository_lock_folders
from tests.support import gitrepos as g
from tests.support.fleets import fleet_canary, fleet_path, make_fleets_repo, telemetry

GOVERNANCE = ("--by", "alice", "--approval-ref", "CAB-7", "--rationale", "gates green")
STATE = "state/promotion-apply-state.json"


def apply(repo: Path, *args: str, intent: str = "expand") -> subprocess.CompletedProcess[str]:
    return g.reconcile(
        repo, "apply", "--repo", ".", "--intent", intent, *GOVERNANCE, "--review-by", "7d", *args
    )


def fleets_repo(tmp_path: Path, settings: str | None = None) -> Path:
    if settings is None:
        return make_fleets_repo(tmp_path / "r", generated_at=g.recent())
    return make_fleets_repo(tmp_path / "r", generated_at=g.recent(), settings=settings)


def test_apply_with_fleet_writes_only_that_fleets_files(tmp_path: Path) -> None:
    repo = fleets_repo(tmp_path)
    result = apply(repo, "--fleet", "prod-eu", "--expand-step", "5")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["status"], record["fleetId"]) == ("applied", "prod-eu")
    assert {key: Path(path) for key, path in record["files"].items()} == {
        "registryFile": repo / fleet_path("prod-eu", "registry.yaml"),
        "promotionStateFile": repo / fleet_path("prod-eu", "promotion/decision.json"),
        "applyStateFile": repo / fleet_path("prod-eu", STATE),
        "applyTelemetryFile": repo / telemetry("prod-eu"),
    }
    assert (fleet_canary(repo, "prod-eu"), fleet_canary(repo, "staging")) == (30, 25)
    assert [r["traceId"] for r in g.records(repo, path=telemetry("prod-eu"))] == [record["traceId"]]
    assert json.loads((repo / fleet_path("prod-eu", STATE)).read_text()) == record
    changed = {line[3:] for line in g.status(repo).splitlines()}
    assert changed == {
        fleet_path("prod-eu", name)
        for name in ("registry.yaml", STATE, "state/promotion-apply-index.json")
    } | {telemetry("prod-eu")}


def test_apply_without_fleet_is_refused_with_the_fleet_ids_and_writes_nothing(
    tmp_path: Path,
) -> None:
    repo = fleets_repo(tmp_path)
    result = apply(repo, intent="rollback")
    assert result.returncode == 1
    assert result.stderr == (
        "error: apply works on one fleet; pass --fleet (one of: prod-eu, staging)\n"
        "reason: fleet_required\n"
    )
    assert g.status(repo) == ""


def test_apply_with_an_unknown_fleet_is_refused(tmp_path: Path) -> None:
    repo = fleets_repo(tmp_path)
    result = apply(repo, "--fleet", "prod-us", intent="rollback")
    assert result.returncode == 1
    assert "unknown fleet 'prod-us'; the fleets are: prod-eu, staging" in result.stderr
    assert "reason: fleet_unknown" in result.stderr
    assert g.status(repo) == ""


def test_apply_with_fleet_in_a_single_fleet_repository_is_refused(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "r", generated_at=g.recent(), paced=False)
    result = apply(repo, "--fleet", "default", intent="rollback")
    assert result.returncode == 1
    assert "this repository holds one fleet" in result.stderr
    assert "reason: fleet_unknown" in result.stderr
    assert g.status(repo) == ""


def test_apply_refuses_an_expand_when_the_registry_names_another_fleet(tmp_path: Path) -> None:
    repo = fleets_repo(tmp_path)
    registry = repo / fleet_path("prod-eu", "registry.yaml")
    registry.write_text(registry.read_text().replace("fleetId: prod-eu", "fleetId: staging"))
    g.commit_all(repo, "a registry copied from staging")
    result = apply(repo, "--fleet", "prod-eu", "--expand-step", "5")
    assert result.returncode == 1
    assert "reason: fleet_id_mismatch" in result.stderr
    assert fleet_canary(repo, "prod-eu") == 25
    assert g.status(repo) == ""


def test_apply_defers_an_expand_until_the_upstream_fleet_is_ready(tmp_path: Path) -> None:
    settings = (
        "guards:\n  decisionAfterChange: false\n"
        "fleets:\n  prod-eu:\n    after: staging\n    requires: {minCanary: 100, soak: 24h}\n"
    )
    repo = fleets_repo(tmp_path, settings=settings)
    result = apply(repo, "--fleet", "prod-eu", "--expand-step", "5")
    assert result.returncode == 75, result.stderr
    assert "guard_upstream_not_ready" in result.stderr
    assert g.status(repo) == ""
    assert apply(repo, "--fleet", "staging", "--expand-step", "5").returncode == 0


def test_apply_waits_for_the_loops_lock_but_not_for_another_fleets(tmp_path: Path) -> None:
    repo = fleets_repo(tmp_path)
    every_fleet = repository_lock_folders(load_configs(str(repo)))
    with locking.hold_locks(every_fleet, 1):  # what a pass over every fleet holds
        held = apply(repo, "--fleet", "prod-eu", "--lock-timeout", "200ms", intent="rollback")
    assert held.returncode == 75
    assert "reason: lock_timeout" in held.stderr
    assert g.status(repo) == ""
    staging_only = repository_lock_folders(load_configs(str(repo), fleets=["staging"]))
    with locking.hold_locks(staging_only, 1):  # `reconcile --once --fleet staging`
        free = apply(repo, "--fleet", "prod-eu", "--lock-timeout", "200ms", intent="rollback")
    assert free.returncode == 0, free.stderr
    assert json.loads(free.stdout)["status"] == "applied"
