"""Benchmark `reconcile verify`: a full verify and an incremental one (--since).

Usage: python benchmarks/verify_bench.py [--size N] [--runs N] [--keep DIR]
The history (N processed intents, default 20,000) is built by the loop itself, as
loop_bench.py builds its own (a few minutes; --keep reuses it). Times are of `audit()`
in-process (min / median / max); the CLI's own start-up comes on top. The last line is
`blocking_findings` continuing from a state at HEAD~1, then `cached_blocking_findings` with
the cache at HEAD~1, as the controller runs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import loop_bench  # noqa: E402

from reconciler.core.audit_drift import AuditState  # noqa: E402
from reconciler.reports import audit_state  # noqa: E402
from reconciler.reports.audit import audit  # noqa: E402
from reconciler.reports.audit_state import blocking_findings  # noqa: E402


def timed(repo: str, since: str | None, runs: int) -> tuple[list[float], int]:
    samples, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        report = audit(repo, since)
        samples.append((time.perf_counter() - started) * 1000)
        found = len(report.findings)
    return samples, found


def summary(samples: list[float]) -> str:
    return (
        f"min {min(samples):.0f} ms, median {statistics.median(samples):.0f} ms, "
        f"max {max(samples):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR")
    args = parser.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="verify-bench-")
    os.makedirs(root, exist_ok=True)
    repo, _ = loop_bench.history_repo(root, args.size)
    samples, found = timed(repo, None, args.runs)
    print(f"full verify, {args.size:,} intents: {summary(samples)}, {found} finding(s) "
          "(target <= 5 s)")  # fmt: skip
    since = loop_bench.git(repo, "rev-parse", "HEAD~1").strip()
    samples, found = timed(repo, since, args.runs)
    print(f"incremental verify (--since HEAD~1): {summary(samples)}, {found} finding(s) "
          "(target <= 50 ms)")  # fmt: skip
    samples = []
    for _ in range(args.runs):
        started = time.perf_counter()
        blocking, _state = blocking_findings(repo, AuditState(since))
        samples.append((time.perf_counter() - started) * 1000)
    print(f"blocking_findings from a state at HEAD~1: {summary(samples)}, "
          f"{len(blocking)} blocking (target <= 50 ms)")  # fmt: skip
    cache = os.path.join(repo, ".git", audit_state.STATE_FILE)
    samples = []
    for _ in range(args.runs):
        audit_state.write_state(cache, AuditState(since))
        started = time.perf_counter()
        blocking, _state = audit_state.cached_blocking_findings(repo)
        samples.append((time.perf_counter() - started) * 1000)
    os.remove(cache)
    print(f"cached_blocking_findings, the cache at HEAD~1 (the controller's check): "
          f"{summary(samples)}, {len(blocking)} blocking (target <= 50 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
