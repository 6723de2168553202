"""Exit codes that tell CI what to do: 1 fix the input, 75 (EX_TEMPFAIL) retry later.

Every command shares one error handler (`commands.common.handle_errors`): a RetryableError
(lock busy, remote unreachable, every push attempt lost) exits 75, any other refusal 1.
Run in-process (CliRunner) with a fixed clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.adapters import clock, locking
from reconciler.cli import cli
from reconciler.commands.edge import EXIT_REFUSED, EXIT_RETRYABLE, handle_errors
from reconciler.core.errors import RefusalError, RetryableError
from reconciler.core.reasons import ReasonCode
from reconciler.loop import once as once_module
from reconciler.loop.checkout import Checkout
from reconciler.loop.remote import PushConflict
from tests.support import fleet
from tests.support import gitrepos as g

GOVERNANCE = ["--by", "alice", "--approval-ref", "CAB-7", "--rationale", "why", "--review-by", "7d"]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "system_clock", lambda: g.FIXED)


def run(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv), catch_exceptions=False)


def reason(result: Result) -> str:
    return result.stderr.splitlines()[-1]


@pytest.fixture
def policy_repo(tmp_path: Path) -> Path:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(repo, {"a.yaml": {"step": 5}})
    return repo


def test_the_handler_maps_retryable_to_75_and_other_refusals_to_1() -> None:
    @handle_errors
    def failing(error: Exception) -> None:
        raise error

    with pytest.raises(SystemExit) as retry:
        failing(RetryableError(ReasonCode.LOCK_TIMEOUT, "busy"))
    with pytest.raises(SystemExit) as refuse:
        failing(RefusalError(ReasonCode.REGISTRY_INVALID, "bad"))

    assert (retry.value.code, refuse.value.code) == (EXIT_RETRYABLE, EXIT_REFUSED) == (75, 1)


# Lock busy --------------------------------------------------------------------------------


def test_apply_exits_75_when_the_lock_stays_busy(repo: Path) -> None:
    before = (repo / fleet.SUPERLOOP / "registry.v1.json").read_bytes()

    with locking.hold_locks([str(repo / fleet.SUPERLOOP)], 5.0):
        result = run(
            "apply", "--repo", str(repo), "--intent", "expand", *GOVERNANCE,
            "--lock-timeout", "200ms",
        )  # fmt: skip

    assert result.exit_code == 75, result.output
    assert reason(result) == "reason: lock_timeout"
    assert result.stdout == ""
    assert (repo / fleet.SUPERLOOP / "registry.v1.json").read_bytes() == before


def test_once_exits_75_when_the_lock_stays_busy(policy_repo: Path) -> None:
    with locking.hold_locks([str(policy_repo / "policies")], 5.0):
        result = run("--once", "--repo", str(policy_repo), "--lock-timeout", "200ms")

    assert result.exit_code == 75, result.output
    assert reason(result) == "reason: lock_timeout"
    assert g.pending(policy_repo) == ["a.yaml"]


# Remote unreachable -----------------------------------------------------------------------


def test_once_push_exits_75_when_the_remote_is_unreachable(
    policy_repo: Path, tmp_path: Path
) -> None:
    g.git(policy_repo, "remote", "add", "origin", str(tmp_path / "gone.git"))
    before = g.head(policy_repo)

    result = run("--once", "--push", "--repo", str(policy_repo))

    assert result.exit_code == 75, result.output
    assert reason(result) == "reason: remote_unavailable"
    assert g.head(policy_repo) == before and g.pending(policy_repo) == ["a.yaml"]


def test_dispatch_exits_75_when_the_remote_is_unreachable(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.git(repo, "remote", "add", "origin", str(tmp_path / "gone.git"))

    result = run("dispatch", "--mode", "rollback", "--push", "--repo", str(repo), *GOVERNANCE)

    assert result.exit_code == 75, result.output
    assert reason(result) == "reason: remote_unavailable"
    assert g.status(repo) == ""  # the intent file was withdrawn


# Every push attempt lost ------------------------------------------------------------------


def test_once_push_exits_75_when_every_push_attempt_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = g.make_policy_repo(tmp_path / "seed", settings="pushAttempts: 2\n")
    bare = g.make_remote(tmp_path, seed)
    clone = g.clone(bare, tmp_path / "clone")
    g.add_intents(clone, {"a.yaml": {"step": 5}})
    attempts: list[str] = []

    def always_lost(checkout: Checkout, _remote: str, _branch: str) -> bool:
        attempts.append(checkout.head)
        raise PushConflict("! [rejected] main -> main (fetch first)")

    monkeypatch.setattr(once_module, "push_head", always_lost)

    result = run("--once", "--push", "--repo", str(clone), "--json")

    assert result.exit_code == 75, result.output
    assert reason(result) == "reason: push_conflict"
    assert len(attempts) == 2
    assert "rejected 2 times" in result.stderr
    assert g.head(bare) == g.head(seed)  # nothing landed


# Refusals stay 1 --------------------------------------------------------------------------


def test_a_push_refused_by_a_hook_is_a_refusal_exit_1(tmp_path: Path) -> None:
    seed = g.make_policy_repo(tmp_path / "seed")
    bare = g.make_remote(tmp_path, seed)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    clone = g.clone(bare, tmp_path / "clone")
    g.add_intents(clone, {"a.yaml": {"step": 5}})

    result = run("--once", "--push", "--repo", str(clone))

    assert result.exit_code == 1, result.output
    assert reason(result) == "reason: push_rejected"


def test_an_invalid_registry_is_a_refusal_exit_1(policy_repo: Path) -> None:
    (policy_repo / g.REGISTRY).write_text("policy: [unclosed\n")
    g.commit_all(policy_repo, "break the registry")

    result = run("--once", "--repo", str(policy_repo), "--json")

    assert result.exit_code == 1, result.output
    assert reason(result).startswith("reason: registry_")
