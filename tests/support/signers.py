"""Real SSH signing keys (`ssh-keygen`) and signed commits and merges, for the trust tests."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.support import gitrepos as g

ALLOWED = "policies/access/allowed_signers"
ACCESS = "policies/access/policy.yaml"
TRUST_SETTINGS = f"""\
trust:
  allowedSigners: {ALLOWED}
  requireSignedIntents: true
  bindActorToSigner: true
  decisionSigners: [gates-bot]
  botSigners: [rollout-reconciler]
  access: {ACCESS}
"""
ACCESS_POLICY = """\
request:
  expand: [alice, bob, dave]
  resume: [alice, bob, dave]
  rollback: ["*"]
approve:
  principals: [carol, dave]
  required: true
  distinctFromRequester: true
"""


class Keys:
    """One ed25519 key per principal, made on first use in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, principal: str) -> Path:
        """The private key file of `principal` (made now when missing)."""
        key = self.folder / principal
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", str(key)],
                check=True,
            )
        return key

    def public(self, principal: str) -> str:
        """`ssh-ed25519 AAAA...` of `principal`."""
        self.path(principal)
        return " ".join((self.folder / f"{principal}.pub").read_text().split()[:2])

    def allowed_signers(self, *principals: str, options: dict[str, str] | None = None) -> str:
        """An allowed-signers file listing these principals (with per-principal options)."""
        lines = []
        for name in principals:
            extra = f"{options[name]} " if options and name in options else ""
            lines.append(f"{name} {extra}{self.public(name)}")
        return "\n".join(lines) + "\n"

    def sign_args(self, principal: str) -> list[str]:
        """`git -c ...` arguments that make a commit signed by `principal`."""
        return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={self.path(principal)}"]


def commit_as(
    repo: Path, keys: Keys | None, principal: str, message: str, *paths: str, date: str = ""
) -> str:
    """Commit `paths` (already written) as `principal`, signed unless `keys` is None."""
    g.git(repo, "add", "--", *paths)
    sign = [*keys.sign_args(principal), "commit", "-S"] if keys else ["commit"]
    env = {"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date} if date else {}
    _git_env(
        repo,
        env,
        "-c",
        f"user.name={principal}",
        "-c",
        f"user.email={principal}@example.com",
        *sign,
        "-q",
        "--no-verify",
        "-m",
        message,
    )
    return g.head(repo)


def merge_as(repo: Path, keys: Keys | None, principal: str, branch: str) -> str:
    """Merge `branch` into the checked-out branch with a merge commit by `principal`."""
    sign = [*keys.sign_args(principal), "merge", "-S"] if keys else ["merge"]
    g.git(
        repo,
        "-c",
        f"user.name={principal}",
        "-c",
        f"user.email={principal}@example.com",
        *sign,
        "-q",
        "--no-ff",
        "-m",
        f"Merge {branch}",
        branch,
    )
    return g.head(repo)


def pull_request(
    repo: Path,
    keys: Keys,
    *,
    author: str,
    approver: str | None,
    name: str,
    signed: bool = True,
    **intent: Any,
) -> str:
    """An intent written and signed by `author` on a branch, merged by `approver`.

    `approver=None` pushes it straight to main (no merge). Returns the branch's head.
    """
    intent.setdefault("actor", author)
    if approver is None:
        g.write_intent(repo, name, **intent)
        return commit_as(
            repo, keys if signed else None, author, f"intent {name}", f"{g.INTENTS}/{name}"
        )
    g.git(repo, "checkout", "-q", "-b", f"pr-{name}")
    g.write_intent(repo, name, **intent)
    commit_as(repo, keys if signed else None, author, f"intent {name}", f"{g.INTENTS}/{name}")
    g.git(repo, "checkout", "-q", "main")
    return merge_as(repo, keys, approver, f"pr-{name}")


def trusted_repo(path: Path, keys: Keys, *, settings: str = TRUST_SETTINGS, **kw: object) -> Path:
    """A policy repo with trust on: allowed signers, access policy, a signed decision."""
    repo = g.make_policy_repo(path, settings=settings, paced=False, **kw)  # type: ignore[arg-type]
    (repo / ALLOWED).parent.mkdir(parents=True, exist_ok=True)
    (repo / ALLOWED).write_text(
        keys.allowed_signers("alice", "bob", "carol", "dave", "eve", "gates-bot")
    )
    (repo / ACCESS).write_text(ACCESS_POLICY)
    commit_as(repo, keys, "carol", "access: signers and policy", ALLOWED, ACCESS)
    signed_decision(repo, keys, "gates-bot")
    return repo


def signed_decision(
    repo: Path, keys: Keys | None, principal: str, decision: str = "promote", trace: str = "0700"
) -> str:
    """A new decision committed by `principal` (signed unless `keys` is None)."""
    g.write_decision(
        repo, decision, generated_at=g.FIXED - timedelta(hours=5), trace_id=f"gates-{trace}"
    )
    return commit_as(repo, keys, principal, f"decision: {decision}", g.DECISION)


def _git_env(repo: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **env}
    )
