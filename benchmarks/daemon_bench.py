"""Benchmark the daemon (`reconcile --watch`): prints figures, asserts nothing.

Targets are in docs/operations.md ("Speed"). Every figure runs real `python -m reconciler
--watch` processes (JSON event log, HTTP on a free port) on real git repositories:

a. an intent file appearing in a watched checkout -> its commit moving HEAD (--debounce 200ms),
   p50 and p95 over --samples intents, in total and beyond the debounce;
b. a push to a bare remote by another clone -> the daemon's commit landing on the remote, with
   the webhook (POST /hooks/reconcile right after the push) and with polling only
   (--interval 1s);
c. three replicas (three clones, --push) draining a burst of 200 intents pushed at once;
d. the daemon's resident memory (VmRSS) after 500 and after 1,000 intents.

Usage: python benchmarks/daemon_bench.py [--samples N] [--bursts N] [--only abcd] [--keep NEW_DIR]
About two minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from loop_bench import ENV, PROJECT, REVIEW_BY, git, make_repo

Event = dict[str, Any]


class Daemon:
    """One `reconcile --watch` subprocess whose JSON event log is read by a thread."""

    def __init__(self, repo: str, *flags: str) -> None:
        self.repo = repo
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "--watch", "--repo", repo,
             "--listen", "127.0.0.1:0", "--log-format", "json", "--resync", "1h", *flags],
            env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.events: list[tuple[float, Event]] = []
        self.other: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        _, start = self.wait_for(lambda event: event["event"] == "daemon.start", 0, 30)
        self.url = f"http://{start['listen']}"

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            moment = time.monotonic()
            with self.changed:
                try:
                    self.events.append((moment, json.loads(line)))
                except ValueError:
                    self.other.append(line)
                self.changed.notify_all()

    def wait_for(
        self, predicate: Callable[[Event], bool], start: int, timeout: float
    ) -> tuple[float, Event]:
        """The first event from index `start` on that matches (its arrival time, itself)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for moment, event in self.events[start:]:
                    if predicate(event):
                        return moment, event
                start = len(self.events)
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"daemon in {self.repo}: no such event; log: {self.log()}")
                self.changed.wait(0.05)

    def wait_idle(self, quiet: float = 0.5) -> None:
        """Wait until no event has arrived for `quiet` seconds and no pass is running."""
        while True:
            with self.changed:
                last = self.events[-1][0] if self.events else 0.0
                running = self._running()
            if not running and time.monotonic() - last >= quiet:
                return
            time.sleep(0.05)

    def _running(self) -> bool:
        for _, event in reversed(self.events):
            if event["event"] in ("pass.done", "pass.failed"):
                return False
            if event["event"] == "pass.start":
                return True
        return False

    def ready(self, timeout: float = 30) -> None:
        """Wait until /readyz answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"daemon in {self.repo} never ready; log: {self.log()}")

    def webhook(self) -> None:
        """POST /hooks/reconcile (no token configured)."""
        request = urllib.request.Request(f"{self.url}/hooks/reconcile", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass

    def metrics(self) -> dict[str, float]:
        """The /metrics samples, by `name{labels}`."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    def memory_kb(self, field: str = "VmRSS") -> int:
        """A memory figure of the daemon process from /proc/<pid>/status, in KiB."""
        with open(f"/proc/{self.process.pid}/status") as handle:
            found = re.search(rf"^{field}:\s+(\d+) kB", handle.read(), re.MULTILINE)
        assert found is not None, field
        return int(found.group(1))

    def count(self, name: str) -> int:
        """How many events of this name so far."""
        with self.changed:
            return sum(1 for _, event in self.events if event["event"] == name)

    def wait_count(self, name: str, wanted: int, timeout: float) -> None:
        """Wait until `wanted` events of this name have arrived."""
        deadline = time.monotonic() + timeout
        while self.count(name) < wanted:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"daemon in {self.repo}: {name} x{wanted} missing: {self.log()}")
            with self.changed:
                self.changed.wait(0.05)

    def log(self) -> str:
        """The last lines of the log, for error messages."""
        lines = [json.dumps(event) for _, event in self.events[-15:]] + self.other[-15:]
        return "\n".join(lines)

    def stop(self) -> None:
        """SIGTERM and wait (past the 30 s --shutdown-timeout: say so, then kill -9)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(35)
            except subprocess.TimeoutExpired:
                print(f"   (daemon in {self.repo} still running 35 s after SIGTERM: killed)")
                self.process.kill()
                self.process.wait()


def intent_text(number: int) -> str:
    """Expand 1%, rollback, resume in turn (each one applies; expand stops at 100%)."""
    kind = ("expand", "rollback", "resume")[number % 3]
    step = "expandStep: 1\n" if kind == "expand" else ""
    return (
        f"intent: {kind}\n{step}governance:\n  actor: bench\n  approvalRef: CAB-{number}\n"
        f"  rationale: daemon benchmark intent {number}\n  reviewBy: {REVIEW_BY}\n"
    )


def drop_intents(repo: str, scratch: str, numbers: range, prefix: str) -> None:
    """Write intent files into the intents folder, each by an atomic rename."""
    folder = os.path.join(repo, "policies", "intents")
    os.makedirs(folder, exist_ok=True)
    for number in numbers:
        temporary = os.path.join(scratch, f"{prefix}-{number:06d}.tmp")
        with open(temporary, "w") as handle:
            handle.write(intent_text(number))
        os.replace(temporary, os.path.join(folder, f"{prefix}-{number:06d}.yaml"))


def read_ref(git_dir: str, branch: str = "main") -> str:
    """The branch's SHA read straight from the ref file (cheap enough to poll every ms)."""
    try:
        with open(os.path.join(git_dir, "refs", "heads", branch)) as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return git(git_dir, "rev-parse", branch).strip()


