"""The controller on a repository with two fleets: every fleet watched, labelled and shown.

A real `reconcile --watch` process: its metrics carry each fleet's `fleet` label, its page's
data lists both fleets as `status --json` does, an intent dropped into one fleet's folder
wakes it and changes only that fleet's series, and a fleet whose registry cannot be read
shows its problem while the other is served as usual.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.e2e.test_daemon import samples, settle
from tests.support import daemons as d
from tests.support import gitrepos as g
from tests.support.fleets import fleet_canary, fleet_path, intents, make_fleets_repo

CHAIN = (
    "guards:\n  decisionAfterChange: false\n"
    "fleets:\n  staging: {}\n  prod-eu:\n    after: staging\n"
    "    requires: {minCanary: 30, soak: 24h}\n"
)


def page_data(watcher: d.Watcher) -> dict[str, Any]:
    code, body = watcher.get("/api/status")
    assert code == 200, body
    found: dict[str, Any] = json.loads(body)
    return found


def status_json(repo: Path) -> dict[str, Any]:
    done = g.reconcile(repo, "status", "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def label(name: str, fleet: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, (("fleet", fleet),))


def test_the_controller_labels_watches_and_shows_every_fleet(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "repo", settings=CHAIN, generated_at=g.recent())
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    with d.watchers(watcher):
        watcher.start(ready=True)
        settle(watcher)
        found = samples(watcher.metrics())
        for fleet in ("staging", "prod-eu"):
            assert found[label("reconciler_canary_percent", fleet)] == 25
            assert found[label("reconciler_manual_pause", fleet)] == 0
            assert found[label("reconciler_pending_intents", fleet)] == 0
            assert 1700 < found[label("reconciler_decision_age_seconds", fleet)] < 1900
            assert found[label("reconciler_governance_review_remaining_seconds", fleet)] > 0
        # prod-eu waits for staging at 30%; staging has no upstream (no series).
        assert found[label("reconciler_upstream_ready", "prod-eu")] == 0
        assert label("reconciler_upstream_ready", "staging") not in found
        data = page_data(watcher)
        assert [f["fleetId"] for f in data["fleets"]] == ["staging", "prod-eu"]
        report = status_json(repo)
        for shown, fleet in zip(data["fleets"], report["fleets"], strict=True):
            assert shown["canaryPercent"] == fleet["posture"]["canaryPercent"]
            assert shown["guards"]["enabled"] == fleet["guards"]["enabled"]
        assert data["fleets"][1]["guards"]["upstream"]["fleet"] == "staging"

        # An intent in staging's folder wakes the controller; only staging moves.
        seen = len(watcher.events())
        d.drop_intent(repo, "001-expand.yaml", d.intent_bytes(step=5), intents("staging"))
        watcher.wait_event("pass.done", after=seen, timeout=20)
        d.wait_for(lambda: fleet_canary(repo, "staging") == 30, 20, "staging at 30%")
        settle(watcher)
        logged = watcher.wait_event("intent", after=seen)
        assert (logged["fleet"], logged["status"]) == ("staging", "applied")  # filterable
        found = samples(watcher.metrics())
        assert found[label("reconciler_canary_percent", "staging")] == 30
        assert found[label("reconciler_canary_percent", "prod-eu")] == 25
        assert found[label("reconciler_upstream_ready", "prod-eu")] == 0  # soak not over
        data = page_data(watcher)
        assert [f["canaryPercent"] for f in data["fleets"]] == [30, 25]
        since = data["fleets"][1]["guards"]["upstream"]["since"]
        assert since is not None  # staging holds 30% since its commit: the soak runs
        # (The history's `fleet` comes from reports/history.py: see tests/render.)

        # prod-eu's decision written by the gates job wakes the controller too.
        seen = len(watcher.events())
        g.write_decision(
            repo,
            "hold",
            generated_at=g.recent(),
            path=fleet_path("prod-eu", "promotion/decision.json"),
        )
        started = watcher.wait_event("pass.start", after=seen, timeout=20)
        assert started["reasons"] == "watch"
        assert watcher.stop() == 0


def test_a_fleet_that_cannot_be_read_shows_its_problem_and_the_other_is_served(
    tmp_path: Path,
) -> None:
    repo = make_fleets_repo(tmp_path / "repo", settings=CHAIN, generated_at=g.recent())
    (repo / fleet_path("prod-eu", "registry.yaml")).write_text("fleetId: [unclosed\n")
    g.commit_all(repo, "a broken registry")
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    with d.watchers(watcher):
        watcher.start(ready=True)
        settle(watcher)
        staging, prod = page_data(watcher)["fleets"]
        assert (staging["fleetId"], staging["canaryPercent"], staging["problem"]) == (
            "staging",
            25,
            None,
        )
        assert (prod["fleetId"], prod["state"]) == ("prod-eu", "unknown")
        assert prod["problem"]["reason"] == "registry_parse_error"
        code, html = watcher.get("/")
        assert code == 200 and "registry_parse_error" in html
        found = samples(watcher.metrics())
        assert found[label("reconciler_canary_percent", "staging")] == 25
        assert label("reconciler_canary_percent", "prod-eu") not in found
        assert watcher.stop() == 0


@contextlib.contextmanager
def woken_by_the_watcher_only(tmp_path: Path) -> Iterator[tuple[Path, d.Watcher]]:
    """Two fleets and a running controller whose resync is an hour away, settled."""
    repo = make_fleets_repo(tmp_path / "repo", generated_at=g.recent())
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args(extra=("--resync", "1h")))
    with d.watchers(watcher):
        watcher.start(ready=True)
        settle(watcher)
        yield repo, watcher


def expand_by_five(repo: Path, watcher: d.Watcher, fleet: str) -> None:
    """Drop an expand intent into the fleet's folder; wait for the pass that takes it."""
    seen = len(watcher.events())
    d.drop_intent(repo, "001-expand.yaml", d.intent_bytes(step=5), intents(fleet))
    watcher.wait_event("pass.done", after=seen, timeout=20)
    d.wait_for(lambda: fleet_canary(repo, fleet) == 30, 20, f"{fleet} at 30%")


