"""Benchmark the GitOps loop: prints figures, asserts nothing (targets in docs/gitops.md).

1. intents per second of one `reconcile --once` over 500 pending intents (one commit each,
   no guard pacing them: the loop's own work), unsigned and signed (an ed25519 key from
   ssh-keygen, RECONCILER_SIGNING_KEY_FILE), --runs times each, interleaved, and the ratio;
2. on repositories with 1,000 and 20,000 processed intents (records spread over months) and
   the recommended guards (`reconcile init`'s): wall time of an idle `--once` and of a
   `--once` with one expand the guards evaluate and apply, and the ratios; and
   `history --limit 50`.

Usage: python benchmarks/loop_bench.py [--runs N] [--keep DIR] [--pass-only]
The histories take a few minutes to build (the loop itself builds them in-process, in passes
of 2,000, on a virtual clock); --keep reuses them across runs.
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


def reconcile(repo: str, *args: str, env: dict[str, str] | None = None) -> float:
    """Run `reconcile` in `repo`; return its wall time in milliseconds."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args], cwd=repo, env={**ENV, **(env or {})},
        capture_output=True, check=False,
    )  # fmt: skip
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode not in (0, 3):
        raise SystemExit(f"reconcile {' '.join(args)} failed: {done.stderr.decode()}")
    return elapsed


UNPACED = "guards:\n  decisionAfterChange: false\n"
"""reconciler.yaml for the throughput figures: the loop's own work, with no guard pacing it."""


def recommended_guards() -> str:
    """The `guards:` block `reconcile init` writes (its recommended values)."""
    sys.path.insert(0, PROJECT)
    from reconciler.setup.init_repo import SETTINGS_TEXT

    start = SETTINGS_TEXT.index("guards:")
    return SETTINGS_TEXT[start : SETTINGS_TEXT.index("\n\n", start) + 1]


def write_decision(path: str, generated: datetime, folder: str = "policies") -> None:
    """A promote decision generated at `generated` (in `folder`'s promotion/)."""
    decision = os.path.join(path, folder, "promotion", "decision.json")
    with open(decision) as handle:
        doc = json.load(handle)
    doc["generatedAt"] = generated.strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(decision, "w") as handle:
        json.dump(doc, handle, indent=2)


def make_repo(path: str, *, settings: str = UNPACED, generated: datetime | None = None) -> None:
    """A policy repository from the bundled example with a fresh promote decision."""
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    shutil.copytree(os.path.join(PROJECT, "policies"), os.path.join(path, "policies"))
    write_decision(path, generated or datetime.now(UTC))
    with open(os.path.join(path, "reconciler.yaml"), "w") as handle:
        handle.write(settings)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "policy repository")


def add_intents(repo: str, count: int, prefix: str, kinds: tuple[str, ...] | None = None) -> None:
    """Commit `count` intents: expand 1%, rollback, resume in turn (or `kinds` in turn)."""
    folder = os.path.join(repo, "policies", "intents")
    os.makedirs(folder, exist_ok=True)
    kinds = kinds or ("expand", "rollback", "resume")
    for number in range(count):
        kind = kinds[number % len(kinds)]
        step = "expandStep: 1\n" if kind == "expand" else ""
        text = (
            f"intent: {kind}\n{step}governance:\n  actor: bench\n  approvalRef: CAB-{number}\n"
            f"  rationale: benchmark intent {number}\n  reviewBy: {REVIEW_BY}\n"
        )
        with open(os.path.join(folder, f"{prefix}-{number:06d}-{kind}.yaml"), "w") as handle:
            handle.write(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{count} intents")


def bench_pass(root: str, runs: int) -> None:
    """Figure 1: one pass over 500 pending intents (no guard pacing them), unsigned and signed."""
    keys = os.path.join(root, "keys")
    shutil.rmtree(keys, ignore_errors=True)
    os.makedirs(keys)
    key = os.path.join(keys, "bot")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bot", "-f", key],
                   check=True)  # fmt: skip
    rates: dict[str, list[float]] = {"unsigned": [], "signed": []}
    for run in range(runs):
        for mode, env in (("unsigned", {}), ("signed", {"RECONCILER_SIGNING_KEY_FILE": key})):
            repo = os.path.join(root, f"pass500-{mode}-{run}")
            make_repo(repo)
            add_intents(repo, 500, "a")
            elapsed = reconcile(repo, "--once", env=env) / 1000
            commits = int(git(repo, "rev-list", "--count", "HEAD")) - 2
            if mode == "signed" and run == 0:
                check_signed(repo, key)
            rates[mode].append(commits / elapsed)
            shutil.rmtree(repo)
    for mode, values in rates.items():
        print(f"one --once over 500 pending intents, {mode}: min {min(values):.0f}, median "
              f"{statistics.median(values):.0f}, max {max(values):.0f} intents/s "
              f"({runs} runs; target >= 200/s)")  # fmt: skip
    ratio = statistics.median(rates["signed"]) / statistics.median(rates["unsigned"])
    print(f"signed / unsigned throughput (medians): {ratio:.2f}")


def check_signed(repo: str, key: str) -> None:
    """Stop unless git accepts the signature of every commit the pass made."""
    with open(f"{key}.pub") as handle:
        public = " ".join(handle.read().split()[:2])
    allowed = f"{key}.allowed"
    with open(allowed, "w") as handle:
        handle.write(f"bot {public}\n")
    marks = git(repo, "-c", f"gpg.ssh.allowedSignersFile={allowed}", "log", "-500",
                "--format=%G?").split()  # fmt: skip
    if marks != ["G"] * 500:
        raise SystemExit(f"the signed pass made commits git does not accept: {set(marks)}")


