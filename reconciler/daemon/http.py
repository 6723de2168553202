"""The daemon's routes: /metrics, /healthz, /readyz, POST /hooks/reconcile and the forges'.

The server (server.py: asyncio and h11, its deadline and budgets) asks these routes what to
answer; every refusal, the server's own included, is counted and logged here. The forge
hooks (/hooks/github, /hooks/gitlab, /hooks/gitea) are judged by webhooks.py.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from reconciler.core.reasons import ReasonCode
from reconciler.daemon.logs import Throttle
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import Answer, Head, Limits, Server
from reconciler.daemon.webhooks import ROUTES, Forges, Verdict

WEBHOOK_PATH = "/hooks/reconcile"
HOOKS = "/hooks/"
TOKEN_HEADER = "X-Reconcile-Token"
PROBES = frozenset({"/metrics", "/healthz", "/readyz"})
PAGE = "/"
API_STATUS = "/api/status"
PAGE_SCRIPT = "/static/status.js"
PAGES = frozenset({PAGE, API_STATUS, PAGE_SCRIPT})
"""The read-only status page, its data and its script: GET and HEAD only."""
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REFUSAL_LOG_WINDOW = 10.0
"""Seconds between two `http.refused` events of one reason (the others are counted)."""
SHOWN_PATH = 200
"""A refused request's path is logged up to this many characters."""

Log = Callable[..., None]
ROUTING = frozenset(
    {
        ReasonCode.HTTP_NOT_FOUND,
        ReasonCode.HTTP_METHOD_NOT_ALLOWED,
        ReasonCode.HTTP_METHOD_UNSUPPORTED,
    }
)
"""Refusals by route: refusals (logged, counted) only under /hooks/; elsewhere plain answers."""


def _silent(*_args: object, **_fields: object) -> None:
    """No event log (unit tests of the routes alone)."""


class PageSnapshot(NamedTuple):
    """The status page as the last pass left it, ready to send (built once per pass)."""

    html: bytes
    json: bytes


class PageAssets(NamedTuple):
    """How the page is drawn: render/status_page.py's, passed in by `reconcile --watch`.

    The daemon and render are peers (docs/architecture.md): the command joins them.
    """

    render: Callable[[Mapping[str, Any]], str]
    """The page's data -> the HTML of its first view."""
    script: bytes
    """`/static/status.js`."""
    policy: str
    """The Content-Security-Policy sent with the page."""


PAGE_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


def _no_page() -> PageSnapshot | None:
    return None


