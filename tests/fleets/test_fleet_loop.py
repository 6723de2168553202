"""The loop over several fleets: routing by folder, one commit per intent, Fleet: trailer."""

from __future__ import annotations

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
    telemetry,
)


def test_each_intent_is_applied_to_the_fleet_whose_folder_holds_it(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 25}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    report = g.once(repo)
    assert [(o.source.path, o.status) for o in report.outcomes] == [
        (f"{intents('prod-eu')}/001-expand.yaml", "applied"),
        (f"{intents('staging')}/001-expand.yaml", "applied"),
    ]
    assert fleet_canary(repo, "staging") == 50
    assert fleet_canary(repo, "prod-eu") == 30
    # One commit per intent, each naming its fleet in the subject and the Fleet: trailer.
    assert g.subject(repo, "HEAD") == "expand staging canary 25% -> 50% (CAB-123)"
    assert g.trailer(repo, "HEAD", "Fleet") == "staging"
    assert g.trailer(repo, "HEAD~1", "Fleet") == "prod-eu"
    assert g.subject(repo, "HEAD~1") == "expand prod-eu canary 25% -> 30% (CAB-123)"
    assert g.name_status(repo, "HEAD") >= {("M", fleet_path("staging", "registry.yaml"))}
    assert all("prod-eu" not in path for _, path in g.name_status(repo, "HEAD"))
    # Records, state and telemetry per fleet; the same key in two fleets is two requests.
    assert [r["idempotencyKey"] for r in g.records(repo, path=telemetry("staging"))] == [
        "001-expand"
    ]
    assert [r["idempotencyKey"] for r in g.records(repo, path=telemetry("prod-eu"))] == [
        "001-expand"
    ]
    assert g.processed(repo, "applied", intents("staging")) == ["001-expand.yaml"]
    assert g.status(repo) == ""


def test_the_single_fleet_layout_has_no_fleet_trailer(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "r", paced=False)
    g.add_intents(repo, {"001-expand.yaml": {"step": 5}})
    g.once(repo)
    assert "Fleet" not in g.trailers(repo, "HEAD")
    assert g.subject(repo, "HEAD") == "expand fleet-a canary 25% -> 30% (CAB-123)"


