"""verify with `trust:` set: reconciler commits signed by a bot key, approved trust-file changes.

Real ssh-keygen keys; a reconciler commit is re-signed in the test (the loop does not sign).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_private_key

from reconciler.core import ssh_signatures
from reconciler.core.audit import Finding
from reconciler.reports import audit_state
from reconciler.reports.audit import audit
from tests.support import gitrepos as g
from tests.support import signers as s

BOT = "rollout-reconciler"


@pytest.fixture
def keys(tmp_path: Path) -> s.Keys:
    return s.Keys(tmp_path / "keys")


@pytest.fixture
def repo(tmp_path: Path, keys: s.Keys) -> Path:
    """A trusted repo whose allowed signers list the bot, with one applied expand at HEAD."""
    repo = s.trusted_repo(tmp_path / "repo", keys)
    (repo / s.ALLOWED).write_text(
        keys.allowed_signers("alice", "bob", "carol", "dave", "eve", "gates-bot", BOT)
    )
    s.commit_as(repo, keys, "carol", "access: the bot's key", s.ALLOWED)
    s.pull_request(repo, keys, author="alice", approver="carol", name="001-expand.yaml", step=10)
    report = g.once(repo)
    assert [row.status for row in report.outcomes] == ["applied"]
    return repo


def resign_head(repo: Path, keys: s.Keys, principal: str) -> str:
    """Replace HEAD by the same commit signed by `principal`'s key (as a signing bot would)."""
    raw = subprocess.run(
        ["git", "cat-file", "commit", "HEAD"], cwd=repo, check=True, capture_output=True
    ).stdout
    key = load_ssh_private_key(keys.path(principal).read_bytes(), None)
    assert isinstance(key, ssh_signatures.SigningKey)
    signed = ssh_signatures.sign_commit(raw, key)
    sha = (
        subprocess.run(
            ["git", "hash-object", "-w", "-t", "commit", "--stdin"],
            cwd=repo,
            input=signed,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .strip()
    )
    g.git(repo, "update-ref", "HEAD", sha)
    return sha


def found(repo: Path) -> list[tuple[str, str, str]]:
    return [(str(f.kind), f.commit, f.detail) for f in audit(str(repo)).findings]


def forged(repo: Path) -> list[tuple[str, str, str]]:
    """The forged_trailers findings; a forged commit's changes are hand edits beside them."""
    findings = found(repo)
    kinds = {kind for kind, _, _ in findings}
    assert kinds <= {"forged_trailers", "hand_edit"}, findings
    return [finding for finding in findings if finding[0] == "forged_trailers"]


def test_an_unsigned_reconciler_commit_is_forged_when_bot_signers_are_set(repo: Path) -> None:
    assert forged(repo) == [("forged_trailers", g.head(repo), "not signed by a botSigners key")]


def test_a_reconciler_commit_signed_by_a_bot_key_is_verified(repo: Path, keys: s.Keys) -> None:
    resign_head(repo, keys, BOT)
    assert found(repo) == []
    done = g.reconcile(repo, "verify", "--repo", str(repo))
    assert done.returncode == 0, done.stdout + done.stderr


def test_trailers_signed_by_a_key_that_is_not_a_bot_are_forged(repo: Path, keys: s.Keys) -> None:
    sha = resign_head(repo, keys, "alice")
    assert forged(repo) == [("forged_trailers", sha, "not signed by a botSigners key")]
    # A forged commit's changes are checked as a person's: its registry edit is a hand edit.
    blocking: list[Finding] = audit_state.blocking_findings(str(repo))[0]
    assert {(str(f.kind), f.path) for f in blocking} >= {("hand_edit", g.REGISTRY)}


def test_without_bot_signers_an_unsigned_reconciler_commit_is_fine(tmp_path: Path) -> None:
    keys = s.Keys(tmp_path / "keys")
    settings = s.TRUST_SETTINGS.replace("  botSigners: [rollout-reconciler]\n", "")
    repo = s.trusted_repo(tmp_path / "repo", keys, settings=settings)
    s.pull_request(repo, keys, author="alice", approver="carol", name="001-expand.yaml", step=10)
    g.once(repo)
    assert found(repo) == []


@pytest.mark.parametrize(
    ("signer", "problem"),
    [
        ("bob", "signed by bob, not an approver"),
        (None, "not signed by an allowed signer (unsigned)"),
        ("mallory", "not signed by an allowed signer (unknown key)"),
    ],
    ids=["not-an-approver", "unsigned", "its-own-new-key"],
)
def test_a_trust_file_change_not_signed_by_an_approver_is_a_finding(
    tmp_path: Path, keys: s.Keys, signer: str | None, problem: str
) -> None:
    repo = s.trusted_repo(tmp_path / "repo", keys)
    (repo / s.ALLOWED).write_text(keys.allowed_signers("alice", "bob", "carol", "mallory"))
    sha = s.commit_as(repo, keys if signer else None, signer or "bob", "signers", s.ALLOWED)
    findings = audit(str(repo)).findings
    assert [(str(f.kind), f.commit, f.path) for f in findings] == [
        ("trust_file_unapproved", sha, s.ALLOWED)
    ]
    assert problem in findings[0].detail
    assert audit_state.blocking_findings(str(repo))[0] == findings  # it blocks expand/resume
    done = g.reconcile(repo, "verify", "--repo", str(repo))
    assert done.returncode == 4 and "trust_file_unapproved" in done.stdout


def test_a_trust_file_change_signed_by_an_approver_is_fine(tmp_path: Path, keys: s.Keys) -> None:
    repo = s.trusted_repo(tmp_path / "repo", keys)
    (repo / s.ACCESS).write_text(s.ACCESS_POLICY.replace("[carol, dave]", "[carol]"))
    s.commit_as(repo, keys, "dave", "policy: dave steps down", s.ACCESS)
    assert found(repo) == []


def test_a_trust_file_change_merged_by_an_approver_is_approved_by_the_merge(
    tmp_path: Path, keys: s.Keys
) -> None:
    repo = s.trusted_repo(tmp_path / "repo", keys)
    g.git(repo, "checkout", "-q", "-b", "pr-signers")
    (repo / s.ALLOWED).write_text(keys.allowed_signers("alice", "bob", "carol", "dave", "frank"))
    s.commit_as(repo, keys, "bob", "signers: frank", s.ALLOWED)  # bob is no approver...
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, keys, "carol", "pr-signers")  # ...carol's signed merge approves it
    assert found(repo) == []


