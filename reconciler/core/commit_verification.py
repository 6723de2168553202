"""Whether a reconcile commit was signed by the reconciler's bot (core layer, pure).

`reconcile history` (reports/history_signatures.py) reads each shown commit object and asks
this module for its state; the signature itself is checked by core/ssh_signatures.py.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # ssh_signatures loads cryptography (~40 ms): only for a signed commit
    from reconciler.core.ssh_signatures import SignatureCheck

Verification = Literal["verified", "unsigned", "forged"]
SIGNATURE_HEADERS = (b"gpgsig", b"gpgsig-sha256")
"""The headers a commit's signature lives in (the verifier, core/ssh_signatures.py, uses them
too; this module has no heavy imports)."""


def has_signature(raw: bytes) -> bool:
    """Whether a commit object carries a signature header (`gpgsig`, `gpgsig-sha256`)."""
    head = raw.partition(b"\n\n")[0]
    return any(line.split(b" ", 1)[0] in SIGNATURE_HEADERS for line in head.split(b"\n"))


def verification_state(check: SignatureCheck, bot_signers: Collection[str]) -> Verification:
    """`verified`: a good signature by a bot signer; `unsigned`: none; else `forged`.

    A reconcile commit (it carries Reconcile-* trailers) signed by anyone else, with a key
    the allowed-signers file does not list (or lists outside its validity), or with a bad
    signature claims to be the reconciler's without proof: `forged`.
    """
    if check.status == "unsigned":
        return "unsigned"
    if check.good and any(name in bot_signers for name in check.principals):
        return "verified"
    return "forged"
