"""A policy repository whose reconcile commits are bot-signed, unsigned and forged (real keys).

Shared by tests/reports/test_history_signatures.py (in-process) and tests/e2e/test_history.py
(the command as a real process). A real unsigned `--once` commit is re-signed here with the
bot's key (`ssh_signatures.sign_commit`), written with `git hash-object` and moved to by
`git update-ref`, as a signing reconciler leaves it (tests/loop/test_once_signing.py signs
through `signing:` itself).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import load_ssh_private_key

from reconciler.core import ssh_signatures
from tests.support import gitrepos as g
from tests.support import histories as h
from tests.support.signers import Keys, commit_as

ALLOWED = "policies/access/allowed_signers"
BOT = "rollout-reconciler"
TRUST = f"""\
trust:
  allowedSigners: {ALLOWED}
  requireSignedIntents: false
  botSigners: [{BOT}]
"""


class SignedHistory(NamedTuple):
    """The repository and its reconcile commits, newest last in creation order."""

    repo: Path
    verified: str
    """A real `--once` commit, re-signed by the bot."""
    unsigned: str
    """A real `--once` commit, as the loop wrote it."""
    forged: str
    """A hand-made commit with reconcile trailers, signed by alice (an allowed signer, no bot)."""
    unknown: str
    """A hand-made commit with reconcile trailers, signed by a key no file lists."""


def sign_head(repo: Path, keys: Keys, principal: str) -> str:
    """Replace HEAD by the same commit signed by `principal`; return the new SHA."""
    old = g.head(repo)
    payload = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "commit", old], capture_output=True, check=True
    ).stdout
    key = load_ssh_private_key(keys.path(principal).read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    signed = ssh_signatures.sign_commit(payload, key)
    new = (
        subprocess.run(
            ["git", "-C", str(repo), "hash-object", "-w", "-t", "commit", "--stdin"],
            input=signed,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    g.git(repo, "update-ref", "HEAD", new, old)
    return new


def forged_message(actor: str = "alice") -> str:
    """A reconcile commit's message, written by hand."""
    return (
        "expand fleet-a canary 25% -> 90% (CAB-9)\n\n"
        "Reconcile-Status: applied\n"
        "Reconcile-Action: expand\n"
        f"Actor: {actor}\n"
    )


def make_signed_history(tmp: Path) -> SignedHistory:
    """Four reconcile commits: unsigned (loop), verified (loop, re-signed), forged, unknown key."""
    keys = Keys(tmp / "keys")
    repo = g.make_policy_repo(tmp / "repo", settings=TRUST, paced=False)
    (repo / ALLOWED).parent.mkdir(parents=True, exist_ok=True)
    (repo / ALLOWED).write_text(keys.allowed_signers(BOT, "alice"))
    g.commit_all(repo, "access: allowed signers")
    g.add_intents(repo, {"20261124T0900Z-expand.yaml": {"step": 5}})
    g.once(repo)
    unsigned = g.head(repo)
    g.add_intents(repo, {"20261124T0930Z-expand.yaml": {"step": 5, "approval_ref": "CAB-2"}})
    g.once(repo)
    verified = sign_head(repo, keys, BOT)
    forged = _hand_made(repo, keys, "alice")
    unknown = _hand_made(repo, Keys(tmp / "other-keys"), BOT)  # named "bot", not its key
    return SignedHistory(repo, verified, unsigned, forged, unknown)


def _hand_made(repo: Path, keys: Keys, principal: str) -> str:
    (repo / "notes.txt").write_text(f"{principal}\n", encoding="utf-8")
    return commit_as(repo, keys, principal, forged_message(), "notes.txt")


def hostile_commit(repo: Path, name: str) -> str:
    """An unsigned reconcile commit authored and committed by `name` (control characters...)."""
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_COMMITTER_NAME": name,
        "GIT_AUTHOR_EMAIL": "x\x1b[2J@example.com",
    }
    h.git(repo, "commit", "-q", "--allow-empty", "-m", forged_message(), env=env)
    return h.git(repo, "rev-parse", "HEAD")
