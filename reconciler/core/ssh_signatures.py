"""Git's SSH commit signatures, in process (core layer: bytes in, verdicts out).

A signed commit object carries a `gpgsig` header holding an armored SSHSIG (OpenSSH's
PROTOCOL.sshsig, namespace `git`) over the commit object without that header: what
`git commit -S` with `gpg.format=ssh` writes and `git verify-commit` checks. Verification
follows git and `ssh-keygen -Y verify` with an allowed-signers file: the signature must be
valid, its key listed for the `git` namespace, and the commit's committer time inside the
line's `valid-after`/`valid-before` (git passes that time as `-Overify-time`).

The SSHSIG encoding and the key maths come from the `sshsig` and `cryptography` libraries;
this module only adds what git adds around them (the header, the time, the principals).
Supported keys: ssh-ed25519 and ssh-rsa (rsa-sha2-256/512 signatures) to verify, ssh-ed25519
and ssh-rsa to sign. A line of another key type, a `cert-authority` line or a principal
pattern with wildcards is not used (each is reported as a problem of the file).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import sshsig
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sshsig.allowed_signers import AllowedSigner as _Line
from sshsig.sshsig import SshsigSignature, SshsigWrapper, ssh_dearmor_sshsig, ssh_enarmor_sshsig

NAMESPACE = "git"
_HASHES = (b"sha256", b"sha512")
_TIME = re.compile(r"(\d{8})(\d{4}(\d{2})?)?([Zz])?")
_PATTERN_CHARACTERS = frozenset("*?!")

Status = Literal["good", "unsigned", "invalid", "unknown_key", "expired", "not_yet_valid"]


@dataclass(frozen=True)
class AllowedKey:
    """One usable line of an allowed-signers file."""

    principals: tuple[str, ...]
    key: sshsig.PublicKey
    namespaces: tuple[str, ...] | None
    """None: every namespace."""
    valid_after: datetime | None
    valid_before: datetime | None
    line: int


@dataclass(frozen=True)
class AllowedSigners:
    """An allowed-signers file: its usable lines and the problems of the others."""

    keys: tuple[AllowedKey, ...]
    problems: tuple[str, ...] = ()

    def lines_for(self, key: sshsig.PublicKey) -> list[AllowedKey]:
        """The lines that list `key` for the `git` namespace, in file order."""
        return [
            entry
            for entry in self.keys
            if entry.key == key and (entry.namespaces is None or NAMESPACE in entry.namespaces)
        ]

    def principals(self) -> frozenset[str]:
        """Every principal any line names."""
        return frozenset(name for entry in self.keys for name in entry.principals)


@dataclass(frozen=True)
class SignatureCheck:
    """What one commit's signature proves."""

    status: Status
    principals: tuple[str, ...] = ()
    """Good: the principals the allowed-signers file lists for the key at the commit's time."""
    fingerprint: str | None = None
    """The signing key's SHA256 fingerprint, when the signature could be read."""
    detail: str = ""

    @property
    def good(self) -> bool:
        """True when a listed key made a valid signature within its validity."""
        return self.status == "good"


def parse_allowed_signers(text: str) -> AllowedSigners:
    """Read an allowed-signers file (`principals [options] keytype base64 [comment]`).

    A line that cannot be used is skipped and reported; the others still count.
    """
    keys: list[AllowedKey] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(_parse_line(line, number))
        except (ValueError, NotImplementedError) as exc:
            problems.append(f"line {number}: {exc}")
    return AllowedSigners(tuple(keys), tuple(problems))


def _parse_line(line: str, number: int) -> AllowedKey:
    try:
        parsed = _Line.parse(line)
    except IndexError as exc:
        raise ValueError("not an allowed-signers line") from exc
    options = parsed.options or {}
    if "cert-authority" in options:
        raise NotImplementedError("cert-authority lines are not supported")
    principals = tuple(name.strip() for name in parsed.principals.split(",") if name.strip())
    if not principals or any(_PATTERN_CHARACTERS & set(name) for name in principals):
        raise ValueError("principals must be plain names (no *, ? or ! patterns)")
    try:
        key = sshsig.PublicKey.from_openssh_str(f"{parsed.key_type} {parsed.base64_key}")
    except NotImplementedError as exc:
        raise NotImplementedError(f"key type {parsed.key_type} is not supported") from exc
    except Exception as exc:  # noqa: BLE001 - any malformed key is one problem of its line
        raise ValueError(f"unreadable {parsed.key_type} key") from exc
    namespaces = options.get("namespaces")
    if namespaces is not None and _PATTERN_CHARACTERS & set(namespaces):
        raise ValueError("namespaces must be plain names (no *, ? or ! patterns)")
    return AllowedKey(
        principals,
        key,
        tuple(name.strip() for name in namespaces.split(",")) if namespaces is not None else None,
        _time(options.get("valid-after"), "valid-after"),
        _time(options.get("valid-before"), "valid-before"),
        number,
    )


