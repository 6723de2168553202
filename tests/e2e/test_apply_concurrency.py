"""Concurrent `reconcile apply` processes on one repository serialise on the registry lock.

Real processes started together (docs/apply.md): each mutation sees the one before it, a
shared idempotency key mutates once, and a held lock times out without writing anything.
Processes on two repositories that share one telemetry file lose no record.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import fleet

pytestmark = pytest.mark.slow

PROCESSES = 12
REGISTRY = fleet.SUPERLOOP / "registry.v1.json"
STATE = fleet.SUPERLOOP / "promotion-apply-state.json"


def expand_command(repo: Path, key: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "reconciler", "apply", "--repo", str(repo),
        "--intent", "expand", "--expand-step", "5", *fleet.gov(),
        "--idempotency-key", key, *extra,
    ]  # fmt: skip


def run_together(repo: Path, keys: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Start one apply per key at once, then wait for all of them."""
    children = [
        subprocess.Popen(
            expand_command(repo, key, "--lock-timeout", "60s"),
            cwd=repo.parent,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key in keys
    ]
    results = []
    for child in children:
        stdout, stderr = child.communicate(timeout=90)
        results.append(subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr))
    return results


def canary(repo: Path) -> Any:
    return fleet.read_json(repo / REGISTRY)["policy"]["autonomous"]["rollout"]["canaryPercent"]


def tree(repo: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in sorted(repo.rglob("*")) if path.is_file()}


@pytest.fixture
def repo_at_zero(repo: Path) -> Path:
    fleet.write_registry(repo, canary=0)
    return repo


def test_twelve_processes_with_distinct_keys_make_twelve_chained_steps(
    repo_at_zero: Path,
) -> None:
    repo = repo_at_zero
    results = run_together(repo, [f"k{i}" for i in range(PROCESSES)])

    assert [result.returncode for result in results] == [0] * PROCESSES, [
        result.stderr for result in results if result.returncode
    ]
    records = fleet.telemetry_lines(repo)
    assert len(records) == PROCESSES
    assert {record["idempotencyKey"] for record in records} == {f"k{i}" for i in range(PROCESSES)}
    assert records[0]["rollout"]["before"]["canaryPercent"] == 0
    for earlier, later in zip(records, records[1:], strict=False):
        assert earlier["rollout"]["after"] == later["rollout"]["before"]
    assert records[-1]["rollout"]["after"]["canaryPercent"] == 5 * PROCESSES
    assert canary(repo) == 5 * PROCESSES
    assert fleet.read_json(repo / STATE) == records[-1]
    printed = sorted((json.loads(result.stdout) for result in results), key=str)
    assert printed == sorted(records, key=str)


def test_twelve_processes_with_one_key_mutate_once_and_replay_eleven_times(
    repo_at_zero: Path,
) -> None:
    repo = repo_at_zero
    results = run_together(repo, ["same-key"] * PROCESSES)

    assert [result.returncode for result in results] == [0] * PROCESSES
    printed = [json.loads(result.stdout) for result in results]
    assert sum(record.get("replayed") is True for record in printed) == PROCESSES - 1
    (record,) = fleet.telemetry_lines(repo)
    assert record["idempotencyKey"] == "same-key"
    assert [{k: v for k, v in p.items() if k != "replayed"} for p in printed] == [
        record
    ] * PROCESSES
    assert canary(repo) == 5
    state = fleet.read_json(repo / STATE)
    state.pop("replayed", None)
    assert state == record


def test_apply_times_out_without_writing_while_another_process_holds_the_lock(
    repo_at_zero: Path,
) -> None:
    repo = repo_at_zero
    # The lock is an flock on the registry's folder itself (no lock file is ever created).
    holder = os.open(repo / fleet.SUPERLOOP, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        before = tree(repo)
        result = subprocess.run(
            expand_command(repo, "blocked-key", "--lock-timeout", "300ms"),
            cwd=repo.parent,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        after = tree(repo)
    finally:
        os.close(holder)

    assert result.returncode == 75  # EX_TEMPFAIL: retryable
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: another reconciler held the lock")
    assert "reason: lock_timeout" in lines
    assert result.stdout == ""
    assert after == before


@pytest.mark.slow
def test_two_repositories_sharing_one_telemetry_file_lose_no_record(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    repos = [tmp_path / name for name in ("one", "two")]
    for path in repos:
        fleet.write_registry(path, canary=10, manual=False)
        fleet.write_decision(path, "promote")
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--repo", str(path),
             "--intent", "rollback", *fleet.gov(), "--idempotency-key", f"{path.name}-{n}",
             "--apply-telemetry-file", str(shared / "t.jsonl"),
             "--apply-state-file", str(shared / "state.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(6)
        for path in repos
    ]  # fmt: skip
    assert [process.wait(timeout=120) for process in processes] == [0] * len(processes)
    lines = (shared / "t.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["idempotencyKey"] for line in lines) == sorted(
        f"{path.name}-{n}" for n in range(6) for path in repos
    )
