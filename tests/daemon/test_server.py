"""The controller's HTTP server under attack: slow clients, floods, oversized requests.

A real server on 127.0.0.1 (port 0) and real sockets; the deadline is shortened so that the
tests run in seconds, and the refusal log's clock is injected. No assertion is about time:
each one is about what a client sees (an answer, a code, a closed connection) or what the
event log holds.
"""

from __future__ import annotations

import http.client
import io
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import redirect_stderr
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from reconciler.daemon.http import REFUSAL_LOG_WINDOW, Endpoints, serve
from reconciler.daemon.logs import EventLog, Throttle
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import Limits, Server

TOKEN = "s3cret"
WEBHOOK = "/hooks/reconcile"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Running(NamedTuple):
    server: Server
    port: int
    metrics: Metrics
    triggered: list[int]
    events: list[dict[str, Any]]
    clock: Clock


@pytest.fixture
def start() -> Iterator[Any]:
    started: list[Server] = []

    def run(**limits: Any) -> Running:
        metrics, triggered, events, clock = Metrics(), [], [], Clock()

        def log(event: str, level: str = "info", **fields: object) -> None:
            events.append({"event": event, "level": level, **fields})

        endpoints = Endpoints(
            metrics, lambda: True, lambda: triggered.append(1), TOKEN, log=log, clock=clock
        )
        server = serve("127.0.0.1", 0, endpoints, Limits(**limits))
        started.append(server)
        return Running(server, server.server_address[1], metrics, triggered, events, clock)

    yield run
    for server in started:
        server.shutdown()
        server.server_close()


def request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def refusals(running: Running, reason: str) -> float:
    value = running.metrics.registry.get_sample_value(
        "reconciler_http_refusals_total", {"reason": reason}
    )
    return value or 0.0


def read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


class Slowloris:
    """Connections that send their request a piece at a time and never finish it.

    Every `interval` each open connection sends one more piece: a header line, or (for the
    ones that never finish even the request line) one more byte of it. Whatever the server
    sends back is kept; a connection that got its end-of-file is done.
    """

    def __init__(self, port: int, count: int, interval: float, rounds: int) -> None:
        self.interval, self.rounds = interval, rounds
        self.open: dict[socket.socket, bytes] = {}
        self.header_lines: set[socket.socket] = set()
        self.answers: list[bytes] = []
        self.pieces = 0
        for number in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if number % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                self.header_lines.add(sock)
            else:
                sock.sendall(b"GET /hea")
            self.open[sock] = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for _ in range(self.rounds):
            if not self.open or self.stop.wait(self.interval):
                break
            readable, _, _ = select.select(list(self.open), [], [], 0)
            for sock in readable:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                self.open[sock] += chunk
                if not chunk:
                    self.answers.append(self.open.pop(sock))
                    sock.close()
            for sock in self.open:
                piece = b"X-Slow: 1\r\n" if sock in self.header_lines else b"l"
                try:
                    sock.sendall(piece)
                except OSError:
                    pass
            self.pieces += 1

    def finish(self) -> None:
        self.thread.join(timeout=60)
        for sock in self.open:
            sock.close()


def test_slowloris_connections_neither_starve_the_probes_nor_outlive_the_deadline(
    start: Any,
) -> None:
    # The attack of the issue: 40+ connections, each sending one header line at a time.
    running = start(request_deadline=3.0)
    attack = Slowloris(running.port, count=48, interval=0.05, rounds=600)
    try:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert request(running.port, "GET", path)[0] == 200
        assert len(attack.open) == 48  # the probes were answered while every attacker held on
        for _ in range(5):
            for path in ("/healthz", "/readyz", "/metrics"):
                assert request(running.port, "GET", path)[0] == 200
    finally:
        attack.finish()
    # Each attacker kept sending, so only a deadline for the whole request closed them (a
    # timeout per read never fires): each got 408 and the end of its connection.
    assert attack.open == {}, f"{len(attack.open)} attackers outlived the deadline"
    assert len(attack.answers) == 48
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in attack.answers)
    assert refusals(running, "http_deadline") == 48
    events = [e for e in running.events if e["event"] == "http.refused"]
    assert [(e["reason"], e["code"]) for e in events] == [("http_deadline", 408)]  # rate-limited


def test_connections_that_never_send_anything_are_closed_at_the_deadline(start: Any) -> None:
    running = start(request_deadline=0.5)
    silent = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(40)]
    assert request(running.port, "GET", "/healthz")[0] == 200
    for sock in silent:
        assert read_until_closed(sock) == b""  # closed, no answer
        sock.close()
    assert refusals(running, "http_deadline") == 40