def _time(value: str | None, name: str) -> datetime | None:
    """ssh-keygen's YYYYMMDD[HHMM[SS]][Z]; read as UTC with or without the Z (docs)."""
    if value is None:
        return None
    match = _TIME.fullmatch(value)
    if match is None:
        raise ValueError(f"{name} must be YYYYMMDD[HHMM[SS]][Z], not {value!r}")
    digits = match.group(1) + (match.group(2) or "0000")
    digits += "" if match.group(3) else "00"
    try:
        return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"{name} is not a date: {value!r}") from exc


def split_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """Split a commit object into its signed payload and its armored signature (or None).

    As git's `parse_buffer_signed_by_header` does for a SHA-1 repository: every `gpgsig`
    header (and its continuation lines) is the signature, joined when repeated; every other
    header starting with `gpgsig` (`gpgsig-sha256`, the other hash's signature) is dropped
    from the payload with its continuation lines; the message is kept whole.
    """
    payload: list[bytes] = []
    signature: list[bytes] = []
    in_signature = other = False
    position = 0
    while position < len(raw):
        end = raw.find(b"\n", position)
        end = len(raw) if end < 0 else end + 1
        line = raw[position:end]
        if in_signature and line.startswith(b" "):
            signature.append(line[1:])
        elif line.startswith(b"gpgsig "):
            signature.append(line[len(b"gpgsig ") :])
            in_signature, other = True, False
        else:
            in_signature = False
            if line.startswith(b"gpgsig"):
                other = True
            elif other and not line.startswith(b" "):
                other = False
            if line == b"\n":  # the end of the headers: the message follows as it is
                payload.append(raw[position:])
                break
            if not other:
                payload.append(line)
        position = end
    return b"".join(payload), (b"".join(signature) if signature else None)


def committer_time(payload: bytes) -> datetime | None:
    """The committer timestamp of a commit object (git's verification time)."""
    head = payload.partition(b"\n\n")[0]
    for line in head.split(b"\n"):
        if line.startswith(b"committer "):
            seconds = line.rsplit(b" ", 2)[-2]
            try:
                return datetime.fromtimestamp(int(seconds), UTC)
            except (ValueError, OverflowError, OSError):
                return None
    return None


def check_commit(raw: bytes, allowed: AllowedSigners) -> SignatureCheck:
    """Check one commit object's SSH signature against the allowed signers."""
    payload, armored = split_signature(raw)
    if armored is None:
        return SignatureCheck("unsigned", detail="the commit is not signed")
    return check_signature(payload, armored, allowed, committer_time(payload))


