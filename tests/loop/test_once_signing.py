"""Signed commits of `--once` and `repair-index`, in-process, checked by `git verify-commit`.

Keys come from the real `ssh-keygen` in the test's folder; git itself verifies every commit
against an allowed-signers file listing the bot's key.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.loop import head_move
from reconciler.loop.repair import repair_index
from tests.support import gitrepos as g
from tests.support import signing as s
from tests.support.gitrepos import FIXED, INDEX
from tests.support.loops import two_passes

ENV = "RECONCILER_SIGNING_KEY_FILE"


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return s.make_key(tmp_path / "keys")


def _signed_repo(tmp_path: Path, key: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo", paced=False, settings=s.settings(key))


def _new_commits(repo: Path, base: str) -> list[str]:
    return g.git(repo, "rev-list", "--reverse", f"{base}..HEAD").split()


def test_every_commit_of_a_pass_is_signed_applied_rejected_and_replayed(
    tmp_path: Path, key: Path
) -> None:
    repo = _signed_repo(tmp_path, key)
    base = g.add_intents(
        repo,
        {
            "a.yaml": {"step": 10, "idempotencyKey": "rollout-42"},
            "b.yaml": "intent: expand\nexpandStep: [\n",
            "c.yaml": {"step": 10, "idempotencyKey": "rollout-42"},
            "d.yaml": {"intent": "rollback", "approval_ref": "INC-9"},
        },
    )

    report = g.once(repo)

    assert g.statuses(report) == [
        ("a.yaml", "applied"),
        ("b.yaml", "rejected"),
        ("c.yaml", "replayed"),
        ("d.yaml", "applied"),
    ]
    # The branch holds exactly the signed commits, chained: each one's parent is the signed
    # copy of its predecessor, never an unsigned commit of fast-import's.
    assert _new_commits(repo, base) == report.commits
    assert report.head == g.head(repo) == report.commits[-1]
    s.assert_all_signed(repo, report.commits, s.allowed_signers(key))
    assert g.status(repo) == ""
    assert g.canary(repo) == 35
    assert (
        g.subject(repo, report.commits[2]) == "replay c: key rollout-42 already applied (CAB-123)"
    )
    assert g.git(repo, "fsck", "--no-dangling", "--connectivity-only") == ""


def test_a_signature_by_another_key_is_not_accepted(tmp_path: Path, key: Path) -> None:
    # The check above can fail: a signature git cannot tie to an allowed key is refused.
    repo = _signed_repo(tmp_path, key)
    g.add_intents(repo, {"a.yaml": {"step": 10}})
    report = g.once(repo)

    other = s.allowed_signers(s.make_key(tmp_path / "other"))

    assert s.verify(repo, report.head, other).returncode != 0
    assert s.verify(repo, report.head, s.allowed_signers(key)).returncode == 0


def test_without_signing_the_commits_are_unsigned(tmp_path: Path, key: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    g.add_intents(repo, {"a.yaml": {"step": 10}})

    report = g.once(repo)

    assert "gpgsig" not in g.git(repo, "cat-file", "commit", report.head)
    assert s.verify(repo, report.head, s.allowed_signers(key)).returncode != 0


def test_an_rsa_key_signs_too(tmp_path: Path) -> None:
    key = s.make_key(tmp_path / "keys", kind="rsa")
    repo = _signed_repo(tmp_path, key)
    g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"step": 5}})

    report = g.once(repo)

    s.assert_all_signed(repo, report.commits, s.allowed_signers(key))


def test_the_environment_variable_signs_without_a_signing_block(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    g.add_intents(repo, {"a.yaml": {"step": 10}})
    monkeypatch.chdir(key.parent)
    monkeypatch.setenv(ENV, key.name)  # relative: to the directory the command runs in

    report = g.once(repo)

    s.assert_all_signed(repo, report.commits, s.allowed_signers(key))


def test_the_environment_variable_wins_over_reconciler_yaml(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _signed_repo(tmp_path, tmp_path / "keys" / "gone")
    g.add_intents(repo, {"a.yaml": {"step": 10}})
    monkeypatch.setenv(ENV, str(key))

    report = g.once(repo)

    s.assert_all_signed(repo, report.commits, s.allowed_signers(key))


def test_an_empty_environment_variable_refuses_rather_than_signing_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    base = g.add_intents(repo, {"a.yaml": {"step": 10}})
    monkeypatch.setenv(ENV, "")

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "signing_key_invalid"
    assert ENV in caught.value.message
    assert g.head(repo) == base


def _encrypted(folder: Path) -> Path:
    return s.make_key(folder, "locked", passphrase="secret phrase")


def _ecdsa(folder: Path) -> Path:
    return s.make_key(folder, "ecdsa", kind="ecdsa")


def _public_half(folder: Path) -> Path:
    return Path(f"{s.make_key(folder, 'pub')}.pub")


def _pem(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    return path


def _missing(folder: Path) -> Path:
    return folder / "no-such-key"


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (_missing, "there is no such file"),
        (_encrypted, "it is protected by a passphrase"),
        (_ecdsa, "its type (ecdsa-sha2-nistp256) is not ed25519 or RSA"),
        (_public_half, "it is not an OpenSSH private key"),
        (_pem, "it is not an OpenSSH private key"),
    ],
    ids=["missing", "passphrase", "ecdsa", "public-key", "not-openssh"],
)
def test_an_unusable_key_commits_nothing_and_says_why(
    tmp_path: Path, make: object, why: str
) -> None:
    assert callable(make)
    bad = make(tmp_path / "keys")
    repo = _signed_repo(tmp_path, bad)
    base = g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"intent": "rollback"}})

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "signing_key_invalid"
    assert why in caught.value.message and str(bad) in caught.value.message
    assert "\n" not in caught.value.message
    # Fail closed: no commit, nothing consumed, the checkout untouched.
    assert g.head(repo) == base
    assert g.pending(repo) == ["a.yaml", "b.yaml"]
    assert g.status(repo) == ""


def test_a_key_inside_the_repository_is_refused(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    key = s.make_key(repo / "secrets")
    (repo / "reconciler.yaml").write_text(s.settings(key))
    base = g.commit_all(repo, "settings")
    g.write_intent(repo, "a.yaml", step=10)

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "signing_key_in_repo"
    assert g.head(repo) == base and g.pending(repo) == ["a.yaml"]


def test_a_key_that_resolves_into_the_repository_through_a_link_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    inside = s.make_key(repo / ".git" / "keys")  # not tracked, but still in the worktree
    os.symlink(inside, tmp_path / "link")
    base = g.add_intents(repo, {"a.yaml": {"step": 10}})
    monkeypatch.setenv(ENV, str(tmp_path / "link"))

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "signing_key_in_repo"
    assert g.head(repo) == base


def test_a_pass_with_nothing_to_commit_does_not_read_the_key(tmp_path: Path) -> None:
    repo = _signed_repo(tmp_path, tmp_path / "keys" / "gone")

    report = g.once(repo)

    assert report.outcomes == []


def test_the_repair_commit_is_signed(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = two_passes(tmp_path)
    (repo / INDEX).write_text('{"schemaVersion":"v1","keys":{}}\n')
    g.commit_all(repo, "hand edit of the index")
    monkeypatch.setenv(ENV, str(key))

    result = repair_index(str(repo), commit=True, now=lambda: FIXED)

    assert result["commit"] == g.head(repo)
    s.assert_all_signed(repo, [result["commit"]], s.allowed_signers(key))
    assert g.status(repo) == ""


def test_the_repair_commit_is_not_made_with_an_unusable_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = two_passes(tmp_path)
    (repo / INDEX).write_text('{"schemaVersion":"v1","keys":{}}\n')
    base = g.commit_all(repo, "hand edit of the index")
    monkeypatch.setenv(ENV, str(tmp_path / "gone"))

    with pytest.raises(RefusalError) as caught:
        repair_index(str(repo), commit=True, now=lambda: FIXED)

    assert caught.value.reason == "signing_key_invalid"
    assert g.head(repo) == base


def _count_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a `git` on PATH that logs its arguments, then runs the real one."""
    real = next(
        os.path.join(folder, "git")
        for folder in os.environ["PATH"].split(os.pathsep)
        if os.access(os.path.join(folder, "git"), os.X_OK)
    )
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "git.log"
    wrapper = folder / "git"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def _commands(calls: list[str]) -> list[str]:
    """Each logged git call as its subcommand and first argument (no `-c` options, paths)."""
    out = []
    for call in calls:
        words = call.split()
        while words and words[0] == "-c":
            words = words[2:]
        out.append(" ".join(words[:2]))
    return out


