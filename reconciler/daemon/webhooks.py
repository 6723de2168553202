"""Forge webhooks (GitHub, GitLab, Gitea): signatures, event classification, delivery dedupe.

Daemon layer, asked by http.py's routes. The module-level functions are pure (a signature
check, a delivery's classification); `Forges` holds the secret, the watched branch and the
delivery ids already seen. Every secret and signature is compared with hmac.compare_digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import parse_qs

from reconciler.core.reasons import ReasonCode

MAX_BODY = 1024 * 1024
"""Bytes: the default bound on a forge's body (413 beyond; `--webhook-max-body`)."""
DELIVERIES_KEPT = 1024
"""Delivery ids remembered per controller (oldest forgotten first): a forge's retries come
within minutes, and 1024 ids of at most SHOWN bytes is a few hundred KiB at most."""
SHOWN = 100
"""Characters of an event name, delivery id or ref kept (logged, remembered, answered)."""


class Forge(NamedTuple):
    """How one forge names things (header names lower-case, as the server gives them)."""

    name: str
    credential: str
    """The header holding the body's signature (GitHub, Gitea) or the token itself (GitLab)."""
    event: str
    delivery: str
    push: str
    """The event header's value for a push to a branch."""


GITHUB = Forge("github", "x-hub-signature-256", "x-github-event", "x-github-delivery", "push")
GITLAB = Forge("gitlab", "x-gitlab-token", "x-gitlab-event", "x-gitlab-event-uuid", "Push Hook")
GITEA = Forge("gitea", "x-gitea-signature", "x-gitea-event", "x-gitea-delivery", "push")
ROUTES = {"/hooks/github": GITHUB, "/hooks/gitlab": GITLAB, "/hooks/gitea": GITEA}


def sign(secret: bytes, body: bytes) -> str:
    """The hex HMAC-SHA256 of `body` (Gitea's `X-Gitea-Signature`; GitHub prefixes `sha256=`)."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def is_authentic(forge: Forge, secret: bytes, credential: str, body: bytes) -> bool:
    """Whether the credential header proves the sender holds `secret` (constant time).

    Header values arrive as latin-1: encoding back gives the bytes the forge sent, so a
    non-ASCII GitLab token compares as the UTF-8 the secret file holds.
    """
    given = credential.encode("latin-1", "replace")
    if forge is GITLAB:
        return hmac.compare_digest(given, secret)
    expected = sign(secret, body).encode("ascii")
    if forge is GITHUB:
        expected = b"sha256=" + expected  # no SHA-1 (`X-Hub-Signature`) fallback
    return hmac.compare_digest(given, expected)


def read_ref(body: bytes, content_type: str) -> str | None:
    """The payload's `ref` (JSON, or GitHub's form encoding: `payload=<JSON>`); None if none."""
    try:
        text = body.decode("utf-8")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            text = parse_qs(text, max_num_fields=8).get("payload", [""])[0]
        document = json.loads(text)
    except (ValueError, RecursionError):  # bad UTF-8, bad JSON, too many fields, too deep
        return None
    ref = document.get("ref") if isinstance(document, dict) else None
    if not isinstance(ref, str) or not ref.isprintable():  # control characters: not a ref
        return None
    try:
        ref.encode("utf-8")  # a lone surrogate (`\ud800`) is valid JSON but no ref
    except UnicodeEncodeError:
        return None
    return ref


class Verdict(NamedTuple):
    """What to answer a forge's request, and whether it asks for a pass."""

    code: int
    text: str
    outcome: str
    """`triggered`, `ping`, `other_branch`, `other_event`, `duplicate`; or a refusal's reason."""
    refusal: ReasonCode | None = None
    trigger: bool = False
    ref: str | None = None


def classify(forge: Forge, event: str, ref: str | None, branch: str | None) -> Verdict:
    """Classify an authentic delivery; `branch` None (unknown) takes a push to any branch."""
    if forge is GITHUB and event == "ping":
        return Verdict(200, "pong", "ping")
    if event != forge.push:
        return Verdict(202, "ignored: not a push", "other_event")
    if ref is None:
        reason = ReasonCode.HTTP_PAYLOAD_INVALID
        return Verdict(400, "bad payload: no ref", str(reason), reason)
    wanted = ref == f"refs/heads/{branch}" if branch is not None else ref.startswith("refs/heads/")
    if not wanted:  # another branch, or a tag (with no branch known: any branch counts)
        return Verdict(202, f"ignored: a push to {ref[:SHOWN]}", "other_branch", ref=ref)
    return Verdict(202, "accepted", "triggered", trigger=True, ref=ref)


class Deliveries:
    """The ids of the last deliveries, least recently seen first (a bounded LRU)."""

    def __init__(self, size: int = DELIVERIES_KEPT) -> None:
        """Remember at most `size` ids."""
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def is_repeat(self, key: str) -> bool:
        """Whether `key` was seen before; it is remembered (as the newest) either way."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return False


class Forges:
    """The forge routes' state: the shared secret, the watched branch, the deliveries seen.

    Called from the server's one thread only, so the LRU needs no lock.
    """

    def __init__(self, secret: str | None, branch: str | None, max_body: int = MAX_BODY) -> None:
        """No `secret`: every forge request is refused (never accepted unauthenticated)."""
        self._secret = secret.encode("utf-8") if secret else None
        self.branch = branch
        self.max_body = max_body
        self.deliveries = Deliveries()

    def check(self, forge: Forge, headers: Mapping[str, str]) -> Verdict | None:
        """Refuse from the headers alone (before any body is read); None: read the body."""
        if self._secret is None:
            reason = ReasonCode.HTTP_HOOK_NOT_CONFIGURED
            return Verdict(403, "no webhook secret configured", str(reason), reason)
        credential = headers.get(forge.credential)
        if credential is None or (
            forge is GITLAB and not is_authentic(forge, self._secret, credential, b"")
        ):
            return _unauthorized()
        return None

    def judge(self, forge: Forge, headers: Mapping[str, str], body: bytes) -> Verdict:
        """The verdict on a whole request that `check` let through."""
        assert self._secret is not None  # `check` refused it otherwise
        if not is_authentic(forge, self._secret, headers.get(forge.credential, ""), body):
            return _unauthorized()
        ref = read_ref(body, headers.get("content-type", ""))
        verdict = classify(forge, headers.get(forge.event, "")[:SHOWN], ref, self.branch)
        if verdict.refusal is not None:
            return verdict  # not remembered: a fixed redelivery is read anew
        # The id is not covered by the signature: this stops a forge's retry from running
        # twice, not a deliberate replay (which can only ask for a pass, coalesced anyway).
        delivery = headers.get(forge.delivery)
        if delivery and self.deliveries.is_repeat(f"{forge.name}:{delivery[:SHOWN]}"):
            return Verdict(200, "duplicate delivery: ignored", "duplicate", ref=verdict.ref)
        return verdict


def _unauthorized() -> Verdict:
    reason = ReasonCode.HTTP_UNAUTHORIZED
    return Verdict(401, "unauthorized", str(reason), reason)
