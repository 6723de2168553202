"""Several `reconcile --watch --push` replicas against one real `git daemon` remote.

Replicas share nothing but the remote (git://127.0.0.1:<free port>/remote.git): each works
in its own clone, and a rejected push is their only coordination. An operator's clone pushes
intents in bursts while they run (and, in the fault test, while they are killed with SIGKILL
at random moments). Afterwards every intent is applied exactly once (one `applied` telemetry
record per idempotency key, over every segment), the canary is what the intents add up to,
nothing is pending on the remote, the history is linear and every replica is idle and clean.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import daemons as d
from tests.support import gitrepos as g
from tests.support.daemons import ROTATE, Remote
from tests.support.gitrepos import INTENTS


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with d.served_seed(tmp_path) as served:
        yield served


def replicas(tmp_path: Path, remote: Remote, count: int, **kw: Any) -> list[d.Watcher]:
    return [
        d.Watcher(
            d.clone_url(remote.daemon.url(), tmp_path / f"replica{n}"),
            tmp_path / f"replica{n}.log",
            d.watch_args(push=True, **kw),
        )
        for n in range(1, count + 1)
    ]


# The intents and what they add up to -------------------------------------------------------


def plan(total: int) -> list[tuple[str, dict[str, Any]]]:
    """`total` intents in name order: an expand by 2 every 8th, else rollback/resume in turn."""
    found = []
    for index in range(total):
        if index % 8 == 0:
            spec: dict[str, Any] = {"intent": "expand", "step": 2}
        else:
            spec = {"intent": "rollback" if index % 2 else "resume"}
        found.append((f"i{index:04d}.yaml", spec))
    return found


def expected_posture(intents: list[tuple[str, dict[str, Any]]]) -> tuple[int, bool]:
    """Canary and manual pause after applying `intents` in order to the example (25, false)."""
    canary, paused = 25, False
    for _, spec in intents:
        if spec["intent"] == "expand":
            canary, paused = min(canary + spec["step"], 100), False
        else:
            paused = spec["intent"] == "rollback"
    return canary, paused


def push_burst(seed: Path, burst: list[tuple[str, dict[str, Any]]]) -> None:
    g.git(seed, "pull", "-q", "--rebase", "origin", "main")
    for name, spec in burst:
        g.write_intent(seed, name, **spec)
    g.git(seed, "add", "--", *(f"{INTENTS}/{name}" for name, _ in burst))
    g.git(seed, "commit", "-q", "--no-verify", "-m", f"intents: {burst[0][0]}...")
    d.push_with_retry(seed)


# Reading the remote ------------------------------------------------------------------------


def remote_listing(bare: Path, folder: str = "") -> list[str]:
    path = f"{INTENTS}/{folder}/" if folder else f"{INTENTS}/"
    out = g.git(bare, "ls-tree", "--name-only", "main", path)
    names = [line.rsplit("/", 1)[-1] for line in out.splitlines()]
    return sorted(name for name in names if name not in (".gitkeep", "applied", "rejected"))


def is_drained(bare: Path, total: int) -> bool:
    return not remote_listing(bare) and len(remote_listing(bare, "applied")) == total


def remote_canary_and_pause(bare: Path) -> tuple[int, bool]:
    canary, paused = None, None
    for line in g.show_file(bare, "main", g.REGISTRY).splitlines():
        key, _, value = line.strip().partition(":")
        if key == "canaryPercent":
            canary = int(value.split("#", 1)[0])
        if key == "manual":
            paused = value.split("#", 1)[0].strip() == "true"
    assert canary is not None and paused is not None
    return canary, paused


def all_idle(watchers: list[d.Watcher], bare: Path) -> bool:
    """Each replica is between passes with nothing pending, at the remote's head and clean."""
    tip = g.head(bare, "main")
    return all(w.is_idle() and g.head(w.repo) == tip and d.status(w.repo) == "" for w in watchers)


def check_invariants(tmp_path: Path, remote: Remote, intents: list[tuple[str, Any]]) -> None:
    """Nothing lost, nothing doubled, the expected posture, a linear history."""
    bare = remote.bare
    assert remote_listing(bare) == []
    assert remote_listing(bare, "applied") == sorted(name for name, _ in intents)
    assert remote_listing(bare, "rejected") == []
    found = d.remote_records(bare, tmp_path / "verify")
    applied = Counter(r["idempotencyKey"] for r in found if r["status"] == "applied")
    assert applied == Counter(name.removesuffix(".yaml") for name, _ in intents)
    assert [r for r in found if r["status"] != "applied"] == []
    assert remote_canary_and_pause(bare) == expected_posture(intents)
    assert g.git(bare, "rev-list", "--merges", "main") == ""
    # One reconciler commit per intent: none was committed twice.
    assert len(g.bot_commits(tmp_path / "verify")) == len(intents)
    sealed = [
        p for p in (tmp_path / "verify/policies/telemetry").iterdir() if p.name.count(".") > 1
    ]
    assert len(sealed) >= len(intents) * 1000 // ROTATE - 1  # about 1 KB per record