def test_a_pass_of_500_intents_signs_them_all_with_a_fixed_number_of_git_processes(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsigned = g.make_policy_repo(tmp_path / "unsigned", paced=False)
    repo = _signed_repo(tmp_path, key)
    for number in range(500):
        kind = {"intent": "rollback"} if number % 2 else {"intent": "resume"}
        g.write_intent(repo, f"{number:04d}.yaml", **kind)
        if number < 3:
            g.write_intent(unsigned, f"{number:04d}.yaml", **kind)
    base = g.head(repo)
    log = _count_git(tmp_path, monkeypatch)
    # One route for the HEAD move of 3 intents and of 500 (test_head_move.py covers both).
    monkeypatch.setattr(head_move, "FEW_PATHS", 0)
    g.once(unsigned)
    baseline = _commands(log.read_text().splitlines())
    log.unlink()

    report = g.once(repo)

    calls = _commands(log.read_text().splitlines())
    assert len(report.commits) == 500 and all(report.commits)
    assert _new_commits(repo, base) == report.commits
    # Not a process per commit: the pass runs what an unsigned pass of 3 runs, plus three
    assert sorted(calls) == sorted(
        [*baseline, "cat-file --batch", "index-pack --stdin", "update-ref -d"]
    )
    assert len(calls) < 20
    allowed = s.allowed_signers(key)
    s.assert_all_signed(repo, [report.commits[0], report.commits[250], report.head], allowed)
    checked = g.git(
        repo, "-c", f"gpg.ssh.allowedSignersFile={allowed}", "log", "--format=%G?", f"{base}..HEAD"
    )
    assert checked.split() == ["G"] * 500


def test_intents_left_pending_by_a_refused_pass_are_signed_by_the_next(
    tmp_path: Path, key: Path
) -> None:
    repo = _signed_repo(tmp_path, tmp_path / "keys" / "not-yet")
    base = g.add_intents(repo, {"a.yaml": {"step": 10}})
    with pytest.raises(RefusalError):
        g.once(repo)
    shutil.copy(key, tmp_path / "keys" / "not-yet")

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert g.git(repo, "rev-parse", f"{report.head}^") == base
    s.assert_all_signed(repo, report.commits, s.allowed_signers(key))
    assert g.pending(repo) == [] and g.processed(repo, "applied") == ["a.yaml"]


def test_a_sha256_repository_is_refused_without_a_commit(tmp_path: Path, key: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    g.git(repo, "init", "-q", "--object-format=sha256", "-b", "main")
    g.make_policy_repo(repo, paced=False, settings=s.settings(key))
    base = g.add_intents(repo, {"a.yaml": {"step": 10}})

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "signing_unsupported"
    assert g.head(repo) == base and g.pending(repo) == ["a.yaml"]
    assert g.status(repo) == ""


def test_review_findings_on_signing_hold(tmp_path: Path) -> None:
    """Found by a review: an emptied `signing:` block meant unsigned; a hard-linked key was
    accepted (another name of it may be inside the repository)."""
    import os

    from reconciler.adapters.signing_keys import load_signing_key
    from reconciler.core.errors import RefusalError
    from reconciler.core.repo_settings import parse_repo_settings

    with pytest.raises(RefusalError) as caught:
        parse_repo_settings({"signing": None}, "reconciler.yaml")
    assert "signing is empty" in " ".join(caught.value.details)
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    load_signing_key(str(key), source="test", repository=str(tmp_path / "repo"))
    os.link(key, tmp_path / "another-name")
    with pytest.raises(RefusalError) as caught:
        load_signing_key(str(key), source="test", repository=str(tmp_path / "repo"))
    assert "other hard links" in caught.value.message
