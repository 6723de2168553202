"""The daemon in-process on a fake clock: real passes on a real repository, no real waiting.

`Daemon.serve` (the daemon without its signal handling) runs the real passes, HTTP server and
file watcher on a policy repository in tmp_path; only time is fake. The resync and the remote
poll fire at their virtual times, the log and the metrics read the injected wall clock, and a
whole simulated half hour takes as long as its few passes.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from reconciler.core.timestamps import format_timestamp
from reconciler.daemon.runner import Daemon, DaemonOptions
from tests.support import gitrepos as g
from tests.support.clocks import FakeClock, FixedRandom


def serve(daemon: Daemon, clock: FakeClock, stop_at: float) -> list[dict[str, Any]]:
    """Run the daemon until virtual time `stop_at`; return its events."""
    out = io.StringIO()
    clock.at(stop_at, daemon.triggers.stop)
    with redirect_stderr(out):
        assert daemon.serve() == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def starts(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(timestamp, reasons) of every pass."""
    return [(e["timestamp"], e["reasons"]) for e in events if e["event"] == "pass.start"]


def at(clock: FakeClock, seconds: float) -> str:
    return format_timestamp(clock.start + timedelta(seconds=seconds))


def sample(daemon: Daemon, name: str) -> float:
    text = daemon.metrics.exposition().decode()
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name:
                return float(found.value)
    raise AssertionError(f"no sample {name}")


def test_a_resync_pass_runs_every_resync_and_the_metrics_read_the_injected_clock(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")  # its decision is 6 h older than FIXED
    clock = FakeClock()
    options = DaemonOptions(repo=str(repo), port=0, resync=600, log_format="json")
    daemon = Daemon(options, now=clock.now, clock=clock, rng=FixedRandom(0.5))
    events = serve(daemon, clock, stop_at=1300)
    assert starts(events) == [
        (at(clock, 0), "start"),
        (at(clock, 600), "resync"),
        (at(clock, 1200), "resync"),
    ]
    assert [e["event"] for e in events][-1] == "daemon.stop"
    assert sample(daemon, "reconciler_pass_duration_seconds_count") == 3
    assert sample(daemon, "reconciler_pass_duration_seconds_sum") == 0  # no virtual time
    assert sample(daemon, "reconciler_last_success_timestamp_seconds") == (
        (clock.start + timedelta(seconds=1200)).timestamp()
    )
    assert sample(daemon, "reconciler_decision_age_seconds") == 6 * 3600 + 1200


def test_with_push_the_remote_is_polled_every_interval_and_a_move_runs_a_pass(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    bare = g.make_remote(tmp_path, repo)
    other = g.clone(bare, tmp_path / "other")
    clock = FakeClock()
    options = DaemonOptions(
        repo=str(repo), push=True, port=0, interval=30, resync=3600, log_format="json"
    )
    daemon = Daemon(options, now=clock.now, clock=clock, rng=FixedRandom(0.5))

    def someone_pushes() -> None:
        (other / "README.operator").write_text("an operator's change\n")
        g.commit_all(other, "operator change")
        g.git(other, "push", "-q", "origin", "main")

    clock.at(45, someone_pushes)  # between the polls at 30 and 60
    events = serve(daemon, clock, stop_at=100)
    # The polls at 30 and 90 find the remote where the checkout is: no pass.
    assert starts(events) == [(at(clock, 0), "start"), (at(clock, 60), "remote")]
    assert not [e for e in events if e["event"].endswith(".failed")], events
    assert g.head(repo) == g.head(bare, "main")


def test_without_push_the_remote_is_never_polled(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    bare = g.make_remote(tmp_path, repo)
    other = g.clone(bare, tmp_path / "other")
    (other / "README.operator").write_text("an operator's change\n")
    g.commit_all(other, "operator change")
    g.git(other, "push", "-q", "origin", "main")
    clock = FakeClock()
    options = DaemonOptions(repo=str(repo), port=0, interval=30, resync=3600, log_format="json")
    daemon = Daemon(options, now=clock.now, clock=clock, rng=FixedRandom(0.5))
    events = serve(daemon, clock, stop_at=300)
    assert starts(events) == [(at(clock, 0), "start")]


def not_watch(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(when, reasons) for when, reasons in found if reasons != "watch"]


def sample_labeled(daemon: Daemon, name: str, **labels: str) -> float | None:
    text = daemon.metrics.exposition().decode()
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def test_the_controller_wakes_at_the_earliest_not_before_and_applies_the_deferred_intent(
    tmp_path: Path,
) -> None:
    # Issue 11: a cooldown's notBefore wakes the controller by itself; no trigger, no resync.
    settings = (
        "guards:\n  decisionAfterChange: false\n  expandCooldown: 1h\n"
        "  budget:\n    window: 24h\n    maxExpandPercent: 50\n"
    )
    repo = g.make_policy_repo(tmp_path / "repo", settings=settings)
    g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"step": 10}})
    clock = FakeClock()
    options = DaemonOptions(repo=str(repo), port=0, resync=100_000, log_format="json")
    daemon = Daemon(options, now=clock.now, clock=clock, rng=FixedRandom(0.5))
    seen: dict[str, float | None] = {}

    def look() -> None:  # between the two passes
        seen["deferred"] = sample_labeled(
            daemon, "reconciler_deferred_intents", fleet="fleet-a", reason="guard_expand_cooldown"
        )
        seen["next"] = sample(daemon, "reconciler_next_deferred_seconds")
        seen["percent"] = sample_labeled(
            daemon, "reconciler_guard_budget_remaining", fleet="fleet-a", kind="percent"
        )

    clock.at(1800, look)
    events = serve(daemon, clock, stop_at=5000)

    # (The real file watcher may add a pass for the files the passes moved: not counted.)
    assert not_watch(starts(events)) == [(at(clock, 0), "start"), (at(clock, 3600), "deferred")]
    wake = next(e for e in events if e["event"] == "pass.wake")
    assert wake["notBefore"] == at(clock, 3600)
    assert seen == {"deferred": 1.0, "next": 1800.0, "percent": 40.0}
    assert g.pending(repo) == []
    assert g.canary(repo) == 45
    assert sample(daemon, "reconciler_next_deferred_seconds") == -1
    assert sample_labeled(
        daemon, "reconciler_deferred_intents", fleet="fleet-a", reason="guard_expand_cooldown"
    ) is None  # fmt: skip
    assert sample_labeled(
        daemon, "reconciler_guard_budget_remaining", fleet="fleet-a", kind="percent"
    ) == 30.0  # fmt: skip
    assert sample_labeled(daemon, "reconciler_freeze_active", fleet="fleet-a") == 0.0