def test_a_fleet_added_while_the_controller_runs_is_watched(tmp_path: Path) -> None:
    """A fleet folder made after the start: an intent dropped into it wakes the controller.

    The resync timer is an hour away, so only the watcher can ask for the pass.
    """
    with woken_by_the_watcher_only(tmp_path) as (repo, watcher):
        seen = len(watcher.events())
        make_fleets_repo(repo, ("prod-us",), generated_at=g.recent())  # its folder, committed
        watcher.wait_event("pass.done", after=seen, timeout=20)  # a fleet appeared
        settle(watcher)

        expand_by_five(repo, watcher, "prod-us")
        assert fleet_canary(repo, "staging") == 25
        settle(watcher)
        assert [f["fleetId"] for f in page_data(watcher)["fleets"]] == [
            "prod-eu", "prod-us", "staging",
        ]  # fmt: skip
        assert watcher.stop() == 0


def test_a_fleet_added_while_its_settings_cannot_be_read_is_still_watched(
    tmp_path: Path,
) -> None:
    """The fleets cannot be read again when the folder appears (two registries): its
    intents folder is watched anyway, so the intent dropped once it is fixed wakes a pass.
    Removing a fleet's folder asks for a pass too (its gauges and row go)."""
    with woken_by_the_watcher_only(tmp_path) as (repo, watcher):
        seen = len(watcher.events())
        scratch = make_fleets_repo(tmp_path / "scratch", ("prod-us",), generated_at=g.recent())
        staged = tmp_path / "prod-us"
        shutil.copytree(scratch / fleet_path("prod-us", ""), staged)
        (staged / "registry.json").write_text("{}\n")
        folder = repo / fleet_path("prod-us", "")
        os.rename(staged, folder)  # appears whole: registry.yaml and registry.json
        g.commit_all(repo, "prod-us, with two registries")
        watcher.wait_event("watch.fleets", after=seen, timeout=20)
        settle(watcher)
        g.git(repo, "rm", "-q", "--", fleet_path("prod-us", "registry.json"))
        g.commit_all(repo, "one registry")  # fixed: nothing in policies/fleets/ changes

        expand_by_five(repo, watcher, "prod-us")
        settle(watcher)

        seen = len(watcher.events())
        g.git(repo, "rm", "-q", "-r", "--", fleet_path("prod-eu", ""))
        g.commit_all(repo, "prod-eu retired")
        watcher.wait_event("pass.done", after=seen, timeout=20)
        settle(watcher)
        assert [f["fleetId"] for f in page_data(watcher)["fleets"]] == ["prod-us", "staging"]
        assert watcher.stop() == 0


def test_a_fleet_added_in_the_settings_only_is_watched(tmp_path: Path) -> None:
    """A fleet whose folder is elsewhere (`fleets.<id>.root`), added to reconciler.yaml while
    the controller runs: its intents folder was watched only after a restart."""
    with woken_by_the_watcher_only(tmp_path) as (repo, watcher):
        scratch = make_fleets_repo(tmp_path / "scratch", ("edge",), generated_at=g.recent())
        shutil.copytree(scratch / fleet_path("edge", ""), repo / "extra" / "edge")
        settings = repo / "reconciler.yaml"
        settings.write_text(settings.read_text() + "fleets:\n  edge:\n    root: extra/edge\n")
        seen = len(watcher.events())
        g.commit_all(repo, "edge, outside policies/fleets/")
        watcher.wait_event("pass.done", after=seen, timeout=20)  # the settings changed
        settle(watcher)

        seen = len(watcher.events())
        d.drop_intent(repo, "001-expand.yaml", d.intent_bytes(step=5), "extra/edge/intents")
        watcher.wait_event("pass.done", after=seen, timeout=20)
        d.wait_for(
            lambda: "canaryPercent: 30" in (repo / "extra/edge/registry.yaml").read_text(),
            20,
            "edge at 30%",
        )
        assert fleet_canary(repo, "staging") == 25
        assert watcher.stop() == 0
