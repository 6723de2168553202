"""The forge hooks over real sockets: /hooks/github, /hooks/gitlab, /hooks/gitea in-process.

The routes call the trigger before they answer, so `triggered` is final once a response has
arrived: "no pass" is an assertion, not a wait.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from reconciler.daemon.http import Endpoints, serve
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import Limits, Server
from reconciler.daemon.webhooks import Forges, sign

SECRET = "It's a Secret to Everybody"
MAX_BODY = 4096
PROVIDERS = ["github", "gitlab", "gitea"]


class Running(NamedTuple):
    server: Server
    port: int
    metrics: Metrics
    triggered: list[int]
    events: list[dict[str, Any]]


@pytest.fixture
def start() -> Iterator[Any]:
    started: list[Server] = []

    def run(secret: str | None = SECRET, **limits: Any) -> Running:
        metrics, triggered, events = Metrics(), [], []

        def log(event: str, level: str = "info", **fields: object) -> None:
            events.append({"event": event, "level": level, **fields})

        forges = Forges(secret, "main", MAX_BODY)
        endpoints = Endpoints(
            metrics, lambda: True, lambda: triggered.append(1), None, log=log, forges=forges
        )
        server = serve("127.0.0.1", 0, endpoints, Limits(**limits))
        started.append(server)
        return Running(server, server.server_address[1], metrics, triggered, events)

    yield run
    for server in started:
        server.shutdown()
        server.server_close()


def payload(ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "after": "a" * 40, "marker": "BODY-MARKER"}).encode()


def signed(
    provider: str, body: bytes, *, event: str = "push", delivery: str = ""
) -> dict[str, str]:
    """The headers `provider` sends with `body` (`event` "push": its name for a push)."""
    delivery = delivery or f"delivery-{len(body)}-{event}"
    if provider == "github":
        return {
            "X-Hub-Signature-256": "sha256=" + sign(SECRET.encode(), body),
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "Content-Type": "application/json",
        }
    if provider == "gitlab":
        return {
            "X-Gitlab-Token": SECRET,
            "X-Gitlab-Event": "Push Hook" if event == "push" else event,
            "X-Gitlab-Event-UUID": delivery,
            "Content-Type": "application/json",
        }
    return {
        "X-Gitea-Signature": sign(SECRET.encode(), body),
        "X-Gitea-Event": event,
        "X-Gitea-Delivery": delivery,
        "Content-Type": "application/json",
    }


CREDENTIALS = {
    "github": "X-Hub-Signature-256",
    "gitlab": "X-Gitlab-Token",
    "gitea": "X-Gitea-Signature",
}


def forged(provider: str, body: bytes) -> dict[str, str]:
    """`provider`'s headers with the credential's last character changed."""
    headers = signed(provider, body)
    name = CREDENTIALS[provider]
    headers[name] = headers[name][:-1] + ("0" if headers[name][-1] != "0" else "1")
    return headers


def post(port: int, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def raw(port: int, data: bytes) -> bytes:
    """Send `data` as is; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def deliveries(running: Running, provider: str, outcome: str) -> float:
    value = running.metrics.registry.get_sample_value(
        "reconciler_webhook_deliveries_total", {"provider": provider, "outcome": outcome}
    )
    return value or 0.0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_authentic_push_to_the_branch_triggers_a_pass(start: Any, provider: str) -> None:
    running = start()
    body = payload()
    assert post(running.port, f"/hooks/{provider}", signed(provider, body), body)[0] == 202
    assert running.triggered == [1]
    assert deliveries(running, provider, "triggered") == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_or_missing_credential_is_refused_without_a_pass(start: Any, provider: str) -> None:
    running = start()
    body = payload()
    headers = signed(provider, body)
    name = CREDENTIALS[provider]
    for wrong in (forged(provider, body), {**headers, name: ""}):
        assert post(running.port, f"/hooks/{provider}", wrong, body) == (401, "unauthorized\n")
    del headers[name]
    assert post(running.port, f"/hooks/{provider}", headers, body)[0] == 401
    # Signed for another body: the signature covers every byte.
    if provider != "gitlab":
        assert (
            post(running.port, f"/hooks/{provider}", signed(provider, body), body + b" ")[0] == 401
        )
    assert running.triggered == []
    assert deliveries(running, provider, "http_unauthorized") >= 3


