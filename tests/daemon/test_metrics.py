"""The per-fleet gauges set from `status`'s report after a pass: labelled, dropped, skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon.metrics import Metrics

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def fleet(name: str, *, canary: int = 25, upstream: bool | None = None) -> dict[str, Any]:
    guards: dict[str, Any] = {"enabled": False, "problem": None}
    if upstream is not None:
        guards = {
            "enabled": True,
            "problem": None,
            "freeze": {"blocked": False},
            "budget": None,
            "upstream": {"ready": upstream},
        }
    return {
        "fleet": name,
        "problem": None,
        "posture": {"fleetId": name, "canaryPercent": canary, "manualPause": False},
        "decision": {"ageSeconds": 600},
        "governance": {"reviewBy": "2026-12-08T12:00:00Z"},
        "guards": guards,
        "pending": [{"intentFile": "a.yaml"}, {"intentFile": "b.yaml"}],
    }


def series(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_every_fleet_gets_its_gauges_and_a_fleet_gone_drops_them() -> None:
    metrics = Metrics()
    report = {"fleets": [fleet("staging"), fleet("prod-eu", canary=5, upstream=False)]}
    metrics.record_fleets(report, [], NOW)
    found = series(metrics)
    assert found[("reconciler_canary_percent", (("fleet", "prod-eu"),))] == 5
    assert found[("reconciler_pending_intents", (("fleet", "staging"),))] == 2
    assert found[("reconciler_decision_age_seconds", (("fleet", "staging"),))] == 600
    review = ("reconciler_governance_review_remaining_seconds", (("fleet", "staging"),))
    assert found[review] == 86400
    assert found[("reconciler_upstream_ready", (("fleet", "prod-eu"),))] == 0
    assert ("reconciler_upstream_ready", (("fleet", "staging"),)) not in found

    broken = {"fleet": "staging", "problem": {"reason": "registry_invalid"}}
    metrics.record_fleets({"fleets": [broken, fleet("prod-eu", upstream=True)]}, [], NOW)
    found = series(metrics)
    assert found[("reconciler_upstream_ready", (("fleet", "prod-eu"),))] == 1
    # A fleet that cannot be read keeps its last values (it is still reconciled).
    assert found[("reconciler_canary_percent", (("fleet", "staging"),))] == 25

    metrics.record_fleets({"fleets": [fleet("prod-eu")]}, [], NOW)
    found = series(metrics)
    assert not [key for key in found if ("fleet", "staging") in key[1]]
    assert ("reconciler_upstream_ready", (("fleet", "prod-eu"),)) not in found


def test_one_fleet_is_labelled_with_its_registry_fleet_id() -> None:
    metrics = Metrics()
    report = {key: value for key, value in fleet("fleet-a").items() if key != "fleet"}
    metrics.record_fleets(report, [], NOW)
    assert series(metrics)[("reconciler_canary_percent", (("fleet", "fleet-a"),))] == 25
