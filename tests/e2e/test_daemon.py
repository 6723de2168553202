"""`reconcile --watch` as a real process on one checkout: passes, metrics, logs, webhook, signals.

Real `git`, a real daemon subprocess and real HTTP on 127.0.0.1 (the daemon binds port 0 and
logs the port it got). Every daemon is stopped (or killed) when its test ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import daemons as d
from tests.support import gitrepos as g
from tests.support.gitrepos import INTENTS

ISSUE_METRICS = {
    # name in the exposition -> its type
    "reconciler_intents": "counter",
    "reconciler_pass_duration_seconds": "histogram",
    "reconciler_pass_errors": "counter",
    "reconciler_push_conflicts": "counter",
    "reconciler_last_success_timestamp_seconds": "gauge",
    "reconciler_pending_intents": "gauge",
    "reconciler_canary_percent": "gauge",
    "reconciler_manual_pause": "gauge",
    "reconciler_decision_age_seconds": "gauge",
    "reconciler_governance_review_remaining_seconds": "gauge",
    "reconciler_webhook_requests": "counter",
}
TOKEN = "s3cret-token"
WEBHOOK = "/hooks/reconcile"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return d.make_watched_repo(tmp_path / "repo")


def samples(metrics_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus exposition."""
    found = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def passes(watcher: d.Watcher) -> int:
    return len(watcher.events("pass.start"))


def settle(watcher: d.Watcher, quiet: float = 0.6, timeout: float = 20) -> None:
    """Wait until no pass is running and no new event came for `quiet` seconds."""

    def probe() -> bool:
        before = len(watcher.events())
        time.sleep(quiet)
        events = watcher.events()
        done = [e for e in events if str(e["event"]).startswith("pass.")]
        return len(events) == before and bool(done) and done[-1]["event"] != "pass.start"

    d.wait_for(probe, timeout, "the daemon to settle", every=0)


def test_an_intent_dropped_into_the_watched_checkout_is_committed_and_observable(
    repo: Path, tmp_path: Path
) -> None:
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    started_after = int(time.time())  # unix seconds, for the last-success gauge below
    with d.watchers(watcher):
        watcher.start(ready=True)
        assert watcher.events("pass.done")[0]["applied"] == 0
        assert watcher.get("/readyz") == (200, "ready\n")
        first = g.head(repo)

        d.drop_intent(repo, "20261124-expand.yaml", d.intent_bytes(step=5))
        d.wait_for(  # how fast is benchmarks/daemon_bench.py's job; this only needs it done
            lambda: g.processed(repo, "applied") == [".gitkeep", "20261124-expand.yaml"],
            30,
            "the intent to be committed",
        )
        intent = watcher.wait_event("intent")  # logged once the pass is done
        commit = g.head(repo)
        assert g.git(repo, "rev-parse", f"{commit}^") == first
        assert g.canary(repo) == 30
        assert d.status(repo) == ""
        assert intent["status"] == "applied"
        assert intent["commit"] == commit
        assert intent["intent"] == f"{INTENTS}/20261124-expand.yaml"
        assert intent["traceId"]
        assert "fleet" not in intent  # one fleet: no field
        settle(watcher)
        # Its own registry edit does not wake the daemon up again.
        assert [e["reasons"] for e in watcher.events("pass.start")] == ["start", "watch"]

        found = samples(watcher.metrics())
        families = {f.name: f.type for f in text_string_to_metric_families(watcher.metrics())}
        assert {name: families.get(name) for name in ISSUE_METRICS} == ISSUE_METRICS
        assert found[("reconciler_intents_total", (("status", "applied"),))] == 1
        assert found[("reconciler_intents_total", (("status", "rejected"),))] == 0
        passes_observed = found[("reconciler_pass_duration_seconds_count", ())]
        assert passes_observed >= 2  # the start pass and the intent's (a count, not a time)
        assert found[("reconciler_pass_errors_total", ())] == 0
        assert found[("reconciler_push_conflicts_total", ())] == 0
        # A unix time from this test's run: not older than the daemon, not in the future.
        last_success = found[("reconciler_last_success_timestamp_seconds", ())]
        assert started_after <= last_success <= time.time()
        assert found[("reconciler_pending_intents", (("fleet", "fleet-a"),))] == 0
        assert found[("reconciler_canary_percent", (("fleet", "fleet-a"),))] == 30
        assert found[("reconciler_manual_pause", (("fleet", "fleet-a"),))] == 0
        # g.recent() dates the decision 30 minutes back.
        assert 1700 < found[("reconciler_decision_age_seconds", (("fleet", "fleet-a"),))] < 1900
        assert (
            found[("reconciler_governance_review_remaining_seconds", (("fleet", "fleet-a"),))] > 0
        )
        assert found[("reconciler_webhook_requests_total", (("code", "202"),))] == 0

        assert watcher.stop() == 0
    lines = (tmp_path / "daemon.log").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"timestamp", "level", "event"} <= event.keys() for event in events)
    assert all(event["level"] in ("info", "warn", "error") for event in events)
    assert [e["event"] for e in events][:2] == ["daemon.start", "pass.start"]
    assert [e["event"] for e in events][-2:] == ["daemon.stopping", "daemon.stop"]


