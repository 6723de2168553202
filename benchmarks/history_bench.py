"""Benchmark `reconcile history --limit 50` on a repository with 10,000 reconcile commits.

The repository is built once with one `git fast-import` stream and cached in
$HISTORY_BENCH_DIR (default: a fresh temporary folder, removed afterwards). Prints the min,
median and max wall time of 5 whole processes (target <= 300 ms); no assertions.
Run: `.venv/bin/python benchmarks/history_bench.py [--commits N] [--runs N] [--json]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = 1_764_000_000  # 2025-11-24, one commit a minute from here
BOT = "rollout-reconciler <reconciler@localhost>"


def git_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    home = tempfile.gettempdir()
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, HOME=home, LC_ALL="C")
    return env


def message(index: int) -> str:
    """A reconcile commit message in the loop's format; every 10th is a rejection."""
    before = 5 + index % 90
    stem = f"2026{index:08d}-expand-cab-{index}"
    if index % 10 == 9:
        return (
            f"reject {stem}: decision hold\n\n"
            f"Reconcile-Intent: policies/intents/{stem}.yaml\n"
            "Reconcile-Status: rejected\nReconcile-Action: expand\n"
            f"Idempotency-Key: {stem}\nTrace-Id: t-{index}\nDecision: hold\n"
            f"Actor: actor-{index % 7}\nApproval-Ref: CAB-{index}\n"
            f"Canary: {before} -> {before}\nManual-Pause: false -> false\n"
            "Reason-Codes: promotion_decision_not_promote\n"
        )
    return (
        f"expand fleet-a canary {before}% -> {before + 5}% (CAB-{index})\n\n"
        "gates green for seven days\n\n"
        f"Reconcile-Intent: policies/intents/{stem}.yaml\n"
        "Reconcile-Status: applied\nReconcile-Action: expand\n"
        f"Idempotency-Key: {stem}\nTrace-Id: t-{index}\nDecision: promote\n"
        f"Decision-Trace-Id: gates-{index // 24}\nActor: actor-{index % 7}\n"
        f"Approval-Ref: CAB-{index}\nCanary: {before} -> {before + 5}\n"
        f"Manual-Pause: false -> false\nIntent-Commit: {index:040x}\n"
    )


def build_repo(repo: Path, commits: int) -> None:
    """Create `repo` with `commits` reconcile commits (each edits one file) in one stream."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=git_env())
    parts: list[bytes] = []
    for index in range(commits):
        text = message(index).encode()
        blob = f"canaryPercent: {5 + index % 90}\n".encode()
        parts += [
            b"commit refs/heads/main\n",
            f"committer {BOT} {START + 60 * index} +0000\n".encode(),
            b"data %d\n" % len(text),
            text,
            b"\n",
            b"M 100644 inline policies/registry.yaml\n",
            b"data %d\n" % len(blob),
            blob,
            b"\n",
        ]
    parts.append(b"done\n")
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done", "--date-format=raw"],
        cwd=repo,
        input=b"".join(parts),
        check=True,
        env=git_env(),
    )
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, check=True, env=git_env())


def cached_repo(base: Path, commits: int) -> Path:
    repo = base / f"history-{commits}"
    marker = repo / ".git" / "bench-complete"
    if not marker.exists():
        shutil.rmtree(repo, ignore_errors=True)
        start = time.perf_counter()
        build_repo(repo, commits)
        marker.write_text("ok\n")
        print(f"built {commits} commits in {(time.perf_counter() - start) * 1000:.0f} ms")
    return repo


def reconcile_executable() -> list[str]:
    script = Path(sys.executable).parent / "reconcile"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def bench(repo: Path, runs: int, extra: list[str]) -> list[float]:
    argv = [*reconcile_executable(), "history", "--repo", str(repo), "--limit", "50", *extra]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)  # warm the page cache
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def baseline(runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def report(label: str, timings: list[float]) -> None:
    print(
        f"{label:<44} min {min(timings):6.1f}  median {statistics.median(timings):6.1f}  "
        f"max {max(timings):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cache = os.environ.get("HISTORY_BENCH_DIR")
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(cache) if cache else Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        repo = cached_repo(base, args.commits)
        report("python -c pass (baseline)", baseline(args.runs))
        report("history --limit 50 (table)", bench(repo, args.runs, []))
        report("history --limit 50 --json", bench(repo, args.runs, ["--json"]))
        report("history --limit 50 --status rejected --json", bench(
            repo, args.runs, ["--status", "rejected", "--json"]
        ))  # fmt: skip
        report("history --limit 50 --actor actor-3 --json", bench(
            repo, args.runs, ["--actor", "actor-3", "--json"]
        ))  # fmt: skip


if __name__ == "__main__":
    main()