def wait_until(
    done: Callable[[], bool], what: str, timeout: float = 60, step: float = 0.001
) -> float:
    """Poll until `done()`; return the moment it was."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s: {what}")
        time.sleep(step)
    return time.monotonic()


def wait_change(git_dir: str, old: str) -> float:
    """Poll the branch (every ms) until it moves away from `old`; return the moment it did."""
    return wait_until(lambda: read_ref(git_dir) != old, f"{git_dir} to move from {old[:12]}")


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def figures(samples_ms: list[float]) -> str:
    """p50 / p95 / max in ms."""
    return (
        f"p50 {statistics.median(samples_ms):.0f} ms, p95 {percentile(samples_ms, 0.95):.0f} ms, "
        f"max {max(samples_ms):.0f} ms"
    )


def make_remote(root: str, name: str) -> tuple[str, str]:
    """A bare remote holding the policy repository, and a writer clone of it."""
    seed = os.path.join(root, f"{name}-seed")
    make_repo(seed)
    os.makedirs(os.path.join(seed, "policies", "intents"))
    with open(os.path.join(seed, "policies", "intents", ".gitkeep"), "w"):
        pass  # as `reconcile init` does: the daemon watches the folder only if it exists
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "intents folder")
    remote = os.path.join(root, f"{name}.git")
    git(root, "init", "-q", "--bare", "-b", "main", remote)
    git(seed, "push", "-q", remote, "main")
    return remote, clone(remote, os.path.join(root, f"{name}-writer"))


def clone(remote: str, path: str) -> str:
    """A clone of `remote` at `path` (origin = remote)."""
    git(os.path.dirname(path), "clone", "-q", remote, path)
    return path


def push_intents(writer: str, scratch: str, numbers: range, prefix: str) -> str:
    """Sync the writer with the remote, commit intents and push; return the pushed SHA."""
    git(writer, "pull", "-q", "--ff-only")
    drop_intents(writer, scratch, numbers, prefix)
    git(writer, "add", "-A")
    git(writer, "commit", "-q", "-m", f"{len(numbers)} intent(s)")
    git(writer, "push", "-q", "origin", "main")
    return git(writer, "rev-parse", "HEAD").strip()


# Figures ------------------------------------------------------------------------------------


def bench_local(root: str, samples: int) -> None:
    """a. intent file dropped into the watched checkout -> HEAD moves."""
    repo = os.path.join(root, "local")
    make_repo(repo)
    os.makedirs(os.path.join(repo, "policies", "intents"))  # watched only if it exists at start
    daemon = Daemon(repo, "--debounce", "200ms")
    try:
        daemon.ready()
        daemon.wait_idle()
        totals, waits, passes = [], [], []
        for number in range(samples):
            head = read_ref(os.path.join(repo, ".git"))
            mark = len(daemon.events)
            drop_intents(repo, root, range(number, number + 1), "a")
            appeared = time.monotonic()
            landed = wait_change(os.path.join(repo, ".git"), head)
            started, _ = daemon.wait_for(lambda event: event["event"] == "pass.start", mark, 30)
            daemon.wait_for(lambda event: event["event"] == "intent", mark, 30)
            totals.append((landed - appeared) * 1000)
            waits.append((started - appeared) * 1000)
            passes.append((landed - started) * 1000)
            daemon.wait_idle()
    finally:
        daemon.stop()
    print(f"a. intent file -> commit on HEAD, {samples} intents, --debounce 200ms:")
    print(f"   total:                         {figures(totals)}")
    print(f"   total minus the 200 ms:        {figures([t - 200 for t in totals])} "
          f"(target p50 <= 200 ms)")  # fmt: skip
    print(f"   file -> pass.start (watcher):  {figures(waits)}")
    print(f"   pass.start -> HEAD moved:      {figures(passes)}")
    print(
        "   (watchfiles yields a burst after 50 ms without a change, min(50, debounce/4); "
        "the debounce only caps how long one burst is grouped)"
    )


def bench_remote(root: str, samples: int, mode: str) -> None:
    """b. push to the remote by another clone -> the daemon's commit lands on the remote."""
    remote, writer = make_remote(root, f"remote-{mode}")
    replica = clone(remote, os.path.join(root, f"remote-{mode}-replica"))
    interval = "1h" if mode == "webhook" else "1s"
    daemon = Daemon(replica, "--push", "--interval", interval)
    try:
        daemon.ready()
        daemon.wait_idle()
        latencies = []
        for number in range(samples):
            if mode == "polling":
                # A random phase: a fixed loop period would lock onto the 1 s poll period.
                time.sleep(random.uniform(0, 1))
            pushed = push_intents(writer, root, range(number, number + 1), f"b{mode[0]}")
            after_push = time.monotonic()
            if mode == "webhook":
                daemon.webhook()
            landed = wait_change(remote, pushed)
            latencies.append((landed - after_push) * 1000)
            daemon.wait_idle(quiet=0.3)
        failures = daemon.count("pass.failed")
    finally:
        daemon.stop()
    if mode == "webhook":
        what, target = "with the webhook (--interval 1h)", "target p50 <= 500 ms"
    else:
        what, target = "polling only (--interval 1s)", "bounded by the interval + one pass"
    print(f"b. push by another clone -> daemon's commit on the remote, {what}, {samples} pushes:")
    print(f"   {figures(latencies)} ({target}; failed passes: {failures})")


