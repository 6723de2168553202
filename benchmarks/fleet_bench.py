"""Benchmark many fleets in one repository: prints figures and ratios, asserts nothing.

On a repository of 100 fleets with 1,000 processed intents each (targets in docs/fleets.md),
against the single-fleet repository of 1,000 processed intents in the same run:

1. an idle `reconcile --once` (target <= 400 ms);
2. `reconcile status` for every fleet (target <= 600 ms);
3. a `--once` with one expand in one fleet (target <= 1.2x the single-fleet figure), beside
   git's own floor for it (one index entry updated in each repository: the least a HEAD
   move costs) and the same pass with git's split index in the many-fleet clone;
4. one `--once` over 500 pending intents spread over 50 fleets (target >= 200 intents/s),
   with the single-fleet 500-intent figure beside it.

The single-fleet repository is `loop_bench.history_repo(1000)`: built by the loop itself on a
virtual clock. The 100-fleet repository copies its `policies/` tree into
`policies/fleets/fleet-NNN/` (fleetId set to the folder name) in one commit: each fleet has
the real files of 1,000 processed intents (1,000 files in applied/, the telemetry, state and
index), so the worktree, the index and every per-fleet read are full size; what is not
copied is the 2,000 commits of each fleet's history (the loop's walks stop at the newest
commits they need).

Usage: python benchmarks/fleet_bench.py [--runs N] [--keep DIR] [--fleets N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import loop_bench  # noqa: E402 - the benchmarks folder is not a package
from loop_bench import REVIEW_BY, UNPACED, git, reconcile, summary  # noqa: E402

COPIED = ("registry.yaml", "promotion", "intents", "state", "telemetry", ".gitignore")


def fleet_id(number: int) -> str:
    return f"fleet-{number:03d}"


def fleets_repo(root: str, single: str, count: int) -> str:
    """The `count`-fleet repository, each fleet a copy of `single`'s policies/ tree."""
    repo = os.path.join(root, f"fleets{count}")
    marker = repo + ".done"
    if os.path.isdir(repo) and os.path.exists(marker):
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    started = time.perf_counter()
    source = os.path.join(single, "policies")
    with open(os.path.join(source, "registry.yaml")) as handle:
        registry = handle.read()
    for number in range(count):
        folder = os.path.join(repo, "policies", "fleets", fleet_id(number))
        os.makedirs(folder)
        for name in COPIED:
            path = os.path.join(source, name)
            if os.path.isdir(path):
                shutil.copytree(path, os.path.join(folder, name))
            elif os.path.exists(path):
                shutil.copy(path, os.path.join(folder, name))
        with open(os.path.join(folder, "registry.yaml"), "w") as handle:
            handle.write(registry.replace("fleetId: fleet-a", f"fleetId: {fleet_id(number)}", 1))
    shutil.copy(os.path.join(single, "reconciler.yaml"), os.path.join(repo, "reconciler.yaml"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{count} fleets")
    git(repo, "gc", "-q")
    print(f"(built the {count}-fleet repository in {time.perf_counter() - started:.0f} s)")
    with open(marker, "w") as handle:
        handle.write("done\n")
    return repo


def fresh_decisions(repo: str, folders: list[str]) -> None:
    """A promote decision generated a minute ago in each policies folder (committed)."""
    generated = datetime.now(UTC) - timedelta(minutes=1)
    for folder in folders:
        loop_bench.write_decision(repo, generated, folder)
    git(repo, "commit", "-q", "-am", "fresh decisions")


def add_fleet_intents(repo: str, fleets: list[str], per_fleet: int, prefix: str) -> None:
    """Commit `per_fleet` expand-1% intents into each fleet's intents folder."""
    for fleet in fleets:
        folder = os.path.join(repo, "policies", "fleets", fleet, "intents")
        for number in range(per_fleet):
            text = (
                f"intent: expand\nexpandStep: 1\ngovernance:\n  actor: bench\n"
                f"  approvalRef: CAB-{number}\n  rationale: benchmark intent {number}\n"
                f"  reviewBy: {REVIEW_BY}\n"
            )
            with open(os.path.join(folder, f"{prefix}-{number:04d}-expand.yaml"), "w") as handle:
                handle.write(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{per_fleet * len(fleets)} intents")


def timed_pass(repo: str, base: str, expected: int) -> float:
    """One `--once` timed in ms, checked to make `expected` commits; then reset to `base`."""
    elapsed = reconcile(repo, "--once")
    made = int(git(repo, "rev-list", "--count", f"{base}..HEAD"))
    if made != expected:
        raise SystemExit(f"the pass made {made} commits, expected {expected}")
    git(repo, "reset", "-q", "--hard", base)
    return elapsed


def main() -> None:
    """Run every figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fleets", type=int, default=100)
    parser.add_argument("--keep", metavar="DIR", help="Build/reuse the repositories here.")
    args = parser.parse_args()
    # As an installed package runs: neither figure includes compiling the modules.
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(loop_bench.PROJECT,
                    "reconciler")], check=True)  # fmt: skip
    root = args.keep or tempfile.mkdtemp(prefix="fleet-bench-")
    os.makedirs(root, exist_ok=True)
    try:
        single, _ = loop_bench.history_repo(root, 1000)
        multi = fleets_repo(root, single, args.fleets)
        ids = [fleet_id(number) for number in range(args.fleets)]
        runs = args.runs
        # Decisions as fresh as the gates job keeps them (status reads less for a fresh one),
        # and the audit's cache at HEAD, as the loop and the controller keep it; the cold
        # audit (a fresh clone's first command) is measured apart.
        folders = [os.path.join("policies", "fleets", fleet) for fleet in ids]
        fresh_decisions(single, ["policies"])
        fresh_decisions(multi, folders)
        cold = {name: cold_status(path) for name, path in (("single", single), ("multi", multi))}
        idle: dict[str, list[float]] = {"single": [], "multi": []}
        status: dict[str, list[float]] = {"single": [], "multi": []}
        for _ in range(runs):
            idle["single"].append(reconcile(single, "--once"))
            idle["multi"].append(reconcile(multi, "--once"))
            status["single"].append(reconcile(single, "status"))
            status["multi"].append(reconcile(multi, "status"))
        report("idle --once", idle, "target <= 400 ms")
        report("status (every fleet)", status, "target <= 600 ms")
        print(f"status with no audit cache yet (a fresh clone): one fleet {cold['single']:.0f} ms, "
              f"many fleets {cold['multi']:.0f} ms")  # fmt: skip

        # One expand: in the single fleet, and in one fleet of the many.
        one: dict[str, list[float]] = {"single": [], "multi": []}
        fresh_decisions(single, ["policies"])
        fresh_decisions(multi, [os.path.join("policies", "fleets", ids[-1])])
        loop_bench.add_intents(single, 1, f"z{time.time_ns()}", kinds=("expand",))
        add_fleet_intents(multi, [ids[-1]], 1, f"z{time.time_ns()}")
        bases = {name: git(path, "rev-parse", "HEAD").strip() for name, path in
                 (("single", single), ("multi", multi))}  # fmt: skip
        for _ in range(runs):
            one["single"].append(timed_pass(single, bases["single"], 1))
            one["multi"].append(timed_pass(multi, bases["multi"], 1))
        report("--once with one expand (one fleet)", one, "target <= 1.2x")
        floor = {name: index_write_ms(path, runs) for name, path in
                 (("single", single), ("multi", multi))}  # fmt: skip
        best = (statistics.median(one["single"]) + floor["multi"] - floor["single"]) / (
            statistics.median(one["single"])
        )
        print(f"  git's floor, one index entry updated (update-index): one fleet "
              f"{floor['single']:.1f} ms, many fleets {floor['multi']:.1f} ms; a pass that did "
              f"nothing else per fleet would be {best:.2f}x")  # fmt: skip
        with split_index(multi):
            split = [timed_pass(multi, bases["multi"], 1) for _ in range(runs)]
            split_floor = index_write_ms(multi, runs)
        print(f"  with core.splitIndex in the many-fleet clone: {summary(split)}, "
              f"{statistics.median(split) / statistics.median(one['single']):.2f}x; "
              f"floor {split_floor:.1f} ms")  # fmt: skip
        for path in (single, multi):
            git(path, "reset", "-q", "--hard", "HEAD~2")
            warm_audit(path)

        # 500 pending intents: over 50 fleets, and in the single fleet.
        rates: dict[str, list[float]] = {"single": [], "multi": []}
        spread = ids[: min(50, len(ids))]
        per_fleet = 500 // len(spread)
        multi_base = git(multi, "rev-parse", "HEAD").strip()
        single_base = git(single, "rev-parse", "HEAD").strip()
        write_settings(multi, UNPACED)
        write_settings(single, UNPACED)
        fresh_decisions(multi, [os.path.join("policies", "fleets", fleet) for fleet in spread])
        fresh_decisions(single, ["policies"])
        add_fleet_intents(multi, spread, per_fleet, "p")
        loop_bench.add_intents(single, 500, "p", kinds=("expand",))
        bases = {"single": git(single, "rev-parse", "HEAD").strip(),
                 "multi": git(multi, "rev-parse", "HEAD").strip()}  # fmt: skip
        total = per_fleet * len(spread)
        for _ in range(runs):
            rates["single"].append(500 / timed_pass(single, bases["single"], 500) * 1000)
            rates["multi"].append(total / timed_pass(multi, bases["multi"], total) * 1000)
        git(multi, "reset", "-q", "--hard", multi_base)
        git(single, "reset", "-q", "--hard", single_base)
        for name, values in rates.items():
            where = f"over {len(spread)} fleets" if name == "multi" else "in one fleet"
            print(f"one --once over {total if name == 'multi' else 500} pending intents {where}: "
                  f"median {statistics.median(values):.0f}, min {min(values):.0f} intents/s "
                  "(target >= 200/s)")  # fmt: skip
        ratio = statistics.median(rates["multi"]) / statistics.median(rates["single"])
        print(f"ratio {args.fleets} fleets / one fleet, 500 intents throughput: {ratio:.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def index_write_ms(repo: str, runs: int) -> float:
    """Median ms of `git update-index` setting one entry: an index read and a whole write."""
    path = git(repo, "ls-files", "--", "*registry.yaml").splitlines()[-1]
    blob = git(repo, "rev-parse", f"HEAD:{path}").strip()
    other = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=b"x\n",
                           capture_output=True, check=True).stdout.decode().strip()  # fmt: skip
    times = []
    for number in range(runs * 2):
        entry = f"100644 {other if number % 2 == 0 else blob}\t{path}\0".encode()
        started = time.perf_counter()
        subprocess.run(["git", "update-index", "-z", "--index-info"], cwd=repo, input=entry,
                       check=True)  # fmt: skip
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def split_index(repo: str) -> Iterator[None]:
    """git's split index on in `repo` (`core.splitIndex`) inside the block, off after it."""
    git(repo, "config", "core.splitIndex", "true")
    git(repo, "update-index", "--split-index")
    try:
        yield
    finally:
        git(repo, "config", "--unset", "core.splitIndex")
        git(repo, "update-index", "--no-split-index")


def audit_cache(repo: str) -> str:
    return os.path.join(repo, ".git", "reconciler", "audit-state.json")


def warm_audit(repo: str) -> None:
    """The audit's cache at HEAD, as the loop's and the controller's passes keep it."""
    sys.path.insert(0, loop_bench.PROJECT)
    from reconciler.reports import audit_state

    audit_state.cached_blocking_findings(repo, remember=True)


def cold_status(repo: str) -> float:
    """`status` with no audit cache (a fresh clone's first command), in ms; then warm it."""
    if os.path.exists(audit_cache(repo)):
        os.remove(audit_cache(repo))
    elapsed = reconcile(repo, "status")
    warm_audit(repo)
    return elapsed


def write_settings(repo: str, text: str) -> None:
    with open(os.path.join(repo, "reconciler.yaml"), "w") as handle:
        handle.write(text)
    git(repo, "commit", "-q", "-am", "settings for the throughput figure")


def report(label: str, samples: dict[str, list[float]], target: str) -> None:
    print(f"{label}, one fleet: {summary(samples['single'])}")
    print(f"{label}, many fleets: {summary(samples['multi'])} ({target})")
    ratio = statistics.median(samples["multi"]) / statistics.median(samples["single"])
    print(f"  ratio many / one (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