def test_the_intents_folder_made_after_start_is_watched(tmp_path: Path) -> None:
    # The bundled example has no intents folder: the first intent ever creates it.
    # Two expands on one decision: pacing off.
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent(), paced=False)
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    with d.watchers(watcher):
        watcher.start(ready=True)
        # Made, removed and made again (a checkout switching branches does that).
        for step in (Path.mkdir, Path.rmdir, Path.mkdir):
            step(repo / INTENTS)
            time.sleep(0.3)
        d.drop_intent(repo, "first.yaml", d.intent_bytes(step=5))
        d.wait_for(lambda: d.canary_now(repo) == 30, 20, "the first intent to be applied")
        d.drop_intent(repo, "second.yaml", d.intent_bytes(step=5))
        d.wait_for(lambda: d.canary_now(repo) == 35, 20, "the second intent to be applied")
        assert watcher.stop() == 0


def test_a_decision_written_into_the_checkout_triggers_a_pass(repo: Path, tmp_path: Path) -> None:
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args(extra=("--resync", "1h")))
    with d.watchers(watcher):
        watcher.start(ready=True)
        settle(watcher, quiet=0.3)
        seen = len(watcher.events())
        g.write_decision(repo, "hold", generated_at=datetime.now(UTC))  # the gates job's write
        started = watcher.wait_event("pass.start", after=seen, timeout=20)
        assert started["reasons"] == "watch"
        settle(watcher, quiet=0.3)
        age = samples(watcher.metrics())[
            ("reconciler_decision_age_seconds", (("fleet", "fleet-a"),))
        ]
        assert 0 <= age < 60
        assert watcher.stop() == 0


@pytest.mark.parametrize("via", ["environment", "token file"])
def test_the_webhook_needs_the_token_and_triggers_a_pass(
    repo: Path, tmp_path: Path, via: str
) -> None:
    env: dict[str, str] = {}
    extra: tuple[str, ...] = ()
    if via == "environment":
        env = {"RECONCILER_WEBHOOK_TOKEN": TOKEN}
    else:
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        extra = ("--webhook-token-file", str(token_file))
    # A long resync and no --push: only the webhook can start a pass after the first one.
    args = d.watch_args(extra=("--resync", "1h", *extra))
    watcher = d.Watcher(repo, tmp_path / "daemon.log", args, env=env)
    with d.watchers(watcher):
        watcher.start(ready=True)
        settle(watcher, quiet=0.3)
        before = passes(watcher)

        for headers in ({}, {"X-Reconcile-Token": "wrong"}, {"X-Reconcile-Token": TOKEN + "x"}):
            assert watcher.request("POST", WEBHOOK, headers)[0] == 401
        assert watcher.request("GET", WEBHOOK)[0] == 405
        assert watcher.request("POST", "/elsewhere", {"X-Reconcile-Token": TOKEN})[0] == 404
        time.sleep(0.5)
        assert passes(watcher) == before

        assert watcher.request("POST", WEBHOOK, {"X-Reconcile-Token": TOKEN}) == (202, "accepted\n")
        started = watcher.wait_event("pass.start", after=len(watcher.events()) - 1)
        assert "webhook" in started["reasons"]
        settle(watcher, quiet=0.3)
        assert passes(watcher) == before + 1

        found = samples(watcher.metrics())
        codes = {
            labels[0][1]: value
            for (name, labels), value in found.items()
            if name == "reconciler_webhook_requests_total"
        }
        assert codes == {"202": 1, "401": 3, "405": 1}
        assert watcher.stop() == 0