def test_a_freeze_window_shows_in_the_freeze_gauge_and_its_end_wakes_the_controller(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    (repo / "policies" / "freeze.yaml").write_text(
        "windows:\n  - name: incident\n    start: 2026-11-24T11:00:00Z\n"
        "    end: 2026-11-24T12:30:00Z\n    reason: Incident review\n"
    )
    g.commit_all(repo, "freeze")
    g.add_intents(repo, {"a.yaml": {"step": 10}})
    clock = FakeClock()
    options = DaemonOptions(repo=str(repo), port=0, resync=100_000, log_format="json")
    daemon = Daemon(options, now=clock.now, clock=clock, rng=FixedRandom(0.5))
    frozen: list[float | None] = []
    clock.at(60, lambda: frozen.append(
        sample_labeled(daemon, "reconciler_freeze_active", fleet="fleet-a")))  # fmt: skip

    events = serve(daemon, clock, stop_at=4000)

    assert not_watch(starts(events)) == [(at(clock, 0), "start"), (at(clock, 1800), "deferred")]
    assert frozen == [1.0]
    assert sample_labeled(daemon, "reconciler_freeze_active", fleet="fleet-a") == 0.0
    assert g.canary(repo) == 35


def test_corrupt_telemetry_never_turns_the_controller_into_a_pass_a_second(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(repo, {"a.yaml": {"step": 10}})
    g.once(repo)
    with (repo / g.TELEMETRY).open("a") as handle:
        handle.write("not json\n")
    g.commit_all(repo, "damage the telemetry")
    clock = FakeClock()
    options = DaemonOptions(repo=str(repo), port=0, resync=100_000, log_format="json")
    daemon = Daemon(options, now=clock.now, clock=clock, rng=FixedRandom(0.5))

    events = serve(daemon, clock, stop_at=120)

    assert not_watch(starts(events)) == [(at(clock, 0), "start")]
    assert not [e for e in events if e["event"] in ("daemon.error", "pass.failed")], events


def page_daemon(repo: Path, clock: FakeClock) -> Daemon:
    from reconciler.daemon.http import PageAssets
    from reconciler.render import status_page

    page = PageAssets(
        lambda doc: status_page.page_html(doc, live=True),
        status_page.page_script(),
        status_page.CONTENT_SECURITY_POLICY,
    )
    options = DaemonOptions(repo=str(repo), port=0, resync=100_000, log_format="json")
    return Daemon(options, now=clock.now, clock=clock, rng=FixedRandom(0.5), page=page)


def test_the_status_page_is_built_once_per_pass_with_the_controllers_state(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    clock = FakeClock()
    daemon = page_daemon(repo, clock)
    serve(daemon, clock, stop_at=10)

    assert daemon.page is not None
    doc = json.loads(daemon.page.json)
    assert [f["canaryPercent"] for f in doc["fleets"]] == [25]
    controller = doc["controller"]
    assert (controller["failures"], controller["errorsTotal"], controller["ready"]) == (0, 0, True)
    assert controller["lastPassAt"] == at(clock, 0)
    assert controller["backoffSeconds"] is None
    assert b'data-field="canary">25%</td>' in daemon.page.html


def test_a_failing_pass_shows_its_error_and_backoff_on_the_page(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    (repo / g.REGISTRY).write_text("not: [valid\n")
    g.commit_all(repo, "break the registry")
    clock = FakeClock()
    daemon = page_daemon(repo, clock)
    serve(daemon, clock, stop_at=1)

    assert daemon.page is not None
    doc = json.loads(daemon.page.json)
    assert doc["fleets"] == []
    controller = doc["controller"]
    assert (controller["failures"], controller["ready"]) == (1, False)
    assert controller["lastError"]["reason"] == "registry_parse_error"
    assert controller["backoffSeconds"] == 1.5  # 1 s, plus half of the 1 s jitter
    assert controller["lastPassAt"] is None