@pytest.mark.parametrize(
    ("provider", "event", "code"),
    [("github", "ping", 200), ("gitlab", "System Hook", 202), ("gitea", "create", 202)],
)
def test_a_ping_or_another_event_is_answered_without_a_pass(
    start: Any, provider: str, event: str, code: int
) -> None:
    running = start()
    body = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()
    assert (
        post(running.port, f"/hooks/{provider}", signed(provider, body, event=event), body)[0]
        == code
    )
    assert running.triggered == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_push_to_another_branch_or_a_tag_is_accepted_without_a_pass(
    start: Any, provider: str
) -> None:
    running = start()
    for ref in ("refs/heads/feature", "refs/tags/v1.0"):
        body = payload(ref)
        code, text = post(running.port, f"/hooks/{provider}", signed(provider, body), body)
        assert (code, text) == (202, f"ignored: a push to {ref}\n")
    assert running.triggered == []
    assert deliveries(running, provider, "other_branch") == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_replayed_delivery_runs_no_second_pass(start: Any, provider: str) -> None:
    running = start()
    body = payload()
    headers = signed(provider, body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert post(running.port, f"/hooks/{provider}", headers, body)[0] == 202
    assert post(running.port, f"/hooks/{provider}", headers, body) == (
        200,
        "duplicate delivery: ignored\n",
    )
    assert running.triggered == [1]
    fresh = signed(provider, body, delivery="another")
    assert post(running.port, f"/hooks/{provider}", fresh, body)[0] == 202
    assert running.triggered == [1, 1]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_oversized_body_is_refused_with_413_before_it_is_read(start: Any, provider: str) -> None:
    running = start()
    body = payload()
    headers = signed(provider, body)
    head = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
    # Declares 100 MB and sends none of it: the 413 comes at once.
    request = (
        f"POST /hooks/{provider} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {100 << 20}\r\n\r\n"
    )
    answer = raw(running.port, request.encode())
    assert answer.startswith(b"HTTP/1.1 413 ")
    # One byte past the bound, actually sent.
    big = b" " * (MAX_BODY + 1)
    assert post(running.port, f"/hooks/{provider}", signed(provider, big), big)[0] == 413
    assert running.triggered == []
    assert deliveries(running, provider, "http_body_too_large") == 2


def chunked(provider: str, body: bytes, piece: int = 1000) -> bytes:
    head = "".join(f"{key}: {value}\r\n" for key, value in signed(provider, body).items())
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece])
        for i in range(0, len(body), piece)
    )
    start = f"POST /hooks/{provider} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    return f"{start}{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_chunked_body_is_read_and_bounded(start: Any, provider: str) -> None:
    running = start()
    padded = json.dumps({"ref": "refs/heads/main", "pad": "x" * 2500}).encode()
    assert raw(running.port, chunked(provider, padded)).startswith(b"HTTP/1.1 202 ")
    assert running.triggered == [1]
    huge = json.dumps({"ref": "refs/heads/main", "pad": "x" * (MAX_BODY * 4)}).encode()
    assert raw(running.port, chunked(provider, huge)).startswith(b"HTTP/1.1 413 ")
    assert running.triggered == [1]


def test_a_client_that_expects_100_continue_is_told_to_go_on(start: Any) -> None:
    running = start()
    body = payload()
    head = "".join(f"{key}: {value}\r\n" for key, value in signed("github", body).items())
    request = (
        f"POST /hooks/github HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{head}"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(request.encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert running.triggered == [1]


def test_a_body_that_never_arrives_gets_408_at_the_request_deadline(start: Any) -> None:
    running = start(request_deadline=0.3)
    body = payload()
    head = "".join(f"{key}: {value}\r\n" for key, value in signed("gitea", body).items())
    request = f"POST /hooks/gitea HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n\r\n"
    answer = raw(running.port, request.encode() + body[:10])
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert running.triggered == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_without_a_secret_the_forge_hooks_refuse_every_call(start: Any, provider: str) -> None:
    running = start(secret=None)
    body = payload()
    assert post(running.port, f"/hooks/{provider}", signed(provider, body), body) == (
        403,
        "no webhook secret configured\n",
    )
    assert running.triggered == []
    assert [e["reason"] for e in running.events] == ["http_hook_not_configured"]


def test_the_log_never_holds_the_secret_the_signature_or_the_body(start: Any) -> None:
    running = start()
    for provider in PROVIDERS:
        body = payload()
        assert post(running.port, f"/hooks/{provider}", signed(provider, body), body)[0] == 202
        assert post(running.port, f"/hooks/{provider}", forged(provider, body), body)[0] == 401
    shown = repr(running.events)
    assert running.events, "nothing was logged: the check below would prove nothing"
    assert {e["event"] for e in running.events} == {"webhook.delivery", "http.refused"}
    for secret_part in (SECRET, sign(SECRET.encode(), payload()), "BODY-MARKER"):
        assert secret_part not in shown
    delivered = [e for e in running.events if e["event"] == "webhook.delivery"]
    assert [(e["provider"], e["ref"], e["outcome"]) for e in delivered] == [
        (provider, "refs/heads/main", "triggered") for provider in PROVIDERS
    ]


def test_get_on_a_forge_hook_is_405(start: Any) -> None:
    running = start()
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        connection.request("GET", "/hooks/github")
        assert connection.getresponse().status == 405
    finally:
        connection.close()