def test_a_flood_of_webhook_calls_is_answered_and_coalesced(repo: Path, tmp_path: Path) -> None:
    # The last --debounce wins: passes asked for right after a pass wait out 500 ms. That
    # bound (at most one pass per debounce) is a property of time, so it is checked on a fake
    # clock (tests/daemon/test_scheduling.py); here, 200 concurrent calls on the real server.
    args = d.watch_args(extra=("--resync", "1h", "--debounce", "500ms"))
    watcher = d.Watcher(
        repo, tmp_path / "daemon.log", args, env={"RECONCILER_WEBHOOK_TOKEN": TOKEN}
    )
    with d.watchers(watcher):
        watcher.start(ready=True)
        settle(watcher, quiet=0.3)
        before = passes(watcher)
        codes: Counter[int] = Counter()
        lock = threading.Lock()

        def flood(count: int) -> None:
            for _ in range(count):
                code = watcher.request("POST", WEBHOOK, {"X-Reconcile-Token": TOKEN})[0]
                with lock:
                    codes[code] += 1

        threads = [threading.Thread(target=flood, args=(25,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        settle(watcher, quiet=0.5)
        assert codes == {202: 200}
        flood_passes = watcher.events("pass.start")[before:]
        # Coalesced: every call asked for a pass, fewer ran, each one for the webhook.
        assert 1 <= len(flood_passes) < 200, len(flood_passes)
        assert all(e["reasons"] == "webhook" for e in flood_passes), flood_passes
        assert len(watcher.events("pass.done")) == passes(watcher)  # none failed
        assert watcher.alive()
        assert watcher.stop() == 0


@pytest.mark.slow
def test_triggers_during_a_pass_coalesce_into_exactly_one_follow_up_pass(
    repo: Path, tmp_path: Path
) -> None:
    for index in range(1500):
        g.write_intent(repo, f"i{index:05d}.yaml", intent="resume")
    g.commit_all(repo, "1500 intents")
    args = d.watch_args(extra=("--resync", "1h"))
    watcher = d.Watcher(
        repo, tmp_path / "daemon.log", args, env={"RECONCILER_WEBHOOK_TOKEN": TOKEN}
    )
    with d.watchers(watcher):
        watcher.start()
        d.wait_for(
            lambda: any("fast-import" in c for c in d.child_commands(watcher.pid)),
            20,
            "the first pass to stream its commits",
            every=0.005,
        )
        d.drop_intent(repo, "late.yaml", d.intent_bytes(step=5))
        assert watcher.request("POST", WEBHOOK, {"X-Reconcile-Token": TOKEN})[0] == 202
        # Checked as soon as the first triggers are in (a loaded machine may finish the
        # first pass during the next requests: they coalesce all the same).
        assert len(watcher.events("pass.done")) == 0, "the first pass ended too soon"
        for _ in range(4):
            assert watcher.request("POST", WEBHOOK, {"X-Reconcile-Token": TOKEN})[0] == 202
        # The follow-up pass first (a loaded machine may start it more than settle's quiet
        # time after the first one ends), then no other pass may come.
        d.wait_for(lambda: len(watcher.events("pass.done")) >= 2, 60, "the follow-up pass")
        settle(watcher)
        starts = watcher.events("pass.start")
        assert [e["reasons"] for e in starts] == ["start", "watch,webhook"]
        done = watcher.events("pass.done")
        assert [e["applied"] for e in done] == [1500, 1]
        assert watcher.stop() == 0


def test_sigterm_during_a_long_pass_stops_between_intents_and_exits_cleanly(
    tmp_path: Path,
) -> None:
    total = 1500
    seed = d.make_watched_repo(tmp_path / "seed")
    bare = g.make_remote(tmp_path, seed)
    for index in range(total):
        g.write_intent(seed, f"i{index:05d}.yaml", intent="resume")
    g.commit_all(seed, f"{total} intents")
    g.git(seed, "push", "-q", "origin", "main")
    watcher = d.Watcher(seed, tmp_path / "daemon.log", d.watch_args(push=True))
    with d.watchers(watcher):
        watcher.start()
        # The pass starts `git fast-import` right before its first intent's commit.
        d.wait_for(
            lambda: any("fast-import" in c for c in d.child_commands(watcher.pid)),
            20,
            "the pass to stream its commits",
            every=0.005,
        )
        time.sleep(0.1)
        # The daemon's own deadline (--shutdown-timeout, 30 s) ends it well within this bound.
        code = watcher.stop(timeout=60)
    # Exit 0 and no daemon.deadline: the graceful path ended the process, not the
    # --shutdown-timeout deadline (which logs daemon.deadline and exits 1).
    assert code == 0
    events = watcher.events()
    names = [e["event"] for e in events]
    assert "daemon.deadline" not in names, watcher.tail()
    # The signal came during the pass, which stopped after its current intent (a pass logs
    # its intents when it is done; the stop is logged as soon as the signal arrives).
    assert names[-2:] == ["pass.done", "daemon.stop"], watcher.tail()
    assert names.index("pass.start") < names.index("daemon.stopping") < names.index("intent")
    done = watcher.events("pass.done")
    assert len(done) == 1
    applied = [name for name in g.processed(seed, "applied") if name != ".gitkeep"]
    left = g.pending(seed)
    assert 0 < len(applied) < total, (len(applied), watcher.tail())
    assert done[0]["applied"] == len(applied)
    assert sorted(applied + [n for n in left if n != ".gitkeep"]) == [
        f"i{index:05d}.yaml" for index in range(total)
    ]
    assert d.status(seed) == ""
    assert not (seed / ".git" / "reconciler-pass.json").exists()
    # Every processed intent is committed and pushed; the rest are still pending upstream.
    assert g.head(bare, "main") == g.head(seed)
    assert len(g.bot_commits(seed)) == len(applied)
    assert len(g.all_records(seed)) == len(applied)


def test_hostile_intents_are_rejected_with_their_reasons_and_the_daemon_stays_up(
    repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("not yours\n")
    deep = "a:\n" + "".join("  " * depth + f"k{depth}:\n" for depth in range(1, 3000))
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    hostile = {
        "link.yaml": "intent_not_regular_file",
        "big.yaml": "intent_too_large",
        "latin1.yaml": "intent_not_utf8",
        "bomb.yaml": "intent_alias_limit",
        "deep.yaml": "intent_yaml_invalid",
        "flow-deep.yaml": "intent_yaml_invalid",
        "with space.yaml": "intent_name_invalid",
        "-rf.yaml": "intent_name_invalid",
        "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.yaml": "intent_name_invalid",
        "forged\nReconcile-Status: applied.yaml": "intent_name_invalid",
        "fifo.yaml": "intent_not_regular_file",
    }
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    with d.watchers(watcher):
        watcher.start(ready=True)
        folder = repo / INTENTS
        (folder / "link.yaml").symlink_to(outside)
        # Written aside then renamed in: a half-written file would be a valid small intent
        # for a moment (the daemon would rightly apply it; this test is about the big one).
        staged = tmp_path / "big.yaml"
        with staged.open("wb") as big:
            big.write(d.intent_bytes(step=5))
            big.write(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
        staged.rename(folder / "big.yaml")
        d.drop_intent(repo, "latin1.yaml", d.intent_bytes(step=5) + b"# caf\xe9 (Latin-1)\n")
        d.drop_intent(repo, "bomb.yaml", bomb.encode())
        d.drop_intent(repo, "deep.yaml", deep.encode()[: 60 * 1024])
        d.drop_intent(repo, "flow-deep.yaml", b"intent: " + b"[" * 30000 + b"]" * 30000)
        d.drop_intent(repo, "with space.yaml", d.intent_bytes(step=5))
        d.drop_intent(repo, "-rf.yaml", d.intent_bytes(step=5))
        d.drop_intent(repo, "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.yaml", d.intent_bytes(step=5))
        d.drop_intent(repo, "forged\nReconcile-Status: applied.yaml", d.intent_bytes(step=5))
        os.mkfifo(folder / "fifo.yaml")

        def rejected() -> dict[str, str]:
            return {
                str(e["intent"]).rsplit("/", 1)[-1]: str(e["reasons"])
                for e in watcher.events("intent")
                if e["status"] == "rejected"
            }

        d.wait_for(lambda: len(rejected()) == len(hostile), 60, "every hostile intent")
        assert rejected() == hostile
        assert watcher.alive()
        assert watcher.get("/healthz")[0] == 200
        assert rss_kib(watcher.pid) < 150 * 1024
        assert outside.read_text() == "not yours\n"
        assert g.pending(repo) == [".gitkeep"]
        assert d.status(repo) == ""
        assert g.canary(repo) == 25
        records = g.all_records(repo)
        assert len(records) == len(hostile)
        assert {r["status"] for r in records} == {"rejected"}
        # A name cannot forge a trailer, and every rejected file landed in rejected/.
        commits = g.bot_commits(repo)
        assert [g.trailer(repo, sha, "Reconcile-Status") for sha in commits] == ["rejected"] * len(
            hostile
        )
        assert len(g.processed(repo, "rejected")) == len(hostile) + 1  # and .gitkeep
        tree = g.git(repo, "ls-tree", "-r", "--name-only", "HEAD", "--", INTENTS)
        assert all(p.startswith(f"{INTENTS}/") for p in tree.splitlines())

        # The daemon still applies the next good intent.
        d.drop_intent(repo, "good.yaml", d.intent_bytes(step=5))
        d.wait_for(lambda: d.canary_now(repo) == 30, 20, "the good intent to be applied")
        assert rss_kib(watcher.pid) < 150 * 1024
        assert watcher.stop() == 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


CRASHER = g.ROOT / "tests" / "support" / "crashing_once.py"


@pytest.mark.parametrize(
    "earlier",
    [
        pytest.param(3, id="small telemetry"),
        pytest.param(70, id="telemetry over 64 KiB"),
    ],
)
def test_a_daemon_started_after_a_pass_was_killed_mid_move_recovers_it(
    repo: Path, tmp_path: Path, earlier: int
) -> None:
    for index in range(earlier):
        g.write_intent(repo, f"earlier{index:03d}.yaml", intent="resume")
    g.once(repo, clock=lambda: datetime.now(UTC))
    d.drop_intent(repo, "late.yaml", d.intent_bytes(step=5))
    crashed = subprocess.run(
        [sys.executable, str(CRASHER), "after:update-ref:1", "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(g.ROOT),
        env={**os.environ, "PYTHONPATH": str(g.ROOT)},
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert (repo / ".git" / "reconciler-pass.json").exists()

    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    with d.watchers(watcher):
        watcher.start()
        ended = ("pass.done", "pass.failed")
        first = d.wait_for(
            lambda: [e for e in watcher.events() if e["event"] in ended], 10, "the first pass"
        )[0]
        assert first["event"] == "pass.done", first
        assert first["applied"] == 0  # the crashed pass had committed it already
        assert g.processed(repo, "applied")[-1] == "late.yaml"
        assert g.canary(repo) == 30
        assert d.status(repo) == ""
        assert not (repo / ".git" / "reconciler-pass.json").exists()
        assert watcher.stop() == 0