def bench_replicas(root: str, bursts: int, size: int = 200) -> None:
    """c. three replicas drain a burst of `size` intents pushed at once."""
    remote, writer = make_remote(root, "replicas")
    paths = [clone(remote, os.path.join(root, f"replica-{n}")) for n in range(3)]
    # The webhook reaches one replica (as through a Kubernetes Service); the others poll.
    daemons = [Daemon(path, "--push", "--interval", "1s") for path in paths]
    try:
        for daemon in daemons:
            daemon.ready()
        for burst in range(bursts):
            pushed = push_intents(writer, root, range(burst * size, (burst + 1) * size), "c")
            start = time.monotonic()
            daemons[0].webhook()
            drained = wait_until(
                lambda: not pending_on_remote(remote), "the burst to drain", step=0.02
            )
            caught_up = wait_until(
                lambda: all(read_ref(os.path.join(p, ".git")) == read_ref(remote) for p in paths),
                "every replica to reach the remote's head",
                step=0.02,
            )
            drained, caught_up = drained - start, caught_up - start
            commits = git(remote, "rev-list", "--count", f"{pushed}..main").strip()
            keys = git(remote, "log", "--format=%(trailers:key=Idempotency-Key,valueonly)",
                       f"{pushed}..main").split()  # fmt: skip
            print(f"c. three replicas, burst {burst + 1} of {size} intents pushed at once: "
                  f"drained in {drained:.2f} s (target <= 30 s); every replica at the remote's "
                  f"head after {caught_up:.2f} s; {commits} commits, {len(set(keys))} distinct "
                  f"keys")  # fmt: skip
            for daemon in daemons:
                daemon.wait_idle()
        stats = [daemon.metrics() for daemon in daemons]
        failures = [daemon.count("pass.failed") for daemon in daemons]
    finally:
        for daemon in daemons:
            daemon.stop()
    for number, (metrics, failed) in enumerate(zip(stats, failures, strict=True)):
        done = sum(v for k, v in metrics.items() if k.startswith("reconciler_intents_total"))
        conflicts = metrics.get("reconciler_push_conflicts_total", 0)
        print(f"   replica {number}: {done:.0f} intents in its winning passes, "
              f"{conflicts:.0f} push conflicts, {failed} failed passes")  # fmt: skip