def test_at_the_connection_cap_the_oldest_unfinished_connection_makes_room(start: Any) -> None:
    running = start(connections=10, request_deadline=30.0)
    idle = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(10)]
    try:
        assert request(running.port, "GET", "/healthz") == (200, "ok\n")
        assert read_until_closed(idle[0]) == b""  # the oldest went first
        assert refusals(running, "http_crowded") >= 1
    finally:
        for sock in idle:
            sock.close()


def test_clients_that_never_read_their_answers_make_room_for_a_probe(start: Any) -> None:
    running = start(connections=20, write_timeout=60.0, request_deadline=60.0)
    readers = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", running.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:  # thousands of pipelined scrapes, none of whose answers is ever read
            sock.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 3000)
        except BlockingIOError:
            pass
        readers.append(sock)
    try:
        for _ in range(3):
            assert request(running.port, "GET", "/healthz") == (200, "ok\n")
        assert refusals(running, "http_crowded") >= 1  # a stalled writer made room
    finally:
        for sock in readers:
            sock.close()


def test_probes_announcing_a_body_they_never_send_cannot_fill_the_connections(
    start: Any,
) -> None:
    running = start(connections=20, other_slots=4, request_deadline=30.0)
    fake = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    holders = []
    try:
        for _ in range(30):
            holders.append(socket.create_connection(("127.0.0.1", running.port)))
            _send_quietly(holders[-1], fake)  # past the cap, the connection may be closed
        for _ in range(500):  # until the server has read the heads that reached it
            if refusals(running, "http_busy") + refusals(running, "http_crowded") >= 10:
                break
            time.sleep(0.01)
        # With a body to wait for, a probe takes a slot like a webhook: 4 of them wait, the
        # others are answered 503, and a real probe still finds a place.
        for _ in range(3):
            assert request(running.port, "GET", "/healthz") == (200, "ok\n")
        assert refusals(running, "http_busy") >= 1
    finally:
        for sock in holders:
            sock.close()


def test_webhook_floods_and_slow_bodies_never_take_the_probes_budget(start: Any) -> None:
    running = start(other_slots=4, request_deadline=30.0)
    head = (
        f"POST {WEBHOOK} HTTP/1.1\r\nHost: x\r\nX-Reconcile-Token: {TOKEN}\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    # Four webhook calls that never send their body hold every slot of the other budget...
    holders = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(4)]
    for sock in holders:
        sock.sendall(head)
    answered = [request(running.port, "POST", WEBHOOK, {"X-Reconcile-Token": TOKEN})[0]]
    while answered[-1] != 503 and len(answered) < 100:  # until the server has read all four
        answered.append(request(running.port, "POST", WEBHOOK, {"X-Reconcile-Token": TOKEN})[0])
    assert answered[-1] == 503
    codes: list[int] = []
    lock = threading.Lock()

    def flood() -> None:
        for _ in range(25):
            code = request(running.port, "POST", WEBHOOK, {"X-Reconcile-Token": TOKEN})[0]
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=flood) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        # ...while a flood of webhook calls runs, every probe is answered.
        probes = [request(running.port, "GET", p)[0] for p in ("/healthz", "/metrics") * 20]
    finally:
        for thread in threads:
            thread.join(timeout=60)
    assert probes == [200] * 40
    assert set(codes) == {503}  # the webhooks' budget was full: refused at once, not queued
    busy = 150 + answered.count(503)
    assert refusals(running, "http_busy") == busy
    webhook_503 = running.metrics.registry.get_sample_value(
        "reconciler_webhook_requests_total", {"code": "503"}
    )
    assert webhook_503 == busy
    for sock in holders:
        sock.close()
    # The slots come back when the holders go.
    status = 503
    for _ in range(200):
        status = request(running.port, "POST", WEBHOOK, {"X-Reconcile-Token": TOKEN})[0]
        if status == 202:
            break
    assert status == 202


def test_an_oversized_head_gets_431_and_a_malformed_one_400(start: Any) -> None:
    running = start()
    for raw, code in (
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n", b"431"),
        (b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"431"),
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/1.1\r\n\r\n", b"400"),  # HTTP/1.1 without Host
        (b"POST /hooks/reconcile HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", b"400"),
    ):
        with socket.create_connection(("127.0.0.1", running.port)) as sock:
            sock.sendall(raw)
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 " + code + b" "), (raw[:40], answer[:60])
        assert b"Connection: close" in answer
    assert refusals(running, "http_head_too_large") == 2
    assert refusals(running, "http_bad_request") == 3
    assert running.triggered == []


def test_a_refusal_reaches_a_client_still_sending_its_body(start: Any) -> None:
    running = start()
    body = b"x" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", running.port)) as sock:
        head = f"POST {WEBHOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode())
        sender = threading.Thread(target=lambda: _send_quietly(sock, body), daemon=True)
        sender.start()
        answer = read_until_closed(sock)
        sender.join(timeout=30)
    # Refused on the head (no token), before the body: the answer arrives, not a reset.
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert answer.endswith(b"unauthorized\n")
    assert running.triggered == []


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass


def test_kept_alive_and_pipelined_requests_are_still_served(start: Any) -> None:
    running = start(request_deadline=0.5)
    with socket.create_connection(("127.0.0.1", running.port)) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /hooks/reconcile HTTP/1.1\r\nHost: x\r\nX-Reconcile-Token: s3cret\r\n"
            b"Content-Length: 5\r\n\r\nhello"
            b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        # An idle kept-alive connection is closed at the deadline, quietly (no 408, no event).
        answer = read_until_closed(sock)
    assert answer.count(b"HTTP/1.1 200 ") == 2
    assert answer.count(b"HTTP/1.1 202 ") == 1
    assert b"408" not in answer
    assert running.triggered == [1]
    assert running.events == []


def test_refused_webhook_calls_are_logged_rate_limited_without_the_token(start: Any) -> None:
    running = start(request_deadline=0.5)
    for _ in range(5):
        assert request(running.port, "POST", WEBHOOK, {"X-Reconcile-Token": "guess-1"})[0] == 401
    assert request(running.port, "GET", WEBHOOK)[0] == 405
    assert request(running.port, "POST", "/hooks/bitbucket")[0] == 404
    assert request(running.port, "GET", "/favicon.ico")[0] == 404  # not a webhook: no event
    with socket.create_connection(("127.0.0.1", running.port)) as sock:
        sock.sendall(f"POST {WEBHOOK} HTTP/1.1\r\nHost: x\r\nContent-Len".encode())
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
    running.clock.now += REFUSAL_LOG_WINDOW
    assert request(running.port, "POST", WEBHOOK, {"X-Reconcile-Token": "guess-2"})[0] == 401

    shown = [
        (e["reason"], e.get("code"), e.get("method"), e.get("path"), e.get("suppressed"))
        for e in running.events
    ]
    assert shown == [
        ("http_unauthorized", 401, "POST", WEBHOOK, None),
        ("http_method_not_allowed", 405, "GET", WEBHOOK, None),
        ("http_not_found", 404, "POST", "/hooks/bitbucket", None),
        ("http_deadline", 408, None, None, None),
        ("http_unauthorized", 401, "POST", WEBHOOK, 4),  # the four dropped in between
    ]
    assert all(e["event"] == "http.refused" and e["level"] == "warn" for e in running.events)
    assert all(e["peer"] == "127.0.0.1" for e in running.events)
    assert "guess" not in repr(running.events)
    codes = {
        code: running.metrics.registry.get_sample_value(
            "reconciler_webhook_requests_total", {"code": code}
        )
        for code in ("202", "401", "405")
    }
    assert codes == {"202": 0, "401": 6, "405": 1}  # every refusal counted, logged or not
    assert refusals(running, "http_unauthorized") == 6


def test_a_refusal_event_is_one_json_line_like_every_other_event() -> None:
    out = io.StringIO()
    metrics = Metrics()
    log = EventLog("json", lambda: NOW)
    server = serve("127.0.0.1", 0, Endpoints(metrics, lambda: True, lambda: None, TOKEN, log=log))
    try:
        with redirect_stderr(out):
            port = server.server_address[1]
            answer = request(port, "POST", WEBHOOK + "?secret=abc", {"X-Reconcile-Token": "nope"})
    finally:
        server.shutdown()
        server.server_close()
    assert answer[0] == 401
    assert json.loads(out.getvalue()) == {
        "timestamp": "2026-11-24T12:00:00Z",
        "level": "warn",
        "event": "http.refused",
        "reason": "http_unauthorized",
        "code": 401,
        "method": "POST",
        "path": WEBHOOK,
        "peer": "127.0.0.1",
    }


def test_the_throttle_admits_one_event_per_key_per_window_and_counts_the_rest() -> None:
    clock = Clock()
    throttle = Throttle(10.0, clock)
    assert throttle.admit("a") == 0
    assert throttle.admit("a") is None
    assert throttle.admit("b") == 0  # its own key
    clock.now += 9.9
    assert throttle.admit("a") is None
    clock.now += 0.1
    assert throttle.admit("a") == 2
    assert throttle.admit("a") is None


def test_shutdown_closes_every_connection_and_ends_the_thread(start: Any) -> None:
    running = start(request_deadline=30.0)
    hanging = socket.create_connection(("127.0.0.1", running.port))
    hanging.sendall(b"GET /healthz HTTP/1.1\r\n")
    assert request(running.port, "GET", "/healthz")[0] == 200
    running.server.shutdown()
    assert read_until_closed(hanging) == b""
    hanging.close()
    assert not any(t.name == "reconciler-http" for t in threading.enumerate())
    with pytest.raises(OSError):
        request(running.port, "GET", "/healthz")