def test_an_intent_naming_another_fleet_is_rejected_even_a_rollback(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(
        repo,
        "prod-eu",
        {
            "001-rollback.yaml": {"intent": "rollback", "fleet": "staging"},
            "002-expand.yaml": {"step": 5, "fleet": "prod-eu"},
        },
    )
    report = g.once(repo)
    assert g.statuses(report) == [("001-rollback.yaml", "rejected"), ("002-expand.yaml", "applied")]
    assert report.outcomes[0].reasons == ("intent_fleet_mismatch",)
    assert g.subject(repo, "HEAD~1") == "reject 001-rollback in prod-eu: fleet mismatch"
    assert fleet_canary(repo, "prod-eu") == 30


def test_a_registry_whose_fleet_id_is_not_its_folder_refuses_expand_but_pauses(
    tmp_path: Path,
) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    registry = repo / fleet_path("prod-eu", "registry.yaml")
    registry.write_text(registry.read_text().replace("fleetId: prod-eu", "fleetId: staging"))
    g.commit_all(repo, "copy-paste")
    add_fleet_intents(
        repo,
        "prod-eu",
        {"001-expand.yaml": {"step": 5}, "002-rollback.yaml": {"intent": "rollback"}},
    )
    report = g.once(repo)
    assert g.statuses(report) == [("001-expand.yaml", "rejected"), ("002-rollback.yaml", "applied")]
    assert report.outcomes[0].reasons == ("fleet_id_mismatch",)
    assert "fleet_id_mismatch" in report.outcomes[1].reasons
    assert "manual: true" in registry.read_text()


def test_one_fleets_refusal_never_stops_another_fleets_rollback(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    (repo / fleet_path("staging", "registry.yaml")).write_text("fleetId: [broken\n")
    g.commit_all(repo, "break staging")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "prod-eu", {"001-rollback.yaml": {"intent": "rollback"}})
    report = g.once(repo)
    assert g.statuses(report) == [("001-rollback.yaml", "applied")]
    assert [fleet for fleet, _ in report.refusals] == ["staging"]
    assert g.pending(repo, intents("staging")) == ["001-expand.yaml"]


def test_fleet_option_limits_the_pass(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 25}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    report = g.once(repo, fleets=["prod-eu"])
    assert g.statuses(report) == [("001-expand.yaml", "applied")]
    assert g.pending(repo, intents("staging")) == ["001-expand.yaml"]
    with pytest.raises(RefusalError) as caught:
        g.once(repo, fleets=["prod-us"])
    assert caught.value.reason == "fleet_unknown"


@pytest.mark.parametrize(
    "entry",
    [
        "    after: staging\n    requires: {minCanry: 100}\n",  # a typo in requires
        "    after: stagign\n",  # an unknown fleet
        "    after: prod-eu\n",  # itself
        "    afer: staging\n",  # an unknown key
    ],
)
def test_a_typo_in_a_fleets_entry_holds_its_progression_never_a_rollback(
    tmp_path: Path, entry: str
) -> None:
    # Such a typo refused the whole repository (fleets_invalid): every fleet's rollback too.
    repo = make_fleets_repo(
        tmp_path / "r",
        settings="guards:\n  decisionAfterChange: false\nfleets:\n  prod-eu:\n" + entry,
    )
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    report = g.once(repo)
    # prod-eu first: without its `after`, it is no longer ordered after staging.
    assert g.statuses(report) == [("001-expand.yaml", "deferred"), ("001-expand.yaml", "applied")]
    held = report.outcomes[0]
    assert held.record["reasonCodes"] == ["fleets_invalid"]
    assert "fleets.prod-eu" in held.record["errors"][0]
    assert g.pending(repo, intents("prod-eu")) == ["001-expand.yaml"]
    add_fleet_intents(repo, "prod-eu", {"002-rollback.yaml": {"intent": "rollback"}})
    report = g.once(repo)
    assert ("002-rollback.yaml", "applied") in g.statuses(report)
    assert "manual: true" in (repo / fleet_path("prod-eu", "registry.yaml")).read_text()
    assert fleet_canary(repo, "staging") == 30


@pytest.mark.parametrize(
    "entry",
    [
        "    registyFile: policies/fleets/prod-eu/registry-v2.yaml\n",
        "    intentDir: deploy/x\n",
        "    rot: deploy/eu\n",
    ],
)
def test_a_misspelt_path_key_still_refuses_the_repository(tmp_path: Path, entry: str) -> None:
    # Held like a misspelt `after`, the fleet fell back to its default paths: a rollback
    # paused the old registry while the real one ran on, or was never read at all.
    repo = make_fleets_repo(
        tmp_path / "r",
        settings="guards:\n  decisionAfterChange: false\nfleets:\n  prod-eu:\n" + entry,
    )
    add_fleet_intents(repo, "prod-eu", {"001-rollback.yaml": {"intent": "rollback"}})
    before = g.head(repo)
    with pytest.raises(RefusalError) as caught:
        g.once(repo)
    assert caught.value.reason == "fleets_invalid"
    assert any("unknown key" in detail for detail in caught.value.details)
    assert g.head(repo) == before


def test_a_cycle_holds_the_fleets_in_it_and_a_folder_problem_refuses_the_repository(
    tmp_path: Path,
) -> None:
    repo = make_fleets_repo(
        tmp_path / "r",
        ("staging", "prod-eu", "prod-us"),
        settings="fleets:\n  prod-eu:\n    after: staging\n  staging:\n    after: prod-eu\n",
    )
    add_fleet_intents(repo, "staging", {"001-rollback.yaml": {"intent": "rollback"}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "prod-us", {"001-expand.yaml": {"step": 5}})
    report = g.once(repo)
    assert sorted(g.statuses(report)) == [
        ("001-expand.yaml", "applied"), ("001-expand.yaml", "deferred"),
        ("001-rollback.yaml", "applied"),
    ]  # fmt: skip
    assert fleet_canary(repo, "prod-us") == 30
    assert g.pending(repo, intents("prod-eu")) == ["001-expand.yaml"]
    (repo / "policies" / "fleets" / "-bad").mkdir()
    with pytest.raises(RefusalError) as caught:
        g.once(repo)
    assert caught.value.reason == "fleets_invalid"
    assert any("not a fleet id" in detail for detail in caught.value.details)