# Tests -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_three_replicas_drain_bursts_of_intents_exactly_once(
    tmp_path: Path, remote: Remote
) -> None:
    """N = 200 intents, 10 bursts of 20, pushed while three replicas poll every second."""
    intents = plan(200)
    watchers = replicas(tmp_path, remote, 3)
    with d.watchers(*watchers):
        for watcher in watchers:
            watcher.start()
        d.wait_for(
            lambda: all(w.get("/readyz")[0] == 200 for w in watchers), 20, "every replica ready"
        )
        started = time.monotonic()
        for offset in range(0, len(intents), 20):
            push_burst(remote.seed, intents[offset : offset + 20])
            time.sleep(0.2)
        d.wait_for(lambda: is_drained(remote.bare, len(intents)), 60, "the remote to drain")
        drained = time.monotonic() - started
        d.wait_for(lambda: all_idle(watchers, remote.bare), 45, "every replica to be idle")
        for watcher in watchers:
            assert watcher.alive()
            assert not (watcher.repo / ".git" / "reconciler-pass.json").exists()
        codes = [watcher.stop() for watcher in watchers]
    assert codes == [0, 0, 0]
    check_invariants(tmp_path, remote, intents)
    print(f"200 intents drained by 3 replicas in {drained:.1f}s")


@pytest.mark.slow
def test_replicas_killed_at_random_moments_lose_and_double_nothing(
    tmp_path: Path, remote: Remote
) -> None:
    """80 intents in 8 bursts; after each burst one replica gets SIGKILL and is restarted.

    The victim is the replica that starts a pass for the burst (or a random one when none
    does within 2 s), killed a random 0-500 ms later: mid-evaluation, mid-commit, mid-move,
    mid-push or just after. The seed is in the failure messages.
    """
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    intents = plan(80)
    watchers = replicas(tmp_path, remote, 3)
    mid_pass = 0
    with d.watchers(*watchers):
        for watcher in watchers:
            watcher.start()
        for offset in range(0, len(intents), 10):
            seen = [len(w.events()) for w in watchers]
            push_burst(remote.seed, intents[offset : offset + 10])
            victim = busy_replica(watchers, seen) or rng.choice(watchers)
            time.sleep(rng.uniform(0, 0.5))
            passes = victim.events()
            mid_pass += passes[-1]["event"] not in ("pass.done", "pass.failed")
            assert victim.kill() == -9, f"seed {seed}"
            victim.start()
        d.wait_for(lambda: is_drained(remote.bare, len(intents)), 60, f"drain (seed {seed})")
        d.wait_for(lambda: all_idle(watchers, remote.bare), 60, f"idle (seed {seed})")
        for watcher in watchers:
            assert not (watcher.repo / ".git" / "reconciler-pass.json").exists(), seed
        assert [watcher.stop() for watcher in watchers] == [0, 0, 0], seed
    check_invariants(tmp_path, remote, intents)
    print(f"seed {seed}: {mid_pass} of 8 kills landed mid-pass")


def busy_replica(watchers: list[d.Watcher], seen: list[int]) -> d.Watcher | None:
    """The first replica to start a pass after its first `seen` events (waits up to 2 s)."""

    def probe() -> d.Watcher | None:
        for watcher, count in zip(watchers, seen, strict=True):
            if any(e["event"] == "pass.start" for e in watcher.events()[count:]):
                return watcher
        return None

    try:
        return d.wait_for(probe, 2, "a pass", every=0.01)
    except AssertionError:
        return None


@pytest.mark.slow
def test_an_unreachable_remote_makes_the_daemon_back_off_and_recover_by_itself(
    tmp_path: Path, remote: Remote
) -> None:
    (watcher,) = replicas(tmp_path, remote, 1)
    with d.watchers(watcher):
        watcher.start(ready=True)
        remote.daemon.stop()
        seen = len(watcher.events())
        d.drop_intent(watcher.repo, "during-outage.yaml", d.intent_bytes(step=5))
        for failure in range(3):
            watcher.wait_event(
                "pass.failed", after=seen, where=lambda e: e["reason"] == "remote_unavailable"
            )
            seen = len(watcher.events())
            if failure < 2:
                assert watcher.get("/readyz")[0] == 200  # within the backoff budget
            watcher.wait_event("pass.retry", after=seen - 1)
        assert watcher.get("/readyz")[0] == 503
        assert watcher.get("/healthz")[0] == 200
        # A slow machine may already have failed a fourth time (8 s later): the first three.
        retries = [e["retryIn"] for e in watcher.events("pass.retry")][:3]
        # 1 s, 2 s, 4 s... each with some jitter (at most the next step's base).
        assert len(retries) == 3
        assert 1 <= retries[0] <= 2 <= retries[1] <= 4 <= retries[2] <= 8, retries
        errors = re.search(r"^reconciler_pass_errors_total (\S+)$", watcher.metrics(), re.M)
        assert errors is not None and float(errors.group(1)) >= 3

        remote.daemon.start()  # the same port
        d.wait_for(lambda: watcher.get("/readyz")[0] == 200, 40, "/readyz to recover")
        d.wait_for(
            lambda: "during-outage.yaml" in remote_listing(remote.bare, "applied"),
            5,
            "the pending intent to be pushed",
        )
        assert g.head(watcher.repo) == g.head(remote.bare, "main")
        assert d.status(watcher.repo) == ""
        assert watcher.alive()
        assert watcher.stop() == 0
    assert remote_canary_and_pause(remote.bare) == (30, False)