def test_a_trust_file_change_merged_without_an_approver_is_the_merges_finding(
    tmp_path: Path, keys: s.Keys
) -> None:
    repo = s.trusted_repo(tmp_path / "repo", keys)
    g.git(repo, "checkout", "-q", "-b", "pr-signers")
    (repo / s.ALLOWED).write_text(keys.allowed_signers("alice", "bob", "carol", "dave", "frank"))
    s.commit_as(repo, keys, "carol", "signers: frank", s.ALLOWED)  # an approver wrote it...
    g.git(repo, "checkout", "-q", "main")
    merge = s.merge_as(repo, keys, "bob", "pr-signers")  # ...but bob merged it
    assert [(kind, sha) for kind, sha, _ in found(repo)] == [("trust_file_unapproved", merge)]


# reconciler.yaml's trust: and signing: are trust settings too (review wt-attack2) ----------


def _forge_reconciler_commit(repo: Path, canary: int) -> str:
    """A person's commit that looks like the reconciler's: registry, record, trailers agree."""
    import json

    from reconciler.core import audit_chain

    before = g.canary(repo)
    text = (repo / g.REGISTRY).read_text()
    (repo / g.REGISTRY).write_text(
        text.replace(f"canaryPercent: {before} ", f"canaryPercent: {canary} ", 1)
    )
    lines = (repo / g.TELEMETRY).read_text().splitlines()
    record = json.loads(lines[-1])
    record["rollout"]["before"]["canaryPercent"] = before
    record["rollout"]["after"]["canaryPercent"] = canary
    record["idempotencyKey"] = "forged-key"
    record["prevHash"] = audit_chain.line_hash(lines[-1].encode())
    lines.append(json.dumps(record, separators=(",", ":")))
    (repo / g.TELEMETRY).write_text("\n".join(lines) + "\n")
    sha = g.git(repo, "log", "-1", "--format=%H", "--grep=Reconcile-Status")
    trailers = {**g.trailers(repo, sha), "Idempotency-Key": "forged-key"}
    trailers["Canary"] = f"{before} -> {canary}"
    message = "expand fleet-a\n\n" + "\n".join(f"{k}: {v}" for k, v in trailers.items()) + "\n"
    return s.commit_as(repo, None, "eve", message, g.REGISTRY, g.TELEMETRY)


