"""The forge webhooks' pure parts: signatures, payload refs, classification, the delivery LRU."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from reconciler.daemon.webhooks import (
    GITEA,
    GITHUB,
    GITLAB,
    Deliveries,
    Forges,
    classify,
    is_authentic,
    read_ref,
    sign,
)

# GitHub's documented test vector (docs.github.com, "Validating webhook deliveries").
VECTOR_SECRET = b"It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
SECRET = "hook-secret"
FORM = "application/x-www-form-urlencoded"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


def test_githubs_documented_test_vector_passes() -> None:
    assert "sha256=" + sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE
    assert is_authentic(GITHUB, VECTOR_SECRET, VECTOR_SIGNATURE, VECTOR_BODY)


@pytest.mark.parametrize(
    "credential",
    [
        VECTOR_SIGNATURE.removeprefix("sha256="),  # Gitea's form: no prefix
        VECTOR_SIGNATURE.upper(),
        VECTOR_SIGNATURE[:-1] + "f",
        "sha1=" + hmac.new(VECTOR_SECRET, VECTOR_BODY, hashlib.sha1).hexdigest(),  # no fallback
        "",
    ],
    ids=["no-prefix", "upper-case", "one-digit-off", "sha1", "empty"],
)
def test_a_github_signature_that_is_not_exactly_right_fails(credential: str) -> None:
    assert not is_authentic(GITHUB, VECTOR_SECRET, credential, VECTOR_BODY)


def test_a_github_signature_of_another_body_or_secret_fails() -> None:
    assert not is_authentic(GITHUB, VECTOR_SECRET, VECTOR_SIGNATURE, VECTOR_BODY + b"\n")
    assert not is_authentic(GITHUB, b"another secret", VECTOR_SIGNATURE, VECTOR_BODY)


def test_gitea_signs_with_the_bare_hex_hmac_sha256() -> None:
    hex_digest = hmac.new(SECRET.encode(), PUSH, hashlib.sha256).hexdigest()
    assert is_authentic(GITEA, SECRET.encode(), hex_digest, PUSH)
    assert not is_authentic(GITEA, SECRET.encode(), "sha256=" + hex_digest, PUSH)
    assert not is_authentic(GITEA, SECRET.encode(), hex_digest, PUSH + b" ")


def test_gitlab_sends_the_secret_itself() -> None:
    assert is_authentic(GITLAB, SECRET.encode(), SECRET, b"")
    assert not is_authentic(GITLAB, SECRET.encode(), SECRET + "x", b"")
    assert not is_authentic(GITLAB, SECRET.encode(), SECRET[:-1], b"")
    assert not is_authentic(GITLAB, SECRET.encode(), "", b"")


def test_a_non_ascii_gitlab_token_compares_as_the_bytes_the_forge_sent() -> None:
    secret = "pässwörd".encode()
    # The server decodes header bytes as latin-1; the forge sent UTF-8.
    assert is_authentic(GITLAB, secret, secret.decode("latin-1"), b"")
    assert not is_authentic(GITLAB, secret, "pässwörd", b"")


@pytest.mark.parametrize(
    ("body", "content_type", "ref"),
    [
        (PUSH, "application/json", "refs/heads/main"),
        (urlencode({"payload": PUSH.decode()}).encode(), FORM, "refs/heads/main"),
        (b'{"ref": "refs/tags/v1"}', "", "refs/tags/v1"),
        (b'{"zen": "Keep it logically awesome."}', "application/json", None),
        (b'{"ref": 7}', "application/json", None),
        (b'["refs/heads/main"]', "application/json", None),
        (b"not json", "application/json", None),
        (b"\xff\xfe", "application/json", None),
        (b"[" * 200_000 + b"]" * 200_000, "application/json", None),
    ],
    ids=[
        "json", "form", "tag", "no-ref", "ref-not-text", "not-an-object", "not-json",
        "not-utf8", "too-deep",
    ],
)  # fmt: skip
def test_the_ref_is_read_from_the_payload(body: bytes, content_type: str, ref: str | None) -> None:
    assert read_ref(body, content_type) == ref


@pytest.mark.parametrize(
    ("forge", "event", "ref", "branch", "expected"),
    [
        (GITHUB, "ping", None, "main", (200, "ping", False)),
        (GITHUB, "push", "refs/heads/main", "main", (202, "triggered", True)),
        (GITHUB, "push", "refs/heads/dev", "main", (202, "other_branch", False)),
        (GITHUB, "push", "refs/tags/main", "main", (202, "other_branch", False)),
        (GITHUB, "push", "refs/heads/main-2", "main", (202, "other_branch", False)),
        (GITHUB, "push", "refs/heads/dev", None, (202, "triggered", True)),
        (GITHUB, "pull_request", "refs/heads/main", "main", (202, "other_event", False)),
        (GITHUB, "push", None, "main", (400, "http_payload_invalid", False)),
        (GITLAB, "Push Hook", "refs/heads/main", "main", (202, "triggered", True)),
        (GITLAB, "Tag Push Hook", "refs/tags/v1", "main", (202, "other_event", False)),
        (GITLAB, "ping", None, "main", (202, "other_event", False)),
        (GITLAB, "push", "refs/heads/main", "main", (202, "other_event", False)),
        (GITEA, "push", "refs/heads/main", "main", (202, "triggered", True)),
        (GITEA, "push", "refs/heads/dev", "main", (202, "other_branch", False)),
        (GITEA, "create", "refs/heads/main", "main", (202, "other_event", False)),
    ],
)
def test_a_delivery_is_classified(
    forge: object, event: str, ref: str | None, branch: str | None, expected: tuple[object, ...]
) -> None:
    verdict = classify(forge, event, ref, branch)  # type: ignore[arg-type]
    assert (verdict.code, verdict.outcome, verdict.trigger) == expected


def test_the_delivery_lru_forgets_the_least_recently_seen_first() -> None:
    seen = Deliveries(size=2)
    assert [seen.is_repeat(key) for key in ("a", "b", "a")] == [False, False, True]
    assert not seen.is_repeat("c")  # forgets "b": "a" was seen more recently
    assert seen.is_repeat("a")
    assert not seen.is_repeat("b")


def github_headers(body: bytes, delivery: str = "d-1", event: str = "push") -> dict[str, str]:
    return {
        "x-hub-signature-256": "sha256=" + sign(SECRET.encode(), body),
        "x-github-event": event,
        "x-github-delivery": delivery,
        "content-type": "application/json",
    }


def test_without_a_secret_every_forge_request_is_refused_before_its_body() -> None:
    forges = Forges(None, "main")
    for forge in (GITHUB, GITLAB, GITEA):
        verdict = forges.check(forge, {forge.credential: "anything"})
        assert verdict is not None
        assert (verdict.code, verdict.refusal) == (403, "http_hook_not_configured")


def test_a_missing_credential_or_a_wrong_gitlab_token_is_refused_before_the_body() -> None:
    forges = Forges(SECRET, "main")
    for forge in (GITHUB, GITLAB, GITEA):
        verdict = forges.check(forge, {})
        assert verdict is not None and verdict.code == 401
    wrong = forges.check(GITLAB, {"x-gitlab-token": "guess"})
    assert wrong is not None and wrong.code == 401
    assert forges.check(GITLAB, {"x-gitlab-token": SECRET}) is None
    assert forges.check(GITHUB, {"x-hub-signature-256": "sha256=00"}) is None  # needs the body


def test_a_delivery_id_is_remembered_only_once_authentic_and_well_formed() -> None:
    forges = Forges(SECRET, "main")
    forged = {**github_headers(PUSH), "x-hub-signature-256": "sha256=" + "0" * 64}
    assert forges.judge(GITHUB, forged, PUSH).code == 401
    bad = b'{"no": "ref"}'
    assert forges.judge(GITHUB, github_headers(bad), bad).code == 400
    # Neither the forged nor the bad delivery took the id: the real one still runs.
    first = forges.judge(GITHUB, github_headers(PUSH), PUSH)
    assert (first.code, first.trigger) == (202, True)
    again = forges.judge(GITHUB, github_headers(PUSH), PUSH)
    assert (again.code, again.outcome, again.trigger) == (200, "duplicate", False)
    other = forges.judge(GITHUB, github_headers(PUSH, delivery="d-2"), PUSH)
    assert other.trigger


def test_delivery_ids_of_two_forges_do_not_collide() -> None:
    forges = Forges(SECRET, "main")
    assert forges.judge(GITHUB, github_headers(PUSH, delivery="same"), PUSH).trigger
    gitea = {
        "x-gitea-signature": sign(SECRET.encode(), PUSH),
        "x-gitea-event": "push",
        "x-gitea-delivery": "same",
    }
    assert forges.judge(GITEA, gitea, PUSH).trigger


def test_a_ref_no_one_can_encode_is_no_ref_and_with_no_branch_only_branches_count() -> None:
    """Found by a review: a lone surrogate in `ref` crashed the answer (500); with no branch
    known, a tag push started a pass."""
    from reconciler.daemon.webhooks import GITHUB, classify, read_ref

    assert read_ref(b'{"ref": "refs/heads/\\ud800"}', "application/json") is None
    assert read_ref(b'{"ref": "refs/heads/a\\u001bb"}', "application/json") is None
    assert read_ref(b'{"ref": "refs/heads/main"}', "application/json") == "refs/heads/main"
    assert classify(GITHUB, "push", None, "main").code == 400
    assert not classify(GITHUB, "push", "refs/tags/v1.2.3", None).trigger
    assert classify(GITHUB, "push", "refs/heads/any", None).trigger
