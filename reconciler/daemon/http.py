"""The daemon's one HTTP server: /metrics, /healthz, /readyz and POST /hooks/reconcile."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler.daemon.metrics import Metrics

WEBHOOK_PATH = "/hooks/reconcile"
TOKEN_HEADER = "X-Reconcile-Token"
Reply = tuple[int, bytes, str]
TEXT = "text/plain; charset=utf-8"


class Endpoints:
    """The routes: metrics, readiness, the trigger behind the shared secret."""

    def __init__(
        self,
        metrics: Metrics,
        is_ready: Callable[[], bool],
        trigger: Callable[[], None],
        token: str | None,
    ) -> None:
        self.metrics = metrics
        self.is_ready = is_ready
        self.trigger = trigger
        self.token = token.encode("utf-8") if token else None

    def token_ok(self, given: str | None) -> bool:
        """Compare the request's token with ours in constant time (no token set: all pass)."""
        if self.token is None:
            return True
        return hmac.compare_digest((given or "").encode("utf-8", "replace"), self.token)

    def get(self, path: str) -> Reply:
        """Answer a GET."""
        if path == "/metrics":
            return 200, self.metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8"
        if path == "/healthz":
            return 200, b"ok\n", TEXT
        if path == "/readyz":
            ready = self.is_ready()
            return (200, b"ready\n", TEXT) if ready else (503, b"not ready\n", TEXT)
        if path == WEBHOOK_PATH:
            return self._webhook(405, b"use POST\n")
        return 404, b"not found\n", TEXT

    def post(self, path: str, token: str | None) -> Reply:
        """Answer a POST: only the webhook, which triggers a pass when the token matches."""
        if path != WEBHOOK_PATH:
            return 404, b"not found\n", TEXT
        if not self.token_ok(token):
            return self._webhook(401, b"unauthorized\n")
        self.trigger()
        return self._webhook(202, b"accepted\n")

    def _webhook(self, code: int, body: bytes) -> Reply:
        self.metrics.webhook_requests.labels(code=str(code)).inc()
        return code, body, TEXT


def serve(host: str, port: int, endpoints: Endpoints) -> ThreadingHTTPServer:
    """Start the server in a daemon thread; return it (`.shutdown()` stops it).

    Raises:
        OSError: the address is in use or not ours.
    """

    class Handler(BaseHTTPRequestHandler):
        server_version = "rollout-reconciler"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Silence the default per-request stderr log (events are logged elsewhere)."""

        def _send(self, reply: Reply) -> None:
            code, body, content_type = reply
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            """Serve /metrics, /healthz and /readyz."""
            self._send(endpoints.get(self.path.split("?", 1)[0]))

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            """Serve POST /hooks/reconcile."""
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if 0 < length <= 1 << 20:
                self.rfile.read(length)  # drained, never parsed
            path = self.path.split("?", 1)[0]
            self._send(endpoints.post(path, self.headers.get(TOKEN_HEADER)))

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="reconciler-http", daemon=True).start()
    return server
