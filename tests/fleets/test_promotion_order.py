"""Promotion order: prod-eu expands only after staging held 100% unpaused for the soak."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from reconciler.loop.once import PassReport
from tests.support import gitrepos as g
from tests.support.fleets import add_fleet_intents, fleet_canary, intents, make_fleets_repo

ORDER = """\
maxDecisionAge: 30d
guards:
  decisionAfterChange: false
fleets:
  prod-eu:
    after: staging
    requires: {minCanary: 100, soak: 24h}
"""
T0 = g.FIXED


def test_prod_waits_for_the_soak_and_a_staging_rollback_resets_it(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=ORDER)
    add_fleet_intents(repo, "staging", {"001-to-100.yaml": {"step": 75}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})

    # Staging first (upstream first), so prod-eu already sees staging at 100% since T0.
    first = g.once(repo, at=T0)
    assert [(o.source.name, o.status) for o in first.outcomes] == [
        ("001-to-100.yaml", "applied"),
        ("001-expand.yaml", "deferred"),
    ]
    held = first.outcomes[1]
    assert held.reasons == ("guard_upstream_not_ready",)
    assert held.not_before == T0 + timedelta(hours=24)
    assert "upstream staging" in held.problems[0]

    assert g.statuses(g.once(repo, at=T0 + timedelta(hours=12))) == [
        ("001-expand.yaml", "deferred")
    ]
    # A staging rollback pauses it: the soak starts again from its resume.
    add_fleet_intents(repo, "staging", {"002-rollback.yaml": {"intent": "rollback"}})
    paused = g.once(repo, at=T0 + timedelta(hours=12, minutes=5))
    assert paused.outcomes[-1].status == "deferred"
    assert paused.outcomes[-1].not_before is None  # waits for staging, not for time
    add_fleet_intents(repo, "staging", {"003-resume.yaml": {"intent": "resume"}})
    resumed_at = T0 + timedelta(hours=13)
    resumed = g.once(repo, at=resumed_at)
    assert [o.status for o in resumed.outcomes] == ["applied", "deferred"]
    assert resumed.outcomes[1].not_before == resumed_at + timedelta(hours=24)
    # Where the first soak would have ended, it still waits.
    late = g.once(repo, at=T0 + timedelta(hours=25))
    assert g.statuses(late) == [("001-expand.yaml", "deferred")]
    assert fleet_canary(repo, "prod-eu") == 25

    done = g.once(repo, at=resumed_at + timedelta(hours=24))
    assert g.statuses(done) == [("001-expand.yaml", "applied")]
    assert fleet_canary(repo, "prod-eu") == 30
    assert g.pending(repo, intents("prod-eu")) == []
    assert g.trailer(repo, "HEAD", "Fleet") == "prod-eu"


def test_a_rollback_of_prod_is_never_held_by_the_upstream(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=ORDER)
    add_fleet_intents(repo, "prod-eu", {"001-rollback.yaml": {"intent": "rollback"}})
    assert g.statuses(g.once(repo)) == [("001-rollback.yaml", "applied")]


def test_the_deferral_names_the_upstream_state(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=ORDER)
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    report = g.once(repo, at=T0)
    assert report.outcomes[0].status == "deferred"
    assert report.outcomes[0].not_before is None
    assert "25%" in report.outcomes[0].problems[0]
    assert report.outcomes[0].record["notBefore"] is None


def test_a_staging_rollback_in_the_same_pass_holds_prod(tmp_path: Path) -> None:
    """prod-eu is evaluated after staging's intents of the same pass are written (a wave)."""
    repo = make_fleets_repo(tmp_path / "r", settings=ORDER, canary={"staging": 100})
    add_fleet_intents(repo, "staging", {"001-to-100.yaml": {"step": 5}})
    first = g.once(repo, at=T0)  # staging at 100% since T0 (a record dates the streak)
    assert g.statuses(first) == [("001-to-100.yaml", "applied")]
    add_fleet_intents(repo, "staging", {"002-rollback.yaml": {"intent": "rollback"}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    report = g.once(repo, at=T0 + timedelta(days=2))
    assert [(o.source.name, o.status) for o in report.outcomes] == [
        ("002-rollback.yaml", "applied"),
        ("001-expand.yaml", "deferred"),
    ]
    assert "paused" in report.outcomes[1].problems[0]
    assert fleet_canary(repo, "prod-eu") == 25
    assert g.status(repo) == ""


def test_without_the_rollback_the_soaked_upstream_lets_prod_expand(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=ORDER, canary={"staging": 100})
    add_fleet_intents(repo, "staging", {"001-to-100.yaml": {"step": 5}})
    g.once(repo, at=T0)
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    report = g.once(repo, at=T0 + timedelta(days=2))
    assert g.statuses(report) == [("001-expand.yaml", "applied")]


def test_a_dry_run_predicts_what_the_pass_does_across_rounds(tmp_path: Path) -> None:
    """staging reaches 100% in the pass; prod-eu (no soak) is applied after it, predicted too."""
    settings = ORDER.replace("soak: 24h", "soak: 0s")
    repo = make_fleets_repo(tmp_path / "r", settings=settings)
    add_fleet_intents(repo, "staging", {"001-to-100.yaml": {"step": 75}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})

    def facts(report: PassReport) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
        return [(o.source.path, o.status, o.reasons, o.problems) for o in report.outcomes]

    predicted = g.once(repo, at=T0, dry_run=True)
    done = g.once(repo, at=T0)
    assert facts(predicted) == facts(done)
    assert [o.status for o in done.outcomes] == ["applied", "applied"]


def test_status_predicts_prod_held_by_a_staging_rollback_of_the_same_pass(
    tmp_path: Path,
) -> None:
    from reconciler.reports.status import repo_status

    repo = make_fleets_repo(tmp_path / "r", settings=ORDER, canary={"staging": 100})
    add_fleet_intents(repo, "staging", {"001-to-100.yaml": {"step": 5}})
    g.once(repo, at=T0)
    add_fleet_intents(repo, "staging", {"002-rollback.yaml": {"intent": "rollback"}})
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    later = T0 + timedelta(days=2)
    report = repo_status(str(repo), now=lambda: later)
    predicted = {
        (doc["fleet"], row["intentFile"].rpartition("/")[2]): (row["status"], row["reasonCodes"])
        for doc in report["fleets"]
        for row in doc["pending"]
    }
    done = g.once(repo, at=later)
    assert predicted == {
        (o.state.fleet_id, o.source.name): (o.status, list(o.reasons)) for o in done.outcomes
    }
    assert predicted[("prod-eu", "001-expand.yaml")] == ("deferred", ["guard_upstream_not_ready"])
