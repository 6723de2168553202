"""Kill -9 a real `reconcile apply` at every step of a mutation; the next run must converge.

docs/apply.md, "Crash safety": registry, state and telemetry are seen all before or all
after the mutation, and a retry with the same key ends with exactly one mutation and one
record. The steps come from journal.commit / journal._roll_forward and running._commit: journal,
registry, state, telemetry, journal removal, then the derived key index.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import applying, fleet

pytestmark = pytest.mark.slow

CRASHING_APPLY = Path(__file__).resolve().parent.parent / "support" / "crashing_apply.py"
KEY = "crash-key-1"
JOURNAL = ".reconciler-journal.json"
TEMP_GLOB = "*.reconciler-tmp-*"
POLICIES_YAML = """\
# Fleet rollout policy (crash test copy); comments must survive an apply.
schemaVersion: v1
fleetId: fleet-crash
loops:
  - loopId: loop-a
    transport: local
policy:
  mode: guarded_auto        # advisory | guarded_auto
  autonomous:
    rollout:
      canaryPercent: 25     # share of loops in the canary cohort
      pause:
        manual: false
    governance:
      actor: ops-initial
      approvalRef: CAB-100
      rationale: "Initial guarded rollout"
      changedAt: 2026-11-01T09:00:00Z
      reviewBy: 2099-01-01T00:00:00Z
"""


@dataclass(frozen=True)
class Layout:
    """Where one built-in layout keeps its files, relative to the repository."""

    name: str
    registry: Path
    state: Path
    telemetry: Path

    @property
    def folder(self) -> Path:
        return self.registry.parent

    def file_name(self, role: str) -> str:
        return {
            "journal": JOURNAL,
            "registry": self.registry.name,
            "state": self.state.name,
            "telemetry": self.telemetry.name,
            "index": "promotion-apply-index.json",
        }[role]


SUPERLOOP = Layout(
    "superloop-json",
    fleet.SUPERLOOP / "registry.v1.json",
    fleet.SUPERLOOP / "promotion-apply-state.json",
    fleet.SUPERLOOP / "telemetry" / "promotion-apply.jsonl",
)
POLICIES = Layout(
    "policies-yaml",
    Path("policies/registry.yaml"),
    Path("policies/state/promotion-apply-state.json"),
    Path("policies/telemetry/promotion-apply.jsonl"),
)


@dataclass(frozen=True)
class CrashPoint:
    """One step of a mutation, and what the next run must see after a kill -9 there."""

    name: str
    moment: str
    operation: str
    nth: int
    role: str
    outcome: str
    """`before`: no journal yet, all originals; `pending`: a journal waits to be rolled
    forward; `after`: the mutation is complete (only the derived index may be missing)."""

    def spec(self, layout: Layout) -> str:
        return f"{self.moment}:{self.operation}:{self.nth}:{layout.file_name(self.role)}"


# atomic_write calls of a fresh mutation: 1 journal, 2 registry, 3 state, 4 key index.
CRASH_POINTS = [
    CrashPoint("before-journal-write", "before", "atomic_write", 1, "journal", "before"),
    CrashPoint("mid-journal-write", "mid", "atomic_write", 1, "journal", "before"),
    CrashPoint("after-journal-write", "after", "atomic_write", 1, "journal", "pending"),
    CrashPoint("mid-registry-write", "mid", "atomic_write", 2, "registry", "pending"),
    CrashPoint("after-registry-write", "after", "atomic_write", 2, "registry", "pending"),
    CrashPoint("mid-state-write", "mid", "atomic_write", 3, "state", "pending"),
    CrashPoint("after-state-write", "after", "atomic_write", 3, "state", "pending"),
    CrashPoint("mid-telemetry-append", "mid", "append", 1, "telemetry", "pending"),
    CrashPoint("after-telemetry-append", "after", "append", 1, "telemetry", "pending"),
    CrashPoint("before-journal-removal", "before", "remove", 1, "journal", "pending"),
    CrashPoint("after-journal-removal", "after", "remove", 1, "journal", "after"),
    CrashPoint("mid-index-write", "mid", "atomic_write", 4, "index", "after"),
    CrashPoint("after-index-write", "after", "atomic_write", 4, "index", "after"),
]
YAML_POINTS = {
    "after-journal-write",
    "mid-registry-write",
    "after-registry-write",
    "mid-state-write",
    "mid-telemetry-append",
    "mid-index-write",
}


def cases() -> list[Any]:
    """Every crash point in the bash tool's layout, the registry-write ones in policies/ too."""
    params = [
        pytest.param(SUPERLOOP, point, id=f"{SUPERLOOP.name}-{point.name}")
        for point in CRASH_POINTS
    ]
    params += [
        pytest.param(POLICIES, point, id=f"{POLICIES.name}-{point.name}")
        for point in CRASH_POINTS
        if point.name in YAML_POINTS
    ]
    return params