class Endpoints:
    """The routes: metrics, liveness, readiness, the trigger behind the shared secret."""

    def __init__(
        self,
        metrics: Metrics,
        is_ready: Callable[[], bool],
        trigger: Callable[[], None],
        token: str | None,
        log: Log = _silent,
        clock: Callable[[], float] = time.monotonic,
        forges: Forges | None = None,
        page: Callable[[], PageSnapshot | None] = _no_page,
        assets: PageAssets | None = None,
    ) -> None:
        """`forges` None: the forge hooks have no secret, and refuse every request.

        `page` gives the status page as the last pass built it (None: not yet); `assets`
        None: no page at all (`/`, `/api/status` and the script answer 404).
        """
        self.metrics = metrics
        self.page = page
        self.assets = assets
        self.forges = forges or Forges(None, None)
        self.is_ready = is_ready
        self.trigger = trigger
        self.token = token.encode("utf-8") if token else None
        self.log = log
        self.throttle = Throttle(REFUSAL_LOG_WINDOW, clock)

    def token_ok(self, given: str | None) -> bool:
        """Compare the request's token with ours in constant time (no token set: all pass)."""
        if self.token is None:
            return True
        return hmac.compare_digest((given or "").encode("utf-8", "replace"), self.token)

    # What the server asks -----------------------------------------------------------

    def is_probe(self, head: Head) -> bool:
        """GET /healthz, /readyz and /metrics: never kept waiting by the budget of the rest.

        The status page and its data are served from memory too (built once per pass), so
        they are answered like the probes.
        """
        if head.method in ("GET", "HEAD") and self.assets is not None and head.path in PAGES:
            return True
        return head.method == "GET" and head.path in PROBES

    def check(self, head: Head) -> Answer | None:
        """Refuse from the head alone (the token before any body); None: answer when complete."""
        if self.assets is not None and head.path in PAGES:
            if head.method in ("GET", "HEAD"):
                return None
            # Read-only: changes go through pull requests.
            allow = (("Allow", "GET, HEAD"),)
            return Answer(405, b"read-only: use GET\n", close=True, headers=allow)
        if head.method not in ("GET", "POST"):
            return self._refused(501, ReasonCode.HTTP_METHOD_UNSUPPORTED, head, b"unsupported\n")
        if head.method == "GET":
            if head.path in PROBES:
                return None
            if head.path == WEBHOOK_PATH or head.path in ROUTES:
                return self._refused(405, ReasonCode.HTTP_METHOD_NOT_ALLOWED, head, b"use POST\n")
            return self._refused(404, ReasonCode.HTTP_NOT_FOUND, head, b"not found\n")
        if head.path in ROUTES:
            verdict = self.forges.check(ROUTES[head.path], head.headers)
            return None if verdict is None else self._answer_forge(head, verdict)
        if head.path != WEBHOOK_PATH:
            return self._refused(404, ReasonCode.HTTP_NOT_FOUND, head, b"not found\n")
        if not self.token_ok(head.headers.get(TOKEN_HEADER.lower())):
            return self._refused(401, ReasonCode.HTTP_UNAUTHORIZED, head, b"unauthorized\n")
        return None

    def body_limit(self, head: Head) -> int | None:
        """A forge hook reads its body (it is signed); any other is dropped unread."""
        return self.forges.max_body if head.path in ROUTES else None

    def answer(self, head: Head, body: bytes) -> Answer:
        """Answer a complete request that `check` let through."""
        if head.method == "POST" and head.path in ROUTES:
            forge = ROUTES[head.path]
            return self._answer_forge(head, self.forges.judge(forge, head.headers, body))
        if head.method == "POST":  # only /hooks/reconcile gets here
            self.trigger()
            self.metrics.webhook_requests.labels(code="202").inc()
            return Answer(202, b"accepted\n")
        if self.assets is not None and head.path in PAGES:
            return self._answer_page(head.path, self.assets)
        if head.path == "/metrics":
            return Answer(200, self.metrics.exposition(), METRICS_TYPE)
        if head.path == "/readyz":
            return Answer(200, b"ready\n") if self.is_ready() else Answer(503, b"not ready\n")
        return Answer(200, b"ok\n")

    def refuse(self, code: int | None, reason: str, head: Head | None, peer: str) -> Answer:
        """Count and log a refusal by the server (deadline, head too large, budget full...)."""
        text = {
            408: b"request timeout\n",
            413: b"request body too large\n",
            431: b"request head too large\n",
            503: b"busy\n",
        }
        return self._refused(code, reason, head, text.get(code or 0, b"bad request\n"), peer)

    def fault(self, error: str) -> None:
        """Log an unexpected error of the server (rate-limited like refusals)."""
        suppressed = self.throttle.admit("fault")
        if suppressed is not None:
            self.log("http.error", "error", error=error[:500], suppressed=suppressed or None)

    def _answer_page(self, path: str, assets: PageAssets) -> Answer:
        """The status page, its data or its script, from memory: never git per request."""
        if path == PAGE_SCRIPT:
            return Answer(
                200, assets.script, "text/javascript; charset=utf-8", headers=PAGE_HEADERS
            )
        snapshot = self.page()
        if snapshot is None:
            return Answer(
                503, b"no status yet: the first pass has not finished\n", headers=PAGE_HEADERS
            )
        if path == API_STATUS:
            return Answer(200, snapshot.json, "application/json", headers=PAGE_HEADERS)
        policy = (("Content-Security-Policy", assets.policy),)
        return Answer(200, snapshot.html, "text/html; charset=utf-8", headers=PAGE_HEADERS + policy)

    # Forge hooks and refusals ---------------------------------------------------------

    def _answer_forge(self, head: Head, verdict: Verdict) -> Answer:
        """Count, log and answer a forge's request; a push to our branch asks for a pass."""
        text = f"{verdict.text}\n".encode()
        if verdict.refusal is not None:
            return self._refused(verdict.code, verdict.refusal, head, text)
        forge = ROUTES[head.path]
        self.metrics.webhook_deliveries.labels(provider=forge.name, outcome=verdict.outcome).inc()
        if verdict.trigger:
            self.trigger()
        # Never the body, the signature or the secret: what the forge sent, named.
        self.log(
            "webhook.delivery",
            provider=forge.name,
            forgeEvent=head.headers.get(forge.event, "")[:SHOWN_PATH] or None,
            delivery=head.headers.get(forge.delivery, "")[:SHOWN_PATH] or None,
            ref=verdict.ref[:SHOWN_PATH] if verdict.ref else None,
            outcome=verdict.outcome,
        )
        return Answer(verdict.code, text)

    # Refusals -------------------------------------------------------------------------

    def _refused(
        self, code: int | None, reason: str, head: Head | None, body: bytes, peer: str = ""
    ) -> Answer:
        path = head.path if head else None
        if path == WEBHOOK_PATH and code is not None:
            self.metrics.webhook_requests.labels(code=str(code)).inc()
        if path in ROUTES and code is not None:
            provider = ROUTES[path].name
            self.metrics.webhook_deliveries.labels(provider=provider, outcome=reason).inc()
        answer = Answer(code or 400, body, close=True)
        if reason in ROUTING and not (path or "").startswith(HOOKS):
            return answer  # an unknown page: answered, not worth an event
        self.metrics.http_refusals.labels(reason=reason).inc()
        suppressed = self.throttle.admit(reason)
        if suppressed is not None:
            self.log(
                "http.refused",
                "warn",
                reason=reason,
                code=code,
                method=head.method if head else None,
                path=path[:SHOWN_PATH] if path else None,
                peer=(head.peer if head else peer) or None,
                suppressed=suppressed or None,
            )
        return answer


def serve(host: str, port: int, endpoints: Endpoints, limits: Limits | None = None) -> Server:
    """Start the server in a thread of its own; return it (`.shutdown()` stops it).

    Raises:
        OSError: the address is in use or not ours.
    """
    return Server(host, port, endpoints, limits or Limits())
