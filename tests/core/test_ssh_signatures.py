"""SSH commit signatures against real `ssh-keygen` keys and real `git verify-commit`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_private_key
from sshsig.sshsig import SshsigSignature, ssh_enarmor_sshsig

from reconciler.core import ssh_signatures as sigs


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=repo, input=data, capture_output=True, check=True
    ).stdout


def _key(folder: Path, name: str, kind: str = "ed25519") -> Path:
    path = folder / name
    extra = ["-b", "3072"] if kind == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", name, "-f", str(path)],
        check=True,
    )
    return path


def _public(path: Path) -> str:
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "Alice")
    _git(repo, "config", "user.email", "alice@example.com")
    (repo / "a.txt").write_text("a\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-q", "-m", "first")
    return repo


def _raw(repo: Path, rev: str = "HEAD") -> bytes:
    return _git(repo, "cat-file", "commit", rev)


def _signed_by_git(repo: Path, key: Path, when: str | None = None) -> bytes:
    (repo / "b.txt").write_text(f"{key.name} {when} {_raw(repo)[:46]!r}\n")
    _git(repo, "add", "b.txt")
    args = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"]
    if when:
        subprocess.run(
            ["git", *args, "commit", "-q", "-S", "-m", "signed"],
            cwd=repo,
            check=True,
            env={"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when, "PATH": "/usr/bin:/bin"},
        )
    else:
        _git(repo, *args, "commit", "-q", "-S", "-m", "signed")
    return _raw(repo)


def test_a_commit_git_signed_is_good_with_its_principal(repo: Path, tmp_path: Path) -> None:
    key = _key(tmp_path, "alice")
    raw = _signed_by_git(repo, key)
    allowed = sigs.parse_allowed_signers(f"alice,alice@example.com {_public(key)}\n")
    check = sigs.check_commit(raw, allowed)
    assert check.status == "good"
    assert check.principals == ("alice", "alice@example.com")
    assert check.fingerprint and check.fingerprint.startswith("SHA256:")


def test_unsigned_tampered_and_unknown(repo: Path, tmp_path: Path) -> None:
    alice, mallory = _key(tmp_path, "alice"), _key(tmp_path, "mallory")
    allowed = sigs.parse_allowed_signers(f"alice {_public(alice)}\n")
    assert sigs.check_commit(_raw(repo), allowed).status == "unsigned"
    raw = _signed_by_git(repo, alice)
    tampered = raw.replace(b"\n\nsigned", b"\n\nsigneD")
    assert sigs.check_commit(tampered, allowed).status == "invalid"
    assert sigs.check_commit(_signed_by_git(repo, mallory), allowed).status == "unknown_key"
    # A line for another namespace does not let the key sign commits.
    only_files = sigs.parse_allowed_signers(f'alice namespaces="file" {_public(alice)}\n')
    assert sigs.check_commit(raw, only_files).status == "unknown_key"


def test_validity_is_checked_at_the_committer_time(repo: Path, tmp_path: Path) -> None:
    key = _key(tmp_path, "alice")
    raw = _signed_by_git(repo, key, when="1767225600 +0000")  # 2026-01-01T00:00:00Z
    public = _public(key)
    expired = sigs.parse_allowed_signers(f'alice valid-before="20251231" {public}\n')
    assert sigs.check_commit(raw, expired).status == "expired"
    early = sigs.parse_allowed_signers(f'alice valid-after="20260102000000Z" {public}\n')
    assert sigs.check_commit(raw, early).status == "not_yet_valid"
    window = f'alice valid-after="20251201",valid-before="20260201" {public}\n'
    assert sigs.check_commit(raw, sigs.parse_allowed_signers(window)).good
    # Rotation: the old key's line ended, the new one's began; each verifies in its time.
    rotated = sigs.parse_allowed_signers(
        f'alice valid-before="20251231" {public}\nalice valid-after="20251231" {public}\n'
    )
    assert sigs.check_commit(raw, rotated).principals == ("alice",)


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_our_signature_is_accepted_by_git_verify_commit(
    repo: Path, tmp_path: Path, kind: str
) -> None:
    path = _key(tmp_path, "bot", kind)
    key = load_ssh_private_key(path.read_bytes(), password=None)
    assert isinstance(key, sigs.SigningKey)
    payload = _raw(repo)
    signed = sigs.sign_commit(payload, key)
    sha = _git(repo, "hash-object", "-w", "-t", "commit", "--stdin", data=signed).decode().strip()
    allowed_file = tmp_path / "allowed_signers"
    allowed_file.write_text(f"rollout-reconciler {sigs.public_line(key)}\n")
    result = subprocess.run(
        ["git", "-c", f"gpg.ssh.allowedSignersFile={allowed_file}", "verify-commit", sha],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert 'Good "git" signature for rollout-reconciler' in result.stderr
    # And by this module, with the payload back exactly as it was.
    assert sigs.split_signature(signed)[0] == payload
    allowed = sigs.parse_allowed_signers(allowed_file.read_text())
    assert sigs.check_commit(signed, allowed).principals == ("rollout-reconciler",)


def test_unusable_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    alice = _key(tmp_path, "alice")
    ecdsa = _key(tmp_path, "ecdsa", "ecdsa")
    text = "\n".join(
        [
            "# comment",
            f"* {_public(alice)}",
            f"ca cert-authority {_public(alice)}",
            f"eve {_public(ecdsa)}",
            f'bob valid-before="yesterday" {_public(alice)}',
            "garbage",
            f"alice {_public(alice)}",
        ]
    )
    allowed = sigs.parse_allowed_signers(text)
    assert [entry.principals for entry in allowed.keys] == [("alice",)]
    assert [problem.split(":")[0] for problem in allowed.problems] == [
        "line 2",
        "line 3",
        "line 4",
        "line 5",
        "line 6",
    ]


@pytest.mark.parametrize(
    "armored",
    [
        b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n",
        b"-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----\n",
        b"-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n",
        b"",
    ],
)
def test_hostile_signature_bytes_are_invalid_not_errors(armored: bytes, tmp_path: Path) -> None:
    allowed = sigs.parse_allowed_signers(f"alice {_public(_key(tmp_path, 'alice'))}\n")
    check = sigs.check_signature(b"payload", armored, allowed, None)
    assert check.status == "invalid"


def test_a_signature_over_a_weak_hash_is_invalid(repo: Path, tmp_path: Path) -> None:
    alice = _key(tmp_path, "alice")
    raw = _signed_by_git(repo, alice)
    payload, armored = sigs.split_signature(raw)
    assert armored is not None
    outer = SshsigSignature.from_armored(armored)
    outer.hash_algo = b"md5"
    forged = sigs.signed_commit(payload, outer.to_armored().encode())
    allowed = sigs.parse_allowed_signers(f"alice {_public(alice)}\n")
    assert sigs.check_commit(forged, allowed).status == "invalid"


def _with_headers(payload: bytes, *headers: bytes) -> bytes:
    head, separator, body = payload.partition(b"\n\n")
    return head + b"\n" + b"\n".join(headers) + separator + body


def _header(name: bytes, armored: bytes) -> bytes:
    return name + b" " + b"\n ".join(armored.rstrip(b"\n").split(b"\n"))


def _crafted(payload: bytes, good: bytes) -> dict[str, bytes]:
    import base64

    blob = base64.b64decode(b"".join(good.split(b"\n")[1:-2]))
    trailing = ssh_enarmor_sshsig(blob + b"\x00\x00\x00\x04XXXX").encode()
    return {
        "plain": sigs.signed_commit(payload, good),
        "only a gpgsig-sha256 header": _with_headers(payload, _header(b"gpgsig-sha256", good)),
        "a second, junk gpgsig": _with_headers(payload, _header(b"gpgsig", good), b"gpgsig junk"),
        "junk gpgsig-sha256 first": _with_headers(
            payload, _header(b"gpgsig-sha256", b"junk"), _header(b"gpgsig", good)
        ),
        "trailing data in the blob": sigs.signed_commit(payload, trailing),
        "text after the armor": sigs.signed_commit(payload, good + b"garbage\n"),
        "CRLF armor": sigs.signed_commit(payload, good.replace(b"\n", b"\r\n")),
        "no space after gpgsig": _with_headers(
            payload, b"gpgsig\n " + b"\n ".join(good.rstrip().split(b"\n"))
        ),
    }


def test_crafted_signature_headers_get_git_verify_commit_s_verdict(
    repo: Path, tmp_path: Path
) -> None:
    path = _key(tmp_path, "alice")
    key = load_ssh_private_key(path.read_bytes(), password=None)
    assert isinstance(key, sigs.SigningKey)
    allowed_file = tmp_path / "allowed_signers"
    allowed_file.write_text(f"alice {sigs.public_line(key)}\n")
    allowed = sigs.parse_allowed_signers(allowed_file.read_text())
    payload = _raw(repo)
    verdicts = {}
    for name, raw in _crafted(payload, sigs.sign(payload, key)).items():
        sha = _git(repo, "hash-object", "-w", "--literally", "-t", "commit", "--stdin", data=raw)
        done = subprocess.run(
            ["git", "-c", f"gpg.ssh.allowedSignersFile={allowed_file}", "verify-commit"]
            + [sha.decode().strip()],
            cwd=repo,
            capture_output=True,
        )
        verdicts[name] = (sigs.check_commit(raw, allowed).good, done.returncode == 0)
    assert all(ours == git for ours, git in verdicts.values()), verdicts
    assert verdicts["plain"] == (True, True)
