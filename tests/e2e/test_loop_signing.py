"""Signed commits from real `reconcile` processes: `--once`, `--push` after a lost race, `dispatch`.

The key comes from RECONCILER_SIGNING_KEY_FILE or `signing:` in reconciler.yaml; git itself
checks every commit (`git verify-commit` with an allowed-signers file listing the bot's key).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support import signing as s

ENV = "RECONCILER_SIGNING_KEY_FILE"


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return s.make_key(tmp_path / "keys")


def _repo(tmp_path: Path, settings: str | None = None, name: str = "repo") -> Path:
    fresh = datetime.now(UTC) - timedelta(minutes=1)
    return g.make_policy_repo(tmp_path / name, generated_at=fresh, paced=False, settings=settings)


def test_once_with_the_variable_signs_every_commit(tmp_path: Path, key: Path) -> None:
    repo = _repo(tmp_path)
    base = g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": "intent: [\n", "c.yaml": {}})

    done = g.run_cli(repo, "--json", env={ENV: str(key)})

    assert done.returncode == 3, done.stderr  # b.yaml is rejected, and committed
    commits = g.git(repo, "rev-list", "--reverse", f"{base}..HEAD").split()
    assert len(commits) == 3
    assert [line["commit"] for line in g.json_lines(done.stdout)[:3]] == commits
    s.assert_all_signed(repo, commits, s.allowed_signers(key))


def test_once_with_the_settings_block_signs(tmp_path: Path, key: Path) -> None:
    repo = _repo(tmp_path, s.settings(key))
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    done = g.run_cli(repo)

    assert done.returncode == 0, done.stderr
    s.assert_all_signed(repo, [g.head(repo)], s.allowed_signers(key))


@pytest.mark.parametrize("passphrase", ["", "secret phrase"], ids=["missing", "passphrase"])
def test_an_unusable_key_exits_1_with_the_reason_and_commits_nothing(
    tmp_path: Path, passphrase: str
) -> None:
    repo = _repo(tmp_path)
    base = g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})
    bad = tmp_path / "keys" / "gone"
    if passphrase:
        bad = s.make_key(tmp_path / "keys", "locked", passphrase=passphrase)

    done = g.run_cli(repo, env={ENV: str(bad)})

    assert done.returncode == 1, done.stderr
    error, reason = done.stderr.splitlines()
    assert error.startswith(f"error: cannot sign with the key {bad} ({ENV}): ")
    assert reason == "reason: signing_key_invalid"
    assert g.head(repo) == base and g.pending(repo) == ["a.yaml"] and g.status(repo) == ""


def test_a_key_inside_the_repository_exits_1(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    key = s.make_key(repo / "keys")
    base = g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    done = g.run_cli(repo, env={ENV: str(key)})

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "reason: signing_key_in_repo"
    assert g.head(repo) == base


def test_openpgp_is_refused_as_not_supported_yet(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "signing:\n  format: openpgp\n  key: /etc/key.asc\n")
    base = g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    done = g.run_cli(repo)

    assert done.returncode == 1
    assert "signing.format openpgp is not supported yet (only ssh)" in done.stderr
    assert done.stderr.splitlines()[-1] == "reason: settings_invalid"
    assert g.head(repo) == base


def test_dispatch_signs_its_commit(tmp_path: Path, key: Path) -> None:
    repo = _repo(tmp_path)
    args = ["--by", "bob", "--approval-ref", "INC-9", "--rationale", "spike", "--review-by", "7d"]

    done = g.reconcile(repo, "dispatch", "--mode", "rollback", *args, env={ENV: str(key)})

    assert done.returncode == 0, done.stderr
    s.assert_all_signed(repo, [g.head(repo)], s.allowed_signers(key))


def test_the_loser_of_a_push_race_signs_the_commits_it_pushes(tmp_path: Path, key: Path) -> None:
    seed = _repo(tmp_path, name="seed")
    bare = g.make_remote(tmp_path, seed)
    a, b = g.clone(bare, tmp_path / "a"), g.clone(bare, tmp_path / "b")
    g.add_intents(seed, {"shared.yaml": {"step": 10}})
    g.git(seed, "push", "-q", "origin", "main")
    g.git(a, "pull", "-q", "--ff-only")
    g.add_intents(a, {"a-local.yaml": {"step": 5, "idempotencyKey": "local"}})
    # Clone B pushes first, from inside A's pass, just before A's first push (a rejected
    # push makes A reset to the remote and run its pass again).
    script = tmp_path / "race.py"
    script.write_text(RACE.format(rival=str(b)))

    done = subprocess.run(
        [sys.executable, str(script), str(a)],
        capture_output=True, text=True, timeout=100, check=False,
        env={**os.environ, "PYTHONPATH": str(g.ROOT), ENV: str(key)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["attempts=2", "pushed=True"]
    remote = g.git(bare, "rev-list", "main").split()
    base = g.git(seed, "rev-parse", "HEAD")
    ours = remote[: remote.index(base)]
    # B's commit of shared.yaml, then A's of a-local.yaml, made again after the reset.
    assert [g.trailer(bare, sha, "Reconcile-Intent") for sha in reversed(ours)] == [
        f"{g.INTENTS}/shared.yaml",
        f"{g.INTENTS}/a-local.yaml",
    ]
    s.assert_all_signed(bare, ours, s.allowed_signers(key))


RACE = """
import sys
from datetime import UTC, datetime
from reconciler.loop import once, remote
real = remote.push_head
calls = []
def push(checkout, name, branch):
    calls.append(1)
    if len(calls) == 1:
        rival = once.run_once(once.OnceOptions(repo={rival!r}, push=True), now=now)
        assert rival.pushed
    return real(checkout, name, branch)
now = lambda: datetime.now(UTC)
once.push_head = push
report = once.run_once(once.OnceOptions(repo=sys.argv[1], push=True), now=now)
print(f"attempts={{report.attempts}}", f"pushed={{report.pushed}}")
"""
