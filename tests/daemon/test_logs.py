"""The daemon's event log: one line per event, text or JSON, never forged, never fatal."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr
from datetime import UTC, datetime

from reconciler.daemon.logs import EventLog

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
