"""`reconcile validate` in a repository with several fleets: one report per fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.inputs.fleet import PathFlags
from reconciler.reports.validation import validate_repo
from tests.support import gitrepos as g
from tests.support.fleets import fleet_path, intents, make_fleets_repo

ORDERED = """\
guards:
  decisionAfterChange: false
fleets:
  staging: {}
  prod-eu:
    after: staging
    requires: {minCanary: 50, soak: 24h}
    guards: {maxExpandStep: 10}
"""


def validate(repo: Path, *fleets: str) -> dict[str, Any]:
    return validate_repo(str(repo), PathFlags(), now=lambda: g.FIXED, fleets=fleets)


def test_each_fleet_is_reported_with_its_paths_upstream_and_guard_overrides(
    tmp_path: Path,
) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=ORDERED)
    report = validate(repo)
    assert report["ok"] is True
    assert report["layout"]["fleets"] == ["staging", "prod-eu"]
    staging, prod = report["fleets"]
    assert staging["fleet"] == "staging" and staging["ok"] is True
    assert staging["upstream"]["after"] is None
    assert staging["guards"]["overrides"] == []
    assert prod["layout"]["paths"]["registryFile"] == str(
        repo / fleet_path("prod-eu", "registry.yaml")
    )
    assert prod["registry"]["fleetId"] == "prod-eu"
    assert prod["upstream"] == {
        "ok": True,
        "summary": "after staging (minCanary 50%, soak 24h)",
        "after": "staging",
        "minCanary": 50,
        "soak": "24h",
        "problems": [],
    }
    assert prod["guards"]["overrides"] == ["maxExpandStep"]
    assert "maxExpandStep 10" in prod["guards"]["summary"]
    assert "maxExpandStep" not in staging["guards"]["summary"]
    assert report["trust"]["ok"] is True
    assert [fleet["fleet"] for fleet in validate(repo, "prod-eu")["fleets"]] == ["prod-eu"]


def test_a_registry_whose_fleet_id_is_not_its_folder_is_a_problem(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    registry = repo / fleet_path("prod-eu", "registry.yaml")
    registry.write_text(registry.read_text().replace("fleetId: prod-eu", "fleetId: staging"))
    report = validate(repo)
    assert report["ok"] is False
    by_id = {fleet["fleet"]: fleet for fleet in report["fleets"]}
    prod = by_id["prod-eu"]
    assert prod["ok"] is False
    assert prod["registry"]["reasonCode"] == "fleet_id_mismatch"
    assert prod["registry"]["problems"] == [
        "the registry's fleetId 'staging' is not the fleet's id 'prod-eu' (its folder or "
        "fleets: key); expand and resume are refused until they agree"
    ]
    assert by_id["staging"]["ok"] is True


def test_an_unknown_fleet_is_refused(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    with pytest.raises(RefusalError) as caught:
        validate(repo, "prod-us")
    assert caught.value.reason is ReasonCode.FLEET_UNKNOWN


def test_every_problem_of_the_fleets_block_is_reported_cycle_and_unknown_after(
    tmp_path: Path,
) -> None:
    settings = (
        "fleets:\n"
        "  staging: {after: prod-eu}\n"
        "  prod-eu: {after: staging}\n"
        "  prod-us: {after: prod-ap}\n"
    )
    repo = make_fleets_repo(tmp_path / "r", settings=settings)
    done = g.reconcile(repo, "validate", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["settings"]["reasonCode"] == "fleets_invalid"
    cycle = "fleets: the promotion order has a cycle: prod-eu -> staging -> prod-eu"
    unknown = (
        "fleets.prod-us.after names an unknown fleet 'prod-ap' (known: prod-eu, prod-us, staging)"
    )
    assert report["settings"]["problems"] == [cycle, unknown]
    assert (
        "fleet(s) prod-eu, prod-us, staging wait; rollbacks apply"
        in (report["settings"]["summary"])
    )
    # Each fleet is still reported (its rollbacks apply), its order failed.
    upstream = {fleet["fleet"]: fleet["upstream"] for fleet in report["fleets"]}
    assert upstream["prod-us"]["problems"] == [unknown]
    assert upstream["staging"]["problems"] == [cycle]
    assert not any(section["ok"] for section in upstream.values())
    text = g.reconcile(repo, "validate")
    assert text.returncode == 1
    assert " - fleets: the promotion order has a cycle: prod-eu -> staging -> prod-eu" in (
        text.stdout.splitlines()
    )
    assert text.stdout.endswith("\ninvalid\n")


def test_the_cli_reports_each_fleet_and_exits_1_on_a_mismatch(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=ORDERED)
    done = g.reconcile(repo, "validate")
    lines = done.stdout.splitlines()
    assert "fleet staging: ok" in lines and "fleet prod-eu: ok" in lines
    assert "  upstream: after staging (minCanary 50%, soak 24h)" in lines
    registry = repo / fleet_path("staging", "registry.yaml")
    registry.write_text(registry.read_text().replace("fleetId: staging", "fleetId: other"))
    done = g.reconcile(repo, "validate", "--fleet", "staging")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "fleet staging: invalid" in lines
    assert not any(line.startswith("fleet prod-eu") for line in lines)
    assert g.reconcile(repo, "validate", "--fleet", "nope").returncode == 1


def test_path_flags_are_refused_with_several_fleets(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    with pytest.raises(RefusalError) as caught:
        validate_repo(str(repo), PathFlags(registry="x.yaml"), now=lambda: g.FIXED)
    assert caught.value.reason is ReasonCode.FLEETS_INVALID


def test_a_single_fleet_report_keeps_its_shape_and_refuses_fleet(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "r")
    report = validate(repo)
    assert list(report) == [
        "ok", "layout", "registry", "decision", "telemetry", "paths", "guards", "trust", "warnings",
    ]  # fmt: skip
    with pytest.raises(RefusalError) as caught:
        validate(repo, "default")
    assert caught.value.reason is ReasonCode.FLEET_UNKNOWN


def test_validate_intents_compares_an_intents_fleet_with_its_folder(tmp_path: Path) -> None:
    """The pre-commit check says what the pass would: `intent_fleet_mismatch`."""
    repo = make_fleets_repo(tmp_path / "r")
    g.write_intent(repo, "right.yaml", folder=intents("staging"), step=5, fleet="staging")
    g.write_intent(repo, "wrong.yaml", folder=intents("staging"), step=5, fleet="prod-eu")
    g.write_intent(repo, "none.yaml", folder=intents("prod-eu"), intent="rollback")

    done = g.reconcile(
        repo, "validate", "--intents", "--json",
        *(f"{intents(fleet)}/{name}" for fleet, name in
          (("staging", "right.yaml"), ("staging", "wrong.yaml"), ("prod-eu", "none.yaml"))),
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    rows = {Path(row["path"]).name: row for row in map(json.loads, done.stdout.splitlines())}
    assert rows["right.yaml"]["ok"] and rows["none.yaml"]["ok"]
    assert rows["wrong.yaml"]["reasonCodes"] == ["intent_fleet_mismatch"]
    assert "fleet staging's folder" in rows["wrong.yaml"]["problems"][0]
    # Named through a symlink, the repository or the file, it is the same folder.
    link = tmp_path / "link"
    link.symlink_to(repo)
    wrong = f"{intents('staging')}/wrong.yaml"
    for cwd, repo_flag, path in ((repo, str(link), wrong), (link, str(repo), wrong),
                                 (tmp_path, str(repo), str(link / wrong))):  # fmt: skip
        again = g.reconcile(cwd, "validate", "--intents", "--repo", repo_flag, path)
        assert again.returncode == 1, (cwd, repo_flag, path, again.stdout)
    # Outside a repository of several fleets the file is judged on its own.
    alone = tmp_path / "alone"
    alone.mkdir()
    copy = alone / "wrong.yaml"
    copy.write_bytes((repo / intents("staging") / "wrong.yaml").read_bytes())
    assert g.reconcile(alone, "validate", "--intents", "wrong.yaml").returncode == 0


def test_validate_intents_fails_a_file_whose_fleets_cannot_be_resolved(tmp_path: Path) -> None:
    """Fleets refused (`fleets_invalid`): the fleet check was skipped and the file passed."""
    repo = make_fleets_repo(tmp_path / "r", settings="fleets:\n  prod-eu:\n    root: /abs\n")
    g.write_intent(repo, "wrong.yaml", folder=intents("staging"), step=5, fleet="prod-eu")
    g.write_intent(repo, "typo.yaml", folder=intents("staging"), step=0)
    done = g.reconcile(
        repo, "validate", "--intents", "--json",
        f"{intents('staging')}/wrong.yaml", f"{intents('staging')}/typo.yaml",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    rows = {Path(row["path"]).name: row for row in map(json.loads, done.stdout.splitlines())}
    assert rows["wrong.yaml"]["reasonCodes"] == ["fleets_invalid"]
    assert "its fleet cannot be checked" in rows["wrong.yaml"]["problems"][0]
    # The file's own problems are still listed beside it.
    assert "fleets_invalid" in rows["typo.yaml"]["reasonCodes"]
    assert len(rows["typo.yaml"]["reasonCodes"]) == 2
    # A file outside the repository is still judged on its own.
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "wrong.yaml").write_bytes((repo / intents("staging") / "wrong.yaml").read_bytes())
    outside = g.reconcile(repo, "validate", "--intents", str(alone / "wrong.yaml"))
    assert outside.returncode == 0, outside.stdout


def test_validate_fleet_says_the_repository_has_more_fleets(tmp_path: Path) -> None:
    # `validate --fleet prod-eu` said "ok (1 fleet(s): prod-eu)", as if it were the only one.
    repo = make_fleets_repo(tmp_path / "r")
    report = json.loads(g.reconcile(repo, "validate", "--json", "--fleet", "prod-eu").stdout)
    assert report["settings"]["summary"] == "ok (2 fleet(s); --fleet shows prod-eu)"
    assert report["layout"]["reason"] == "several fleets, in promotion order; --fleet shows prod-eu"
    every = json.loads(g.reconcile(repo, "validate", "--json").stdout)
    assert every["settings"]["summary"] == "ok (2 fleet(s): prod-eu, staging)"
