"""`reconcile apply` and the loop decide alike on the same telemetry.

Real git repositories (the loop), with `apply` run in-process on the same files. One
rulebook means one answer: telemetry that lost records, or whose sealed segment cannot be
read, refuses expand and resume on both paths (a retried key still in the file included) and
never stops a rollback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from tests.support import gitrepos as g
from tests.support.applying import apply
from tests.support.gitrepos import TELEMETRY


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two expands applied by the loop on one decision (pacing off): 10-expand, 20-expand."""
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    g.add_intents(repo, {"10-expand.yaml": {"step": 10}, "20-expand.yaml": {"step": 10}})
    g.once(repo)
    return repo


@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    """Three expands with telemetryRotateBytes 2048: one sealed segment (pacing off)."""
    repo = g.make_policy_repo(
        tmp_path / "repo", settings="telemetryRotateBytes: 2048\n", paced=False
    )
    g.add_intents(repo, {f"{n:03d}.yaml": {"step": 1} for n in range(3)})
    g.once(repo, clock=g.ticking_clock())
    assert list((repo / "policies/telemetry").glob("promotion-apply.*.jsonl"))
    return repo


def apply_reason(repo: Path, intent: str, key: str, step: str | None = None) -> str:
    """`reconcile apply` on the repo: 'applied', 'replayed' or the refusal's reason code."""
    try:
        result = apply(repo, intent, now=g.FIXED, idempotency_key=key, expand_step=step)
    except RefusalError as exc:
        return str(exc.reason)
    return "replayed" if result.replayed else "applied"


@pytest.mark.parametrize("damage", ["corrupt-line", "truncated"])
def test_a_retried_key_still_in_damaged_telemetry_is_refused_on_both_paths(
    repo: Path, damage: str
) -> None:
    telemetry = repo / TELEMETRY
    lines = telemetry.read_text().splitlines(keepends=True)
    # 10-expand's record stays in the file either way.
    telemetry.write_text(
        "".join(lines) + "<<<<<<< HEAD\n" if damage == "corrupt-line" else lines[0]
    )
    g.commit_all(repo, "damage the telemetry")

    by_apply = apply_reason(repo, "expand", "10-expand", "10")
    g.add_intents(repo, {"30-again.yaml": {"step": 10, "idempotencyKey": "10-expand"}})
    outcome = g.once(repo).outcomes[0]

    assert by_apply == "telemetry_corrupt"
    assert (outcome.status, outcome.reasons) == ("rejected", ("telemetry_corrupt",))


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_sealed_segment_that_cannot_be_read_never_stops_a_keyed_rollback(
    rotated: Path, kind: str
) -> None:
    bad = rotated / "policies/telemetry/promotion-apply.20300101T000000Z.jsonl"
    if kind == "folder":
        bad.mkdir()
        (bad / "x").write_text("x\n")
    else:
        os.mkfifo(bad)

    assert apply_reason(rotated, "expand", "new", "1") == ("telemetry_corrupt")
    result = apply(rotated, "rollback", now=g.FIXED, idempotency_key="zzz")
    assert result.record["rollout"]["after"]["manualPause"] is True
    assert "telemetry_corrupt" in result.record["reasonCodes"]

    if kind == "folder":  # git keeps no FIFO: only the folder reaches the loop
        g.commit_all(rotated, "a folder named like a segment")
        g.add_intents(rotated, {"x-rollback.yaml": {"intent": "rollback", "approval_ref": "INC-9"}})
        outcome = g.once(rotated, at=g.FIXED.replace(hour=15)).outcomes[0]
        assert outcome.status == "applied"
        assert "telemetry_corrupt" in outcome.reasons
