"""Signing keys adapter: read the SSH private key that signs the reconciler's commits.

Called by the loop (`loop/once.py`, `loop/repair.py`) before a pass writes its first commit.
Every failure is a `RefusalError` with one line saying what and where, so a pass with signing
configured and no usable key commits nothing (fail closed).
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

if TYPE_CHECKING:
    from reconciler.core.ssh_signatures import SigningKey

KEY_LIMIT = 64 * 1024
"""An OpenSSH private key is a few KiB (RSA 8192: ~6.5 KiB); anything larger is not one."""


def load_signing_key(path: str, *, source: str, repository: str) -> SigningKey:
    """Read and decode an unencrypted ed25519 or RSA key in OpenSSH format.

    `source` names where the path came from (messages); a key inside the `repository`
    worktree (after resolving symlinks) is refused: it would be one `git add` from history.

    Raises:
        RefusalError: `signing_key_in_repo`, or `signing_key_invalid` (missing, unreadable,
            not an OpenSSH private key, passphrase-protected, or neither ed25519 nor RSA).
    """
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    absolute = os.path.abspath(os.path.expanduser(path))
    real, top = os.path.realpath(absolute), os.path.realpath(repository)
    if os.path.commonpath([real, top]) == top:
        raise RefusalError(
            ReasonCode.SIGNING_KEY_IN_REPO,
            f"the signing key {absolute} ({source}) is inside the repository {top}: a private "
            "key there is one commit away from being published; move it out (e.g. a CI secret "
            "file) and point the setting at it",
            path=absolute,
        )
    data = _read(absolute, source)
    try:
        key = load_ssh_private_key(data, password=None)
    except TypeError as exc:  # cryptography: "Password was not given but ... is encrypted"
        raise _invalid(absolute, source, "it is protected by a passphrase") from exc
    except (ValueError, IndexError) as exc:
        raise _invalid(absolute, source, "it is not an OpenSSH private key") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. UnsupportedAlgorithm: one refusal
        raise _invalid(absolute, source, f"it cannot be read ({type(exc).__name__})") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        kind = _key_type(key)
        raise _invalid(absolute, source, f"its type ({kind}) is not ed25519 or RSA")
    return key


def _key_type(key: object) -> str:
    """The key's OpenSSH type name (`ecdsa-sha2-nistp256`, ...), for the message."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    try:
        line = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - only the message needs it
        return type(key).__name__
    return bytes(line).split(b" ", 1)[0].decode("ascii", "replace")


def _read(path: str, source: str) -> bytes:
    """The key file's bytes: a regular file (symlinks followed: mounted secrets are links).

    Opened without blocking and checked before reading: a FIFO would otherwise hold the pass
    (and its lock) forever.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise _invalid(path, source, "there is no such file") from exc
    except OSError as exc:
        raise _invalid(path, source, f"it cannot be read ({exc.strerror})") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _invalid(path, source, "it is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise _invalid(path, source, "it is not a regular file")
        if info.st_nlink > 1:  # another name of it may be inside the repository
            raise _invalid(path, source, "it has other hard links; give the key one name only")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(KEY_LIMIT + 1)
    except OSError as exc:
        raise _invalid(path, source, f"it cannot be read ({exc.strerror})") from exc
    finally:
        os.close(fd)
    if len(data) > KEY_LIMIT:
        raise _invalid(path, source, f"it is larger than {KEY_LIMIT} bytes")
    return data


def _invalid(path: str, source: str, why: str) -> RefusalError:
    return RefusalError(
        ReasonCode.SIGNING_KEY_INVALID,
        f"cannot sign with the key {path} ({source}): {why}; no commit was made. Give an "
        "unencrypted ed25519 or RSA key in OpenSSH format (ssh-keygen -t ed25519 -N '')",
        path=path,
    )
