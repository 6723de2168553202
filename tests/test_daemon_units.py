"""The controller's small parts: log lines, the HTTP server's limits, flag checks."""

from __future__ import annotations

import http.client
import io
import json
import subprocess
import sys
from contextlib import redirect_stderr
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.daemon.http import Endpoints, serve
from reconciler.daemon.logs import EventLog
from reconciler.daemon.metrics import Metrics

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_a_text_log_value_with_a_newline_cannot_forge_a_second_line() -> None:
    out = io.StringIO()
    with redirect_stderr(out):
        EventLog("text", lambda: NOW)("intent", intent="b\n2026-11-24T16:00:00Z error forged")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("2026-11-24T12:00:00Z info  intent intent=")
    assert '"b\\n2026' in lines[0]


def test_a_json_log_line_has_timestamp_level_event_and_drops_missing_fields() -> None:
    out = io.StringIO()
    with redirect_stderr(out):
        EventLog("json", lambda: NOW)("pass.done", applied=2, commit=None)
    assert json.loads(out.getvalue()) == {
        "timestamp": "2026-11-24T12:00:00Z",
        "level": "info",
        "event": "pass.done",
        "applied": 2,
    }


def test_a_closed_stderr_never_ends_the_daemon() -> None:
    closed = io.StringIO()
    closed.close()
    with redirect_stderr(closed):
        EventLog("text", lambda: NOW)("pass.start")  # no exception


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


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--resync", "0s"),
        ("--interval", "0"),
        ("--debounce", "0ms"),
        ("--resync", "200000d"),
        ("--shutdown-timeout", "0s"),
    ],
)
def test_durations_outside_their_range_are_refused(flag: str, value: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--watch", "--repo", str(tmp_path), flag, value],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr


@pytest.mark.parametrize("token", ["", "   \n", "pässwörd"])
def test_an_unusable_webhook_token_is_refused_at_start(token: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--watch", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**__import__("os").environ, "RECONCILER_WEBHOOK_TOKEN": token},
    )
    assert done.returncode == 2, done.stderr
    assert "RECONCILER_WEBHOOK_TOKEN" in done.stderr


def test_once_only_flags_are_refused_without_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--dry-run", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "only with --once" in done.stderr