def check_signature(
    payload: bytes, armored: bytes, allowed: AllowedSigners, when: datetime | None
) -> SignatureCheck:
    """Check an armored SSHSIG over `payload` as `git verify-commit` would.

    The armor is decoded once, the signing key read once per distinct key (`_public_key`);
    what is left per commit is one hash and one signature verification.
    """
    if not armored.startswith(b"-----BEGIN SSH SIGNATURE-----") or b"\r" in armored:
        return SignatureCheck("invalid", detail="not an SSH signature")
    try:
        blob = ssh_dearmor_sshsig(armored)
        outer = SshsigSignature(blob)
        if outer.hash_algo not in _HASHES:
            return SignatureCheck("invalid", detail="the signature's hash is not sha256/sha512")
        if not _exact_blob(blob):
            return SignatureCheck("invalid", detail="the signature holds trailing data")
        if outer.namespace != NAMESPACE.encode():
            return SignatureCheck("invalid", detail="the signature's namespace is not git")
        digest = hashlib.new(outer.hash_algo.decode("ascii"), payload).digest()
        signed = SshsigWrapper(
            namespace=outer.namespace, hash_algo=outer.hash_algo, hash=digest
        ).to_bytes()
        key = _public_key(outer.public_key)
        if key.do_verify(outer.signature, signed) is not None:
            return SignatureCheck("invalid", detail="bad signature (it does not verify)")
    except Exception as exc:  # noqa: BLE001 - any failure of hostile bytes is "invalid"
        return SignatureCheck("invalid", detail=f"bad signature ({type(exc).__name__})")
    lines = allowed.lines_for(key)
    if not lines:
        return SignatureCheck(
            "unknown_key", (), _fingerprint(outer.public_key), "the key is not an allowed signer"
        )
    if when is None:
        return SignatureCheck(
            "invalid", (), _fingerprint(outer.public_key), "the commit has no committer time"
        )
    current = [entry for entry in lines if _valid_at(entry, when)]
    if not current:
        early = all(entry.valid_after and when < entry.valid_after for entry in lines)
        status: Status = "not_yet_valid" if early else "expired"
        detail = f"the key is {status.replace('_', ' ')}"
        return SignatureCheck(status, (), _fingerprint(outer.public_key), detail)
    principals = tuple(dict.fromkeys(name for entry in current for name in entry.principals))
    return SignatureCheck("good", principals, _fingerprint(outer.public_key))


@functools.lru_cache(maxsize=256)
def _public_key(encoded: bytes) -> sshsig.PublicKey:
    """A signature's public key, read once per key (a history holds a handful).

    Raises:
        ValueError, NotImplementedError: not a key this module can verify with.
    """
    return sshsig.PublicKey.from_ssh_encoding(encoded)


@functools.lru_cache(maxsize=256)
def _fingerprint(encoded: bytes) -> str:
    """`SHA256:...` of a key, as `ssh-keygen -l` prints it (once per key)."""
    return _public_key(encoded).sha256_str()


def _exact_blob(blob: bytes) -> bool:
    """Whether the SSHSIG blob ends with its signature (ssh-keygen refuses trailing bytes)."""
    position = 6 + 4  # "SSHSIG", the version
    for _ in range(5):  # public key, namespace, reserved, hash algorithm, signature
        if position + 4 > len(blob):
            return False
        position += 4 + struct.unpack(">I", blob[position : position + 4])[0]
    return position == len(blob)


def _valid_at(entry: AllowedKey, when: datetime) -> bool:
    if entry.valid_after is not None and when < entry.valid_after:
        return False
    return not (entry.valid_before is not None and when > entry.valid_before)


SigningKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def public_line(key: SigningKey) -> str:
    """The key's public half as an OpenSSH line (`ssh-ed25519 AAAA...`)."""
    return key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


def sign(payload: bytes, key: SigningKey) -> bytes:
    """Return an armored SSHSIG (namespace `git`, sha512) over `payload`."""
    digest = hashlib.sha512(payload).digest()
    signed = SshsigWrapper(namespace=NAMESPACE.encode(), hash_algo=b"sha512", hash=digest)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        blob = _string(b"ssh-ed25519") + _string(key.sign(signed.to_bytes()))
    else:
        raw = key.sign(signed.to_bytes(), padding.PKCS1v15(), hashes.SHA512())
        blob = _string(b"rsa-sha2-512") + _string(raw)
    public = binascii.a2b_base64(public_line(key).split()[1])
    outer = b"SSHSIG" + struct.pack(">I", 1) + _string(public) + _string(NAMESPACE.encode())
    outer += _string(b"") + _string(b"sha512") + _string(blob)
    return ssh_enarmor_sshsig(outer).encode("ascii")


def _string(value: bytes) -> bytes:
    """An SSH wire-format string: its length (uint32, big-endian), then its bytes."""
    return struct.pack(">I", len(value)) + value


def signed_commit(payload: bytes, armored: bytes) -> bytes:
    """Insert the `gpgsig` header at the end of the commit's headers, as git does."""
    head, separator, body = payload.partition(b"\n\n")
    lines = armored.rstrip(b"\n").split(b"\n")
    header = b"gpgsig " + b"\n ".join(lines)
    return head + b"\n" + header + separator + body


def sign_commit(payload: bytes, key: SigningKey) -> bytes:
    """Return the signed commit object for an unsigned one."""
    return signed_commit(payload, sign(payload, key))
