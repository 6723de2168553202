"""Signing keys made by the real `ssh-keygen`, and `git verify-commit` against them."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_key(folder: Path, name: str = "bot", kind: str = "ed25519", passphrase: str = "") -> Path:
    """A new OpenSSH private key file (and its .pub) made by ssh-keygen; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    extra = ["-b", "3072"] if kind == "rsa" else ["-b", "256"] if kind == "ecdsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *extra, "-N", passphrase, "-C", name, "-f", str(path)],
        check=True,
    )
    return path


def allowed_signers(key: Path, principal: str = "reconciler@localhost") -> Path:
    """An allowed-signers file beside `key` listing its public half for `principal`."""
    public = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    path = key.parent / f"{key.name}.allowed"
    path.write_text(f"{principal} {public}\n")
    return path


def verify(repo: Path, sha: str, allowed: Path) -> subprocess.CompletedProcess[str]:
    """`git verify-commit` of `sha` with `allowed` as the allowed-signers file."""
    return subprocess.run(
        ["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", sha],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )


def assert_all_signed(repo: Path, shas: list[str], allowed: Path) -> None:
    """Every one of `shas` carries a good signature by the allowed key (git says so)."""
    assert shas
    for sha in shas:
        done = verify(repo, sha, allowed)
        assert done.returncode == 0, (sha, done.stderr)
        assert 'Good "git" signature' in done.stderr


def settings(key: Path) -> str:
    """reconciler.yaml's signing block for `key`."""
    return f"signing:\n  format: ssh\n  key: {key}\n"
