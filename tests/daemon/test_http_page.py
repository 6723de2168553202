"""The status page's routes in-process: served from memory, GET and HEAD only, with its CSP."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from reconciler.daemon.http import Endpoints, PageAssets, PageSnapshot, serve
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import Server

POLICY = "default-src 'none'; script-src 'self'"


class Page:
    snapshot: PageSnapshot | None = None


@pytest.fixture
def page() -> Page:
    return Page()


@pytest.fixture
def server(page: Page) -> Iterator[Server]:
    assets = PageAssets(lambda _doc: "unused", b"'use strict';", POLICY)
    endpoints = Endpoints(
        Metrics(), lambda: True, lambda: None, None, page=lambda: page.snapshot, assets=assets
    )
    running = serve("127.0.0.1", 0, endpoints)
    yield running
    running.shutdown()
    running.server_close()


def request(server: Server, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_before_the_first_pass_the_page_says_so(server: Server) -> None:
    status, _headers, body = request(server, "GET", "/")
    assert (status, body) == (503, b"no status yet: the first pass has not finished\n")


def test_the_page_and_its_data_are_what_the_last_pass_left(server: Server, page: Page) -> None:
    page.snapshot = PageSnapshot(html=b"<p>page</p>", json=b'{"fleets": []}')
    status, headers, body = request(server, "GET", "/")
    assert (status, body) == (200, b"<p>page</p>")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = request(server, "GET", "/api/status?t=1")
    assert (status, body, headers["Content-Type"]) == (200, b'{"fleets": []}', "application/json")
    status, headers, body = request(server, "GET", "/static/status.js")
    assert (status, body) == (200, b"'use strict';")
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"


def test_head_answers_without_a_body(server: Server, page: Page) -> None:
    page.snapshot = PageSnapshot(html=b"<p>page</p>", json=b"{}")
    status, headers, body = request(server, "HEAD", "/")
    assert (status, headers["Content-Length"], body) == (200, "11", b"")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/", "/api/status", "/static/status.js"])
def test_the_page_offers_no_action(server: Server, page: Page, method: str, path: str) -> None:
    page.snapshot = PageSnapshot(html=b"x", json=b"{}")
    status, headers, _body = request(server, method, path)
    assert (status, headers["Allow"]) == (405, "GET, HEAD")


def test_without_assets_there_is_no_page() -> None:
    running = serve("127.0.0.1", 0, Endpoints(Metrics(), lambda: True, lambda: None, None))
    try:
        assert request(running, "GET", "/")[0] == 404
        assert request(running, "GET", "/api/status")[0] == 404
    finally:
        running.shutdown()
        running.server_close()
