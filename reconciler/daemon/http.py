"""The daemon's one HTTP server: /metrics, /healthz, /readyz and POST /hooks/reconcile."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


BODY_LIMIT = 64 * 1024
"""The webhook body is never read; at most this much is drained to keep a connection usable."""
CONNECTION_LIMIT = 32
"""Connections served at once; more are closed at once (no thread, no buffer for them)."""
REQUEST_TIMEOUT = 10.0
"""Seconds a connection may stay silent (an idle keep-alive, a slow sender) before it closes."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(CONNECTION_LIMIT)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: refuse at once rather than queue
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished or stalled is not an error worth a traceback on stderr."""


def serve(host: str, port: int, endpoints: Endpoints) -> ThreadingHTTPServer:
    """Start the server in a daemon thread; return it (`.shutdown()` stops it).

    Raises:
        OSError: the address is in use or not ours.
    """

    class Handler(BaseHTTPRequestHandler):
        server_version = "rollout-reconciler"
        protocol_version = "HTTP/1.1"
        timeout = REQUEST_TIMEOUT

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Silence the default per-request stderr log (events are logged elsewhere)."""

        def _send(self, reply: Reply) -> None:
            code, body, content_type = reply
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            """Serve /metrics, /healthz and /readyz."""
            self._send(endpoints.get(self.path.split("?", 1)[0]))

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            """Serve POST /hooks/reconcile; the token is checked before any body is read."""
            path = self.path.split("?", 1)[0]
            reply = endpoints.post(path, self.headers.get(TOKEN_HEADER))
            self._drain_body()
            self._send(reply)

        def _drain_body(self) -> None:
            # Never buffered: drained in small reads up to BODY_LIMIT so the connection can
            # serve its next request; anything else closes the connection instead.
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if self.headers.get("Transfer-Encoding") or not 0 <= length <= BODY_LIMIT:
                self.close_connection = True
                return
            while length > 0:
                chunk = self.rfile.read(min(length, 8192))
                if not chunk:
                    self.close_connection = True
                    return
                length -= len(chunk)

    server = _Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="reconciler-http", daemon=True).start()
    return server