def _blocking(repo: Path) -> list[tuple[str, str]]:
    return [(str(f.kind), f.path) for f in audit_state.blocking_findings(str(repo))[0]]


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace("  botSigners: [rollout-reconciler]\n", ""),
        lambda text: text[: text.index("trust:")],
    ],
    ids=["bot-signers-dropped", "trust-block-removed"],
)
def test_an_unsigned_change_of_the_trust_settings_blocks(repo: Path, edit: object) -> None:
    """Judged with the trust settings of its first parent, even when HEAD has none left."""
    resign_head(repo, s.Keys(repo.parent / "keys"), BOT)
    config = repo / "reconciler.yaml"
    config.write_text(edit(config.read_text()))  # type: ignore[operator]
    sha = s.commit_as(repo, None, "eve", "config: tidy", "reconciler.yaml")
    _forge_reconciler_commit(repo, 80)
    found = [f for f in audit(str(repo)).unresolved if f.commit == sha]
    assert [(str(f.kind), f.path) for f in found] == [("trust_file_unapproved", "reconciler.yaml")]
    assert "not signed by an allowed signer (unsigned)" in found[0].detail
    assert ("trust_file_unapproved", "reconciler.yaml") in _blocking(repo)


def test_a_change_of_other_settings_in_reconciler_yaml_is_no_trust_change(repo: Path) -> None:
    config = repo / "reconciler.yaml"
    config.write_text(config.read_text() + "# a comment\n")
    s.commit_as(repo, None, "eve", "config: a comment", "reconciler.yaml")
    assert [f for f in audit(str(repo)).findings if f.path == "reconciler.yaml"] == []


def test_a_bot_key_added_by_an_unapproved_commit_blocks(repo: Path, keys: s.Keys) -> None:
    """The forged commit signed by that key passes as the bot's: the key's addition blocks."""
    resign_head(repo, keys, BOT)
    text = (repo / s.ALLOWED).read_text()
    (repo / s.ALLOWED).write_text(text + f"{BOT} {keys.public('mallory')}\n")
    s.commit_as(repo, None, "eve", "signers: tidy", s.ALLOWED)
    _forge_reconciler_commit(repo, 80)
    resign_head(repo, keys, "mallory")
    assert _blocking(repo) == [("trust_file_unapproved", s.ALLOWED)]


def test_an_unapproved_trust_change_is_resolved_by_an_approvers_later_change(
    repo: Path, keys: s.Keys
) -> None:
    """The re-approval is judged against the files before the unapproved change, also when
    the incremental (cached) check carries the finding."""
    resign_head(repo, keys, BOT)
    text = (repo / s.ALLOWED).read_text()
    (repo / s.ALLOWED).write_text(text + f"{BOT} {keys.public('mallory')}\n")
    bad = s.commit_as(repo, None, "eve", "signers: tidy", s.ALLOWED)
    assert [(f.commit, f.path) for f in audit_state.cached_blocking_findings(str(repo))[0]] == [
        (bad, s.ALLOWED)
    ]
    (repo / s.ALLOWED).write_text(text)
    fix = s.commit_as(repo, keys, "carol", "signers: drop mallory's key", s.ALLOWED)
    assert audit_state.cached_blocking_findings(str(repo))[0] == []  # incremental
    assert audit_state.blocking_findings(str(repo))[0] == []  # whole history
    found = [f for f in audit(str(repo)).findings if f.commit == bad]
    assert [(f.resolved, f.resolved_by) for f in found] == [("approved", fix)]


def test_a_change_signed_by_the_key_an_unapproved_change_added_approves_nothing(
    repo: Path, keys: s.Keys
) -> None:
    resign_head(repo, keys, BOT)
    text = (repo / s.ALLOWED).read_text()
    (repo / s.ALLOWED).write_text(text + f"carol {keys.public('mallory')}\n")
    s.commit_as(repo, None, "eve", "signers: tidy", s.ALLOWED)
    (repo / s.ALLOWED).write_text(text + f"carol {keys.public('mallory')}\n# ok\n")
    s.commit_as(repo, keys, "mallory", "signers: approve", s.ALLOWED)
    assert ("trust_file_unapproved", s.ALLOWED) in _blocking(repo)
