"""The status page's HTML: every value escaped, no script in the static file, a strict CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from reconciler.render import status_page as page

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"


def document(actor: str = "alice", **fleet: Any) -> dict[str, Any]:
    base = {
        "fleetId": "fleet-a",
        "canaryPercent": 25,
        "manualPause": False,
        "state": "running",
        "mode": "guarded_auto",
        "decision": {"decision": "promote", "traceId": "t-1", "age": "30m", "stale": False},
        "governance": {
            "actor": actor,
            "approvalRef": actor,
            "reviewBy": "2027-12-31T00:00:00Z",
            "daysLeft": 3.5,
            "warning": True,
        },
        "guards": {"enabled": False, "problem": None},
        "pending": [
            {
                "intentFile": f"intents/{actor}.yaml",
                "action": "expand",
                "status": "deferred",
                "reasonCodes": ["cooldown_active"],
                "notBefore": "2026-12-08T00:00:00Z",
                "actor": actor,
                "approvalRef": actor,
            }
        ],
        "deferred": [],
    }
    base.update(fleet)
    history = {
        "time": "2026-12-07T10:00:00Z",
        "fleet": "fleet-a",
        "action": "expand",
        "status": "applied",
        "canary": {"before": 10, "after": 25},
        "actor": actor,
        "approvalRef": actor,
        "commit": "a" * 40,
        "verification": "unsigned",
    }
    return {
        "generatedAt": "2026-12-07T10:00:00Z",
        "repo": "/srv/policies",
        "head": "b" * 40,
        "fleets": [base],
        "history": [history],
        "audit": {"blocking": [f"hand_edit abc registry.yaml: {actor}"], "unresolved": {}},
        "warnings": [f"warning about {actor}"],
        "controller": None,
    }


@pytest.mark.parametrize("live", [True, False], ids=["live", "static"])
def test_a_hostile_actor_is_text_everywhere_it_appears(live: bool) -> None:
    html = page.page_html(document(HOSTILE), live=live)
    assert "<img" not in html
    assert "<script>alert" not in html
    assert "onerror=alert(2)>" not in html
    escaped = (
        "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&gt;&lt;img src=x onerror=alert(2)&gt;"
    )
    # actor and approval ref of the fleet, the intent and the history entry, the intent's
    # name, the warning and the audit finding
    assert html.count(escaped) >= 9


def test_the_live_page_loads_its_script_from_its_own_origin_only() -> None:
    html = page.page_html(document(), live=True)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/status.js" defer>']
    assert "http://" not in html and "https://" not in html  # nothing from outside
    assert not re.search(r"<[^>]+\son[a-z]+=", html)  # no inline event handler


def test_the_static_page_has_no_script_and_a_policy_of_its_own() -> None:
    html = page.page_html(document(), live=False)
    assert "<script" not in html
    assert 'http-equiv="Content-Security-Policy"' in html
    assert "static snapshot" in html


def test_the_policy_allows_exactly_the_inline_style_by_its_hash() -> None:
    digest = base64.b64encode(hashlib.sha256(page.STYLE.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in page.CONTENT_SECURITY_POLICY
    assert f"<style>{page.STYLE}</style>" in page.page_html(document(), live=True)
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in page.CONTENT_SECURITY_POLICY
    assert "unsafe" not in page.CONTENT_SECURITY_POLICY


def test_the_script_writes_text_only() -> None:
    script = page.page_script().decode()
    assert "innerHTML" not in script and "outerHTML" not in script
    assert "insertAdjacentHTML" not in script and "document.write" not in script
    assert "eval(" not in script
    assert "textContent" in script
    assert "fetch('/api/status'" in script


def test_the_fleet_row_shows_posture_decision_governance_and_guards() -> None:
    guards = {
        "enabled": True,
        "problem": None,
        "cooldown": {"leftSeconds": 90, "until": "2026-12-07T10:01:30Z"},
        "budget": {
            "window": "24h",
            "expandsUsed": 1,
            "maxExpands": 3,
            "expandsLeft": 2,
            "percentUsed": 15,
            "maxExpandPercent": None,
            "percentLeft": None,
        },
        "freeze": {
            "blocked": False,
            "active": None,
            "next": {
                "name": "xmas",
                "start": "2026-12-24T00:00:00Z",
                "end": "2026-12-27T00:00:00Z",
            },
        },
    }
    [(key, cells)] = page.fleet_rows(document(guards=guards, manualPause=True, state="paused"))
    shown = {field: (text, cls) for field, text, cls in cells}
    assert key == "fleet-a"
    assert shown["canary"] == ("25%", "")
    assert shown["state"] == ("paused", "warn")
    assert shown["daysLeft"] == ("3.5 (due soon)", "warn")
    assert shown["cooldown"][0] == "90 s (until 2026-12-07T10:01:30Z)"
    assert shown["budget"][0] == "1 of 3 expands, 2 left (per 24h)"
    assert shown["freeze"][0] == "next: xmas 2026-12-24T00:00:00Z - 2026-12-27T00:00:00Z"
    assert [field for field, _text, _cls in cells] == [f for f, _t in page.FLEET_COLUMNS]


def test_history_and_controller_rows() -> None:
    doc = document()
    doc["controller"] = {
        "lastPassAt": "2026-12-07T10:00:00Z",
        "lastPassSeconds": 0.25,
        "failures": 2,
        "errorsTotal": 5,
        "lastError": {"reason": "lock_timeout", "message": "busy"},
        "backoffSeconds": 4.2,
        "retryAt": "2026-12-07T10:00:04Z",
        "ready": True,
    }
    [(_key, cells)] = page.history_rows(doc)
    assert {f: t for f, t, _c in cells}["canary"] == "10 -> 25"
    [(_key, cells)] = page.controller_rows(doc)
    shown = {f: t for f, t, _c in cells}
    assert shown["duration"] == "0.250 s"
    assert shown["errors"] == "2 in a row, 5 in all"
    assert shown["backoff"] == "4.2 s, retry at 2026-12-07T10:00:04Z"


def test_a_fleet_waiting_for_its_upstream_shows_the_soak() -> None:
    upstream = {
        "fleet": "staging",
        "ready": False,
        "since": "2026-12-07T09:00:00Z",
        "readyAt": "2026-12-08T09:00:00Z",
        "message": "upstream staging: held 30% unpaused since 2026-12-07T09:00:00Z, soak 24h: "
        "ready at 2026-12-08T09:00:00Z",
    }
    guards = {"enabled": True, "problem": None, "freeze": None, "upstream": upstream}
    [(_key, cells)] = page.fleet_rows(document(guards=guards))
    shown = {field: (text, cls) for field, text, cls in cells}
    assert shown["upstream"] == (f"waiting: {upstream['message']}", "warn")
    ready = {**guards, "upstream": {**upstream, "ready": True}}
    [(_key, cells)] = page.fleet_rows(document(guards=ready))
    assert {f: c for f, _t, c in cells}["upstream"] == ""
    [(_key, cells)] = page.fleet_rows(document())  # guards off: no upstream
    assert {f: t for f, t, _c in cells}["upstream"] == "-"


def test_a_fleet_that_cannot_be_read_shows_only_its_problem() -> None:
    problem = {"reason": "registry_parse_error", "message": "<b>bad</b> registry", "details": []}
    broken: dict[str, Any] = {
        "fleetId": "prod-eu",
        "canaryPercent": None,
        "manualPause": None,
        "state": "unknown",
        "mode": None,
        "decision": None,
        "governance": None,
        "guards": None,
        "pending": [],
        "deferred": [],
        "problem": problem,
    }
    doc = document()
    doc["fleets"].append(broken)
    [_first, (key, cells)] = page.fleet_rows(doc)
    shown = {field: (text, cls) for field, text, cls in cells}
    assert key == "prod-eu"
    assert shown["problem"] == ("registry_parse_error: <b>bad</b> registry", "bad")
    assert (shown["fleet"][0], shown["state"][0]) == ("prod-eu", "unknown")
    others = {f: v for f, v in shown.items() if f not in ("fleet", "state", "problem")}
    assert set(others.values()) == {("-", "")}
    html = page.page_html(doc, live=False)
    assert "&lt;b&gt;bad&lt;/b&gt; registry" in html and "<b>bad" not in html


def test_a_history_entry_without_a_fleet_shows_a_dash() -> None:
    doc = document()
    doc["history"][0].pop("fleet")
    [(_key, cells)] = page.history_rows(doc)
    assert {f: t for f, t, _c in cells}["fleet"] == "-"


def test_overdue_and_the_pending_count_follow_the_report_not_rounded_or_repeated_rows() -> None:
    # 59 minutes left rounds to 0.0 days: it is due, not overdue (the CLI said "due in 59m").
    due = {"reviewBy": "x", "daysLeft": 0.0, "warning": True, "reviewExpired": False}
    [(_, cells)] = page.fleet_rows(document(governance=due, pendingFiles=1))
    shown = {field: text for field, text, _cls in cells}
    assert shown["daysLeft"] == "0.0 (due soon)"
    assert shown["pending"] == "1"  # one file, however many rows it has (superseded: two)
    gone = {**due, "daysLeft": -0.1, "reviewExpired": True}
    [(_, cells)] = page.fleet_rows(document(governance=gone))
    assert {field: text for field, text, _cls in cells}["daysLeft"] == "-0.1 (overdue)"
