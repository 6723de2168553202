"""A dispatch retried after exit 75 (what rollout-dispatch.yml does) applies its intent once.

The workflow passes `--idempotency-key dispatch-$GITHUB_RUN_ID`. When every push attempt is
lost, the pass's commit stays local; the retry writes a new intent file with the same key,
so it replays instead of expanding the canary a second time (without a key, each dispatch
gets a new one and the retry would expand to 45%).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.adapters import clock
from reconciler.cli import cli
from reconciler.loop import once as once_module
from reconciler.loop import remote
from reconciler.loop.checkout import Checkout
from reconciler.loop.remote import PushConflict
from tests.support import gitrepos as g

GOVERNANCE = ["--by", "alice", "--approval-ref", "CAB-7", "--rationale", "why", "--review-by", "7d"]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "system_clock", lambda: g.FIXED)


def dispatch(repo: Path, *extra: str) -> Result:
    argv = ["dispatch", "--mode", "apply", "--expand-step", "10", *GOVERNANCE]
    return CliRunner().invoke(cli, [*argv, "--repo", str(repo), "--push", *extra])


def remote_canary(bare: Path) -> int:
    for line in g.git(bare, "show", f"main:{g.REGISTRY}").splitlines():
        if line.strip().startswith("canaryPercent:"):
            return int(line.split(":", 1)[1].split("#", 1)[0])
    raise AssertionError("no canaryPercent")


def remote_applied(bare: Path) -> Counter[str]:
    text = g.git(bare, "show", f"main:{g.TELEMETRY}", check=False)
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return Counter(r["idempotencyKey"] for r in records if r["status"] == "applied")


def lose_every_push_then_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *key: str
) -> tuple[Path, Result]:
    seed = g.make_policy_repo(tmp_path / "seed", settings="pushAttempts: 2\n")
    bare = g.make_remote(tmp_path, seed)
    runner = g.clone(bare, tmp_path / "runner")
    real = remote.push_head

    def lost(_checkout: Checkout, _remote: str, _branch: str) -> bool:
        raise PushConflict("! [rejected] main -> main (fetch first)")

    monkeypatch.setattr(once_module, "push_head", lost)
    first = dispatch(runner, *key)
    assert first.exit_code == 75, first.output
    assert first.stderr.splitlines()[-1] == "reason: push_conflict"
    monkeypatch.setattr(once_module, "push_head", real)
    return bare, dispatch(runner, *key, "--json")


def test_a_retry_with_the_same_key_applies_the_expand_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, retry = lose_every_push_then_retry(
        tmp_path, monkeypatch, "--idempotency-key", "dispatch-42"
    )

    assert retry.exit_code == 0, retry.output
    result = json.loads(retry.stdout)
    assert result["record"]["replayed"] is True
    assert remote_canary(bare) == 35  # 25 + 10, once
    assert remote_applied(bare) == Counter({"dispatch-42": 1})
