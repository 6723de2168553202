"""A reconcile commit's verification state from its signature check (pure, table-driven)."""

from __future__ import annotations

import pytest

from reconciler.core import commit_verification as cv
from reconciler.core import ssh_signatures
from reconciler.core.ssh_signatures import SignatureCheck

BOTS = ("rollout-reconciler",)


@pytest.mark.parametrize(
    ("check", "state"),
    [
        (SignatureCheck("good", ("rollout-reconciler",)), "verified"),
        (SignatureCheck("good", ("ops", "rollout-reconciler")), "verified"),
        (SignatureCheck("unsigned"), "unsigned"),
        (SignatureCheck("good", ("alice",)), "forged"),
        (SignatureCheck("good", ()), "forged"),
        (SignatureCheck("invalid"), "forged"),
        (SignatureCheck("unknown_key"), "forged"),
        (SignatureCheck("expired", ("rollout-reconciler",)), "forged"),
        (SignatureCheck("not_yet_valid"), "forged"),
    ],
    ids=[
        "bot", "bot-among-others", "unsigned", "another-signer", "no-principal", "invalid",
        "unknown-key", "expired-bot-key", "not-yet-valid",
    ],
)  # fmt: skip
def test_only_a_good_bot_signature_is_verified(check, state):
    assert cv.verification_state(check, BOTS) == state


def test_nothing_is_verified_without_bot_signers():
    assert cv.verification_state(SignatureCheck("good", ("rollout-reconciler",)), ()) == "forged"


@pytest.mark.parametrize(
    ("raw", "signed"),
    [
        (b"tree 1\nauthor a\ncommitter c\n\nmsg\n", False),
        (b"tree 1\ncommitter c\ngpgsig -----BEGIN SSH SIGNATURE-----\n x\n\nmsg\n", True),
        (b"tree 1\ncommitter c\ngpgsig-sha256 -----BEGIN PGP\n x\n\nmsg\n", True),
        (b"tree 1\ncommitter c\n\ngpgsig in the message body\n", False),
        (b"tree 1\ncommitter c\ngpgsigx y\n\nmsg\n", False),
    ],
    ids=["unsigned", "gpgsig", "gpgsig-sha256", "body-only", "other-header"],
)
def test_has_signature_reads_the_headers_only(raw, signed):
    assert cv.has_signature(raw) is signed
    # The same answer as the verifier's split, except for a SHA-256 signature in a SHA-1
    # repository: git does not verify it (not a signature), history calls it signed (forged).
    sha256_only = b"gpgsig-sha256 " in raw
    assert (ssh_signatures.split_signature(raw)[1] is not None) is (signed and not sha256_only)
