"""The daemon's HTTP server in-process: the webhook's token check and its body handling."""

from __future__ import annotations

import http.client

import pytest

from reconciler.daemon.http import Endpoints, serve
from reconciler.daemon.metrics import Metrics


@pytest.fixture
def server() -> object:
    triggered: list[int] = []
    endpoints = Endpoints(Metrics(), lambda: True, lambda: triggered.append(1), "s3cret")
    running = serve("127.0.0.1", 0, endpoints)
    running.triggered = triggered  # type: ignore[attr-defined]
    yield running
    running.shutdown()
    running.server_close()


def _post(port: int, headers: dict[str, str], body: bytes = b"") -> tuple[int, str | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest("POST", "/hooks/reconcile")
        for key, value in headers.items():
            connection.putheader(key, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Connection")
    finally:
        connection.close()


def test_the_token_is_checked_before_a_huge_body_is_read(server: object) -> None:
    port = server.server_address[1]  # type: ignore[attr-defined]
    # Claims 100 MB, sends none of it: the answer comes at once and the connection closes.
    status, connection = _post(port, {"Content-Length": str(100 * 1024 * 1024)})
    assert (status, connection) == (401, "close")
    assert server.triggered == []  # type: ignore[attr-defined]


def test_a_small_body_is_drained_and_the_right_token_triggers(server: object) -> None:
    port = server.server_address[1]  # type: ignore[attr-defined]
    body = b'{"ref": "refs/heads/main"}'
    status, _ = _post(port, {"X-Reconcile-Token": "s3cret", "Content-Length": str(len(body))}, body)
    assert status == 202
    assert server.triggered == [1]  # type: ignore[attr-defined]
