"""Benchmark `reconcile apply`: one whole process, and many in-process applies with writes.

Prints the median wall time of one `reconcile apply` process (target <= 100 ms on the 2-core
machine) and the median per-apply time of 1,000 in-process applies including the journaled
file writes (target <= 2 ms). Run: `make bench` or `.venv/bin/python benchmarks/apply_bench.py`.
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
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOVERNANCE = [
    "--by", "bench", "--approval-ref", "CAB-1", "--rationale", "benchmark",
    "--review-by", "2099-01-01T00:00:00Z",
]  # fmt: skip


def make_repo(base: Path, fmt: str = "yaml") -> Path:
    """The bundled policies/ example; for `json`, its registry converted to the bash layout."""
    repo = base / "repo"
    shutil.copytree(ROOT / "policies", repo / "policies")
    if fmt == "json":
        import json

        from reconciler.core.yamltext import load_yaml

        registry = repo / "policies" / "registry.yaml"
        doc = load_yaml(registry.read_text())
        (repo / "policies" / "registry.json").write_text(json.dumps(doc, indent=2) + "\n")
        registry.unlink()
    return repo


def reconcile_executable() -> list[str]:
    script = Path(sys.executable).parent / "reconcile"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def bench_process(runs: int, fmt: str) -> list[float]:
    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), fmt)
        command = reconcile_executable()
        for index in range(runs):
            intent = ["--intent", "rollback"] if index % 2 else ["--intent", "resume"]
            argv = [*command, "apply", "--repo", str(repo), *intent, *GOVERNANCE]
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            timings.append(time.perf_counter() - start)
    return timings


def bench_baseline(runs: int, statement: str) -> list[float]:
    """Wall time of a bare interpreter statement: the floor a CLI start-up cannot go below."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        timings.append(time.perf_counter() - start)
    return timings


def bench_in_process(count: int, fmt: str) -> list[float]:
    from reconciler.apply import running
    from reconciler.core.applying import ApplyArgs
    from reconciler.inputs.fleet import PathFlags

    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), fmt)
        options = running.ApplyOptions(repo=str(repo), paths=PathFlags())
        now = datetime.now(UTC)
        for index in range(count):
            args = ApplyArgs(
                intent="rollback" if index % 2 else "resume",
                expand_step=None,
                actor="bench",
                approval_ref=f"CAB-{index}",
                rationale="benchmark",
                review_by="2099-01-01T00:00:00Z",
                idempotency_key=f"bench-{index}",
            )
            start = time.perf_counter()
            running.run_apply(args, options, now=lambda: now, new_trace_id=lambda: "bench")
            timings.append(time.perf_counter() - start)
    return timings


def describe(name: str, timings: list[float], target_ms: float) -> str:
    """One line: median, p95 and count, against the target."""
    ms = sorted(t * 1000 for t in timings)
    p95 = ms[int(len(ms) * 0.95) - 1]
    median = statistics.median(ms)
    verdict = "ok" if median <= target_ms else "OVER TARGET"
    return (
        f"{name}: median {median:.2f} ms, p95 {p95:.2f} ms, n={len(ms)} "
        f"(target <= {target_ms:g} ms: {verdict})"
    )


def compile_bytecode() -> None:
    """Write the package's .pyc files first, as `pip install` does for an installed tool.

    An editable checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every
    module from source on each start (~40 ms here), which no installed deployment pays.
    """
    import compileall

    compileall.compile_dir(str(ROOT / "reconciler"), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--process-runs", type=int, default=30)
    parser.add_argument("--in-process", type=int, default=1000)
    options = parser.parse_args()
    compile_bytecode()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"temp folder: {tempfile.gettempdir()} (set TMPDIR to measure another file system)")
    for statement in ("pass", "import click"):
        ms = statistics.median(bench_baseline(options.process_runs, statement)) * 1000
        print(f"baseline: python -c {statement!r}: median {ms:.2f} ms")
    for fmt in ("yaml", "json"):
        runs = bench_process(options.process_runs, fmt)
        print(describe(f"reconcile apply, one process, {fmt} registry", runs, 100))
    for fmt in ("yaml", "json"):
        runs = bench_in_process(options.in_process, fmt)
        print(describe(f"in-process apply with writes, {fmt} registry", runs, 2))


if __name__ == "__main__":
    main()