def pending_on_remote(remote: str) -> int:
    """Pending intent files on the remote's branch."""
    names = git(remote, "ls-tree", "--name-only", "main:policies/intents/").split()
    return sum(1 for name in names if name.endswith((".yaml", ".yml")))


def bench_memory(root: str, total: int = 1000, batch: int = 10) -> None:
    """d. VmRSS every 250 intents (dropped `batch` at a time, one pass each).

    `total` must be a multiple of 250 (and of `batch`).
    """
    repo = os.path.join(root, "memory")
    make_repo(repo)
    os.makedirs(os.path.join(repo, "policies", "intents"))
    daemon = Daemon(repo)
    readings = {}
    try:
        daemon.ready()
        daemon.wait_idle()
        readings[0] = daemon.memory_kb()
        done = 0
        for first in range(0, total, batch):
            drop_intents(repo, root, range(first, first + batch), "d")
            done += batch
            daemon.wait_count("intent", done, 60)
            if done % 250 == 0:
                daemon.wait_idle()
                readings[done] = daemon.memory_kb()
        passes = daemon.count("pass.done")
        peak = daemon.memory_kb("VmHWM")
    finally:
        daemon.stop()
    shown = ", ".join(f"{count}: {kb / 1024:.1f} MB" for count, kb in readings.items())
    growth = (readings[total] - readings[total // 2]) / 1024
    print(f"d. daemon VmRSS by intents processed ({passes} passes, {batch} intents each): {shown}")
    print(f"   after {total:,}: {readings[total] / 1024:.1f} MB (target <= 80 MB); "
          f"{total // 2:,} -> {total:,}: {growth:+.1f} MB (target: flat); "
          f"peak VmHWM {peak / 1024:.1f} MB")  # fmt: skip


def main() -> None:
    """Run the figures asked for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="intents for a and b (30)")
    parser.add_argument("--bursts", type=int, default=2, help="bursts of 200 for c (2)")
    parser.add_argument("--only", default="abcd", help="which figures (abcd)")
    parser.add_argument("--keep", metavar="DIR", help="leave the repositories here (a new folder)")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(PROJECT, "reconciler")],
                   check=True)  # fmt: skip
    git_version = git(PROJECT, "--version").strip()
    print(f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {git_version})")
    root = args.keep or tempfile.mkdtemp(prefix="daemon-bench-")
    os.makedirs(root, exist_ok=True)
    started = time.monotonic()
    try:
        if "a" in args.only:
            bench_local(root, args.samples)
        if "b" in args.only:
            bench_remote(root, args.samples, "webhook")
            bench_remote(root, max(args.samples * 2 // 3, 1), "polling")
        if "c" in args.only:
            bench_replicas(root, args.bursts)
        if "d" in args.only:
            bench_memory(root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"(whole benchmark: {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
