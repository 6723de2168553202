"""`reconcile status` over several fleets: one row per fleet, every fleet's predicted intents.

In-process for the report (an injected clock), the real CLI in a subprocess for its text,
JSON and exit codes.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.reports.status import repo_status
from tests.loop.test_once_signing import _count_git
from tests.support import gitrepos as g
from tests.support.fleets import add_fleet_intents, fleet_path, intents, make_fleets_repo

CHAIN = (
    "guards:\n  decisionAfterChange: false\n"
    "fleets:\n  staging: {}\n  prod-eu:\n    after: staging\n"
    "    requires: {minCanary: 30, soak: 24h}\n"
)


def fresh_repo(path: Path, settings: str = CHAIN) -> Path:
    return make_fleets_repo(path, settings=settings, generated_at=g.FIXED - timedelta(hours=1))


def test_the_report_has_one_entry_per_fleet_upstream_first_and_predicts_the_next_pass(
    tmp_path: Path,
) -> None:
    repo = fresh_repo(tmp_path / "r")
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})

    report = repo_status(str(repo), now=lambda: g.FIXED)

    assert set(report) == {"repo", "head", "fleets", "audit", "warnings"}
    assert [fleet["fleet"] for fleet in report["fleets"]] == ["staging", "prod-eu"]
    staging, prod = report["fleets"]
    assert staging["posture"]["fleetId"] == "staging" and staging["problem"] is None
    # staging's expand is applied; prod-eu waits for staging to hold 30% for 24h.
    assert [(r["fleet"], r["status"]) for r in staging["pending"]] == [("staging", "applied")]
    assert [(r["fleet"], r["status"]) for r in prod["pending"]] == [("prod-eu", "deferred")]
    assert prod["pending"][0]["reasonCodes"] == ["guard_upstream_not_ready"]
    assert prod["deferred"][0]["intentFile"] == f"{intents('prod-eu')}/001-expand.yaml"
    assert prod["guards"]["upstream"]["fleet"] == "staging"
    assert staging["guards"] == {"enabled": False, "problem": None}  # no guard, no after:
    # What the next pass does, fleet by fleet.
    done = g.once(repo)
    predicted = [(r["intentFile"], r["status"]) for f in report["fleets"] for r in f["pending"]]
    assert predicted == [(o.source.shown_path, o.status) for o in done.outcomes]


def test_fleet_chooses_the_fleets_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    repo = fresh_repo(tmp_path / "r")

    report = repo_status(str(repo), now=lambda: g.FIXED, fleets=["prod-eu"])

    assert [fleet["fleet"] for fleet in report["fleets"]] == ["prod-eu"]
    with pytest.raises(RefusalError) as caught:
        repo_status(str(repo), now=lambda: g.FIXED, fleets=["nope"])
    assert caught.value.reason == "fleet_unknown"


def test_a_fleet_with_an_invalid_registry_shows_its_problem_and_the_others_are_reported(
    tmp_path: Path,
) -> None:
    repo = fresh_repo(tmp_path / "r")
    (repo / fleet_path("prod-eu", "registry.yaml")).write_text("fleetId: [unclosed\n")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})

    report = repo_status(str(repo), now=lambda: g.FIXED)

    staging, prod = report["fleets"]
    assert staging["problem"] is None
    assert [r["status"] for r in staging["pending"]] == ["applied"]
    assert prod["problem"]["reason"] == "registry_parse_error"
    assert prod["posture"] is None and prod["pending"] == []
    assert any(line.startswith("fleet prod-eu: cannot be read") for line in report["warnings"])


def test_idle_fleets_start_no_git_process_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = []
    for number in (2, 6):
        names = tuple(f"f{index}" for index in range(number))
        repo = make_fleets_repo(tmp_path / f"r{number}", fleets=names)
        (tmp_path / f"count-{number}").mkdir()
        log = _count_git(tmp_path / f"count-{number}", monkeypatch)
        report = repo_status(str(repo), now=lambda: g.FIXED)
        monkeypatch.undo()
        assert len(report["fleets"]) == number
        counts.append(len(log.read_text().splitlines()))
    assert counts[0] == counts[1]


def test_the_text_is_one_table_of_fleets_then_the_pending_intents_with_their_fleet(
    tmp_path: Path,
) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=CHAIN, generated_at=g.recent())
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})

    done = g.reconcile(repo, "status")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("fleets (2) at ")
    assert lines[1].split() == [
        "fleet", "canary", "pause", "mode", "decision", "age", "review", "guards", "pending",
        "deferred",
    ]  # fmt: skip
    assert lines[2].split()[:5] == ["staging", "25%", "running", "guarded_auto", "promote"]
    assert lines[2].split()[-3:] == ["off", "1", "0"]
    assert lines[3].split()[:5] == ["prod-eu", "25%", "running", "guarded_auto", "promote"]
    assert "waits for upstream staging" in lines[3]
    table = lines[lines.index("pending intents (1), predicted:") + 1 :]
    assert table[0].split()[:2] == ["fleet", "intent"]
    assert table[1].split()[:3] == ["staging", "001-expand.yaml", "expand"]


def test_the_json_of_several_fleets_and_fleet_from_a_real_process(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=CHAIN, generated_at=g.recent())
    (repo / fleet_path("staging", "registry.yaml")).write_text("fleetId: [unclosed\n")

    every = g.reconcile(repo, "status", "--json")
    one = g.reconcile(repo, "status", "--json", "--fleet", "prod-eu")
    unknown = g.reconcile(repo, "status", "--fleet", "nope")

    assert every.returncode == 0, every.stderr
    report = json.loads(every.stdout)
    assert [f["fleet"] for f in report["fleets"]] == ["staging", "prod-eu"]
    assert report["fleets"][0]["problem"]["reason"] == "registry_parse_error"
    assert report["fleets"][1]["posture"]["canaryPercent"] == 25
    assert report["audit"] is not None
    assert [f["fleet"] for f in json.loads(one.stdout)["fleets"]] == ["prod-eu"]
    assert unknown.returncode == 1
    assert "fleet_unknown" in unknown.stderr or "unknown fleet" in unknown.stderr
    text = g.reconcile(repo, "status")
    assert text.returncode == 0, text.stderr
    [row] = [line for line in text.stdout.splitlines() if line.startswith("staging")]
    assert "registry_parse_error: " in row
    assert "warning: fleet staging: cannot be read (registry_parse_error)" in text.stderr


def test_a_single_fleet_repository_refuses_fleet(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "r")
    done = g.reconcile(repo, "status", "--fleet", "fleet-a")
    assert done.returncode == 1
    assert "drop --fleet" in done.stderr
