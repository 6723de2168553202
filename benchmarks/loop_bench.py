"""Benchmark the GitOps loop: prints figures, asserts nothing (targets in docs/gitops.md).

1. intents per second of one `reconcile --once` over 500 pending intents (one commit each);
2. on a repository with 10,000 processed intents in its history:
   wall time of an idle `--once`, of a `--once` with one intent, and of `history --limit 50`.

Usage: python benchmarks/loop_bench.py [--runs N] [--keep DIR]
The 10,000-intent repository takes about a minute to build (the loop itself builds it, in
passes of 2,000); --keep reuses it across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
REVIEW_BY = (datetime.now(UTC) + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")


def git(repo: str, *args: str) -> str:
    """Run git in `repo` and return its stdout."""
    return subprocess.run(
        ["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True
    ).stdout


def reconcile(repo: str, *args: str) -> float:
    """Run `reconcile` in `repo`; return its wall time in milliseconds."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args], cwd=repo, env=ENV, capture_output=True,
        check=False,
    )  # fmt: skip
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode not in (0, 3):
        raise SystemExit(f"reconcile {' '.join(args)} failed: {done.stderr.decode()}")
    return elapsed


def make_repo(path: str) -> None:
    """A policy repository from the bundled example with a fresh promote decision."""
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    shutil.copytree(os.path.join(PROJECT, "policies"), os.path.join(path, "policies"))
    decision = os.path.join(path, "policies", "promotion", "decision.json")
    with open(decision) as handle:
        doc = json.load(handle)
    doc["generatedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(decision, "w") as handle:
        json.dump(doc, handle, indent=2)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "policy repository")


def add_intents(repo: str, count: int, prefix: str) -> None:
    """Commit `count` intents: expand 1%, rollback, resume in turn."""
    folder = os.path.join(repo, "policies", "intents")
    os.makedirs(folder, exist_ok=True)
    kinds = ("expand", "rollback", "resume")
    for number in range(count):
        kind = kinds[number % 3]
        step = "expandStep: 1\n" if kind == "expand" else ""
        text = (
            f"intent: {kind}\n{step}governance:\n  actor: bench\n  approvalRef: CAB-{number}\n"
            f"  rationale: benchmark intent {number}\n  reviewBy: {REVIEW_BY}\n"
        )
        with open(os.path.join(folder, f"{prefix}-{number:06d}-{kind}.yaml"), "w") as handle:
            handle.write(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{count} intents")


def bench_pass(root: str) -> None:
    """Figure 1: one pass over 500 pending intents."""
    repo = os.path.join(root, "pass500")
    make_repo(repo)
    add_intents(repo, 500, "a")
    elapsed = reconcile(repo, "--once") / 1000
    commits = int(git(repo, "rev-list", "--count", "HEAD")) - 2
    print(f"one --once over 500 pending intents: {elapsed:.2f} s, {commits} commits, "
          f"{commits / elapsed:.0f} intents/s (target >= 200/s)")  # fmt: skip


def big_repo(root: str) -> str:
    """A repository with 10,000 processed intents (built once with the loop itself)."""
    repo = os.path.join(root, "history10k")
    if os.path.isdir(repo):
        return repo
    make_repo(repo)
    start = time.perf_counter()
    for batch in range(5):
        add_intents(repo, 2000, f"h{batch}")
        reconcile(repo, "--once")
    git(repo, "gc", "-q")
    print(f"(built the 10,000-intent repository in {time.perf_counter() - start:.0f} s)")
    return repo


def summary(samples: list[float]) -> str:
    """min / median / max of wall times in ms."""
    return (
        f"min {min(samples):.0f} ms, median {statistics.median(samples):.0f} ms, "
        f"max {max(samples):.0f} ms"
    )


def bench_history_repo(repo: str, runs: int) -> None:
    """Figures 2-4 on the big repository."""
    idle = [reconcile(repo, "--once") for _ in range(runs)]
    print(f"idle --once, 10,000 intents in history: {summary(idle)} (target <= 200 ms)")
    one = []
    for number in range(runs):
        add_intents(repo, 1, f"z{time.time_ns()}-{number}")
        one.append(reconcile(repo, "--once"))
    print(f"--once with one intent, same repository: {summary(one)} (target <= 400 ms)")
    history = [reconcile(repo, "history", "--limit", "50") for _ in range(runs)]
    print(f"history --limit 50, same repository: {summary(history)} (target <= 300 ms)")


def main() -> None:
    """Run every figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="Build/reuse the repositories here.")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(PROJECT, "reconciler")],
                   check=True)  # fmt: skip
    root = args.keep or tempfile.mkdtemp(prefix="loop-bench-")
    os.makedirs(root, exist_ok=True)
    try:
        shutil.rmtree(os.path.join(root, "pass500"), ignore_errors=True)
        bench_pass(root)
        bench_history_repo(big_repo(root), args.runs)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