def expand_args(repo: Path, key: str = KEY) -> list[str]:
    return [
        "apply", "--repo", str(repo), "--intent", "expand", "--expand-step", "25",
        *fleet.gov("CAB-200", "crash test"), "--idempotency-key", key,
    ]  # fmt: skip


def rollback_args(repo: Path) -> list[str]:
    return [
        "apply", "--repo", str(repo), "--intent", "rollback",
        *fleet.gov("INC-9", "error spike"), "--idempotency-key", "other-key",
    ]  # fmt: skip


def crash(point: CrashPoint, layout: Layout, repo: Path) -> subprocess.Popen[str]:
    command = [sys.executable, str(CRASHING_APPLY), point.spec(layout), *expand_args(repo)]
    return subprocess.Popen(
        command,
        cwd=repo.parent,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def reconcile(repo: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=repo.parent,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_killed(child: subprocess.Popen[str]) -> None:
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, stderr


@dataclass(frozen=True)
class Snapshot:
    """A read-only look at the files a mutation touches (no reconciler code runs)."""

    registry: bytes
    state: bytes | None
    telemetry: bytes
    journal: bytes | None

    @classmethod
    def take(cls, repo: Path, layout: Layout) -> Snapshot:
        def read(path: Path) -> bytes | None:
            return path.read_bytes() if path.exists() else None

        return cls(
            registry=(repo / layout.registry).read_bytes(),
            state=read(repo / layout.state),
            telemetry=read(repo / layout.telemetry) or b"",
            journal=read(repo / layout.folder / JOURNAL),
        )

    @property
    def canary(self) -> object:
        return yaml.safe_load(self.registry)["policy"]["autonomous"]["rollout"]["canaryPercent"]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.telemetry.splitlines() if line.strip()]


def keyed(records: list[dict[str, Any]], key: str = KEY) -> list[dict[str, Any]]:
    return [record for record in records if record.get("idempotencyKey") == key]


def make_repo(layout: Layout, repo: Path, tmp_path: Path) -> Path:
    """Return a repository at canary 25 with a promote decision, in `layout`."""
    if layout is SUPERLOOP:
        return repo  # the conftest fixture: REG(25, false) and PSTATE(promote)
    path = tmp_path / "policies-repo"
    (path / "policies").mkdir(parents=True)
    (path / POLICIES.registry).write_text(POLICIES_YAML)
    fleet.write_decision(path, "promote", path=path / "policies" / "promotion" / "decision.json")
    # An earlier record, so the crash hits a non-zero telemetry offset and a stale key index.
    applying.apply(path, "resume", idempotency_key="seed-key")
    return path


def assert_crashed_where_claimed(repo: Path, layout: Layout, point: CrashPoint) -> None:
    """Check the trace a `mid` kill leaves, so a crash point cannot silently move."""
    if point.moment != "mid":
        return
    if point.operation in ("append", "append_at"):
        torn = (repo / layout.telemetry).read_bytes()
        assert not torn.endswith(b"\n")
        return
    folder = {"journal": layout.folder, "registry": layout.folder}.get(point.role)
    name = layout.file_name(point.role)
    assert list((repo / (folder or layout.state.parent)).glob(f".{name}.reconciler-tmp-*"))


def classify(seen: Snapshot, original: Snapshot, repo: Path, layout: Layout) -> str:
    """Classify what a read-only look sees, and check it is one of the three allowed states."""
    # Whatever the step, earlier records are never damaged.
    assert seen.telemetry.startswith(original.telemetry)
    if seen.journal is not None:
        journal = json.loads(seen.journal)
        # Journal paths are relative to its folder, so a moved checkout recovers in place.
        base = repo / layout.folder
        texts = {
            os.path.normpath(base / item["path"]): item["text"] for item in journal["replacements"]
        }
        registry = yaml.safe_load(texts[str(repo / layout.registry)])
        assert registry["policy"]["autonomous"]["rollout"]["canaryPercent"] == 50
        line = journal["append"]["text"]
        assert json.loads(line)["idempotencyKey"] == KEY
        assert texts[str(repo / layout.state)] == line
        assert journal["append"]["offset"] == len(original.telemetry)
        return "pending"
    if seen == original:
        return "before"
    assert seen.canary == 50
    new = seen.telemetry.removeprefix(original.telemetry)
    assert new.count(b"\n") == 1
    assert json.loads(new)["idempotencyKey"] == KEY
    assert seen.state == new
    return "after"


@pytest.mark.parametrize(("layout", "point"), cases())
def test_a_kill_at_any_step_leaves_all_before_or_all_after_and_a_retry_converges(
    layout: Layout, point: CrashPoint, repo: Path, tmp_path: Path
) -> None:
    repo = make_repo(layout, repo, tmp_path)
    original = Snapshot.take(repo, layout)
    assert original.canary == 25

    assert_killed(crash(point, layout, repo))
    assert_crashed_where_claimed(repo, layout, point)
    assert classify(Snapshot.take(repo, layout), original, repo, layout) == point.outcome

    retry = reconcile(repo, expand_args(repo))
    assert retry.returncode == 0, retry.stderr
    printed = json.loads(retry.stdout)
    final = Snapshot.take(repo, layout)
    (record,) = keyed(final.records())
    assert final.records() == [*original.records(), record]
    assert final.canary == 50
    assert record["rollout"]["before"]["canaryPercent"] == 25
    assert record["rollout"]["after"]["canaryPercent"] == 50
    first_attempt_committed = point.outcome != "before"
    assert printed.pop("replayed", False) is first_attempt_committed
    assert printed == record
    assert json.loads(final.state or b"null") == json.loads(retry.stdout)
    assert final.journal is None
    validate = reconcile(repo, ["validate", "--repo", str(repo)])
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert sorted(repo.rglob(TEMP_GLOB)) == []


@pytest.mark.parametrize(("layout", "point"), cases())
def test_another_command_after_a_kill_first_completes_the_interrupted_mutation(
    layout: Layout, point: CrashPoint, repo: Path, tmp_path: Path
) -> None:
    repo = make_repo(layout, repo, tmp_path)
    assert_killed(crash(point, layout, repo))

    rollback = reconcile(repo, rollback_args(repo))
    assert rollback.returncode == 0, rollback.stderr
    record = json.loads(rollback.stdout)
    expected = 25 if point.outcome == "before" else 50
    assert record["rollout"]["before"] == {"canaryPercent": expected, "manualPause": False}
    final = Snapshot.take(repo, layout)
    assert final.journal is None
    assert final.canary == expected
    assert len(keyed(final.records())) == (0 if point.outcome == "before" else 1)
    assert keyed(final.records(), "other-key") == [record]


def test_a_kill_while_recovering_is_completed_by_the_next_run(repo: Path) -> None:
    journal_point = next(point for point in CRASH_POINTS if point.name == "after-journal-write")
    assert_killed(crash(journal_point, SUPERLOOP, repo))
    # The retry rolls the journal forward first: its first atomic_write is the registry.
    recovery = CrashPoint("mid-recovery", "mid", "atomic_write", 1, "registry", "pending")
    assert_killed(crash(recovery, SUPERLOOP, repo))
    assert Snapshot.take(repo, SUPERLOOP).journal is not None

    retry = reconcile(repo, expand_args(repo))
    assert retry.returncode == 0, retry.stderr
    assert json.loads(retry.stdout)["replayed"] is True
    final = Snapshot.take(repo, SUPERLOOP)
    assert len(keyed(final.records())) == 1
    assert final.canary == 50
    assert final.journal is None
    assert sorted(repo.rglob(TEMP_GLOB)) == []


def test_a_checkout_moved_after_a_kill_recovers_in_its_new_place(
    repo: Path, tmp_path: Path
) -> None:
    journal_point = next(point for point in CRASH_POINTS if point.name == "after-registry-write")
    assert_killed(crash(journal_point, SUPERLOOP, repo))
    moved = tmp_path / "elsewhere" / "repo"
    moved.parent.mkdir()
    repo.rename(moved)

    retry = reconcile(moved, expand_args(moved))
    assert retry.returncode == 0, retry.stderr
    assert json.loads(retry.stdout)["replayed"] is True
    final = Snapshot.take(moved, SUPERLOOP)
    assert final.canary == 50
    assert len(keyed(final.records())) == 1
    assert not repo.exists()


def test_a_journal_naming_files_outside_the_layout_is_refused_and_writes_nothing(
    repo: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    hostile = {
        "schemaVersion": "v1",
        "replacements": [
            {"path": os.path.relpath(victim, repo / SUPERLOOP.folder), "text": "x", "before": None}
        ],
        "append": {"path": "telemetry/promotion-apply.jsonl", "offset": 0, "text": "{}\n"},
    }
    (repo / SUPERLOOP.folder / JOURNAL).write_text(json.dumps(hostile))

    result = reconcile(repo, rollback_args(repo))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "reason: journal_corrupt"
    assert "names files outside this layout" in result.stderr
    assert not victim.exists()
    assert not (repo / SUPERLOOP.telemetry).exists()
