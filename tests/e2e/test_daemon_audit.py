"""The controller audits the history after each pass: reconciler_audit_findings{kind}."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support import daemons as d
from tests.support import gitrepos as g


def _findings(watcher: d.Watcher) -> dict[str, float]:
    return {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(watcher.metrics())
        for sample in family.samples
        if sample.name == "reconciler_audit_findings"
    }


def test_a_hand_edit_shows_in_the_gauge_and_holds_the_expand_until_adopted(
    tmp_path: Path,
) -> None:
    repo = d.make_watched_repo(tmp_path / "repo", paced=False)
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    with d.watchers(watcher):
        watcher.start(ready=True)
        d.wait_for(lambda: _findings(watcher).get("hand_edit") == 0, 20, "a clean audit")
        registry = repo / g.REGISTRY
        registry.write_text(
            registry.read_text().replace("canaryPercent: 25 ", "canaryPercent: 90 ")
        )
        g.commit_all(repo, "tweak comments")
        d.drop_intent(repo, "001-expand.yaml", d.intent_bytes(step=5))
        rejected = watcher.wait_event("intent")
        assert rejected["status"] == "rejected"
        assert rejected["reasons"] == "audit_drift"
        d.wait_for(lambda: _findings(watcher).get("hand_edit") == 1, 20, "the hand edit")
        assert watcher.events("audit.drift")[-1]["blocking"] >= 1
        d.drop_intent(repo, "002-adopt.yaml", d.intent_bytes(intent="adopt"))
        d.wait_for(lambda: _findings(watcher).get("hand_edit") == 0, 20, "the adoption")
        assert g.canary(repo) == 90
        assert g.trailers(repo, "HEAD")["Reconcile-Action"] == "adopt"
        assert watcher.stop() == 0