class Clock:
    """Virtual time for building a history: each reading is `step` after the one before."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.time, self.step = start, step

    def __call__(self) -> datetime:
        self.time += self.step
        return self.time


def history_repo(root: str, size: int) -> tuple[str, datetime]:
    """A repository with `size` processed intents, 5 minutes apart, ending 2 days ago.

    Built in-process by the loop itself on a virtual clock (so its records span months, as
    a real fleet's do), with no guard pacing it; then reconciler.yaml gets the recommended
    guards. Returns the repository and the time of its last record.
    """
    repo = os.path.join(root, f"history{size}")
    marker = os.path.join(root, f"history{size}.last")
    if os.path.isdir(repo) and os.path.exists(marker):
        with open(marker) as handle:
            return repo, datetime.fromisoformat(handle.read().strip())
    sys.path.insert(0, PROJECT)
    from reconciler.loop.once import OnceOptions, run_once

    step = timedelta(minutes=5)
    clock = Clock(datetime.now(UTC) - timedelta(days=2) - size * step, step)
    shutil.rmtree(repo, ignore_errors=True)
    make_repo(repo, generated=clock.time)
    started = time.perf_counter()
    for batch in range(0, size, 2000):
        add_intents(repo, min(2000, size - batch), f"h{batch // 2000}")
        run_once(OnceOptions(repo=repo), now=clock)
    with open(os.path.join(repo, "reconciler.yaml"), "w") as handle:
        handle.write(recommended_guards())
    git(repo, "commit", "-q", "-am", "recommended guards")
    git(repo, "gc", "-q")
    print(f"(built the {size:,}-intent repository in {time.perf_counter() - started:.0f} s)")
    with open(marker, "w") as handle:
        handle.write(clock.time.isoformat())
    return repo, clock.time


def summary(samples: list[float]) -> str:
    """min / median / max of wall times in ms."""
    return (
        f"min {min(samples):.0f} ms, median {statistics.median(samples):.0f} ms, "
        f"max {max(samples):.0f} ms"
    )


class OneIntent:
    """A repository with one pending expand, and a `--once` that applies it, repeatably.

    The history's last record is 2 days old and the decision is fresh, so the expand is
    clear of every guard and applied (a real fleet's pace: a step a day); after each run the
    repository is reset to before it, so every run does the same work.
    """

    def __init__(self, repo: str) -> None:
        self.repo = repo
        # Each pass writes a pack; the runs of an earlier benchmark left theirs: repack now,
        # so git's gc --auto never starts repacking in the background during the runs.
        git(repo, "gc", "-q")
        write_decision(repo, datetime.now(UTC) - timedelta(minutes=1))
        add_intents(repo, 1, f"z{time.time_ns()}", kinds=("expand",))
        self.base = git(repo, "rev-parse", "HEAD").strip()

    def run(self) -> float:
        """One `--once`, timed in ms; then the repository as it was."""
        elapsed = reconcile(self.repo, "--once")
        subjects = git(self.repo, "log", "--format=%s", f"{self.base}..HEAD").splitlines()
        assert len(subjects) == 1 and subjects[0].startswith("expand "), subjects
        git(self.repo, "reset", "-q", "--hard", self.base)
        return elapsed

    def close(self) -> None:
        """Drop the intent and the decision commit."""
        git(self.repo, "reset", "-q", "--hard", "HEAD~1")


def bench_history_repos(root: str, runs: int) -> None:
    """Figures 2-4: idle and one-intent passes on 1,000 and 20,000 processed intents.

    The two repositories are measured in turns (1,000, 20,000, 1,000, ...), so a busy moment
    of a shared machine weighs on both alike; minimum and median are printed, and the ratios
    of both.
    """
    sizes = (1000, 20000)
    repos = {size: history_repo(root, size)[0] for size in sizes}
    idle: dict[int, list[float]] = {size: [] for size in sizes}
    one: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(runs):
        for size in sizes:
            idle[size].append(reconcile(repos[size], "--once"))
    passes = {size: OneIntent(repos[size]) for size in sizes}
    try:
        for _ in range(runs):
            for size in sizes:
                one[size].append(passes[size].run())
    finally:
        for found in passes.values():
            found.close()
    for size in sizes:
        print(
            f"{size:>6,} intents in history, recommended guards: idle --once {summary(idle[size])}"
        )
        print(f"{'':>6}  --once with one expand: {summary(one[size])}")
    for label, samples in (("idle", idle), ("one intent", one)):
        small, big = samples[1000], samples[20000]
        print(f"ratio 20,000 / 1,000, {label}: median "
              f"{statistics.median(big) / statistics.median(small):.2f}x, min "
              f"{min(big) / min(small):.2f}x (target <= 1.5x)")  # fmt: skip
    history = [reconcile(repos[20000], "history", "--limit", "50") for _ in range(runs)]
    print(f"history --limit 50, 20,000 intents: {summary(history)} (target <= 300 ms)")


def main() -> None:
    """Run every figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="Build/reuse the repositories here.")
    parser.add_argument("--pass-only", action="store_true", help="Only the 500-intent figure.")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(PROJECT, "reconciler")],
                   check=True)  # fmt: skip
    root = args.keep or tempfile.mkdtemp(prefix="loop-bench-")
    os.makedirs(root, exist_ok=True)
    try:
        bench_pass(root, args.runs)
        if not args.pass_only:
            bench_history_repos(root, args.runs)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
