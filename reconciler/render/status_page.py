"""The status page as HTML: the controller's `/` and `reconcile status --html FILE`.

Every value is data, never markup: each one goes through `html.escape` (intent names, actors
and approval refs are written by whoever opens a pull request). The page needs nothing from
outside: its style is inline, allowed by its hash in the Content-Security-Policy, and its
script (render/static/status.js) is a same-origin file that re-renders the tables from
`/api/status` with `textContent` only. The cells are the same in both languages.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from reconciler.render.tables import escape_controls

SCRIPT_PATH = "/static/status.js"
POLL_SECONDS = 2
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1b1b;background:#fff}
h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td{overflow-wrap:anywhere}
.warn{background:#fff3cd}.bad{background:#f8d7da}.muted{color:#666}
ul{margin:.2em 0;padding-left:1.2em}
"""
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; "
    f"style-src 'sha256-{STYLE_HASH}'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""What the controller sends with the page: its own script, its inline style, nothing else."""
STATIC_POLICY = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; base-uri 'none'; form-action 'none'"
)
"""The static file's `<meta>` policy: no script at all (frame-ancestors only works as a header)."""

Row = tuple[str, list[tuple[str, str, str]]]
"""A table row: its key, then (field, text, css class) per cell."""

FLEET_COLUMNS = (
    ("fleet", "fleet"),
    ("canary", "canary"),
    ("state", "state"),
    ("mode", "mode"),
    ("decision", "decision"),
    ("decisionTraceId", "decision trace id"),
    ("decisionAge", "decision age"),
    ("decisionStale", "stale?"),
    ("actor", "actor"),
    ("approvalRef", "approval ref"),
    ("reviewBy", "review by"),
    ("daysLeft", "days left"),
    ("cooldown", "cooldown left"),
    ("budget", "budget used / left"),
    ("freeze", "freeze window"),
    ("upstream", "upstream soak"),
    ("pending", "pending"),
    ("deferred", "deferred"),
    ("problem", "problem"),
)
INTENT_COLUMNS = (
    ("fleet", "fleet"),
    ("intent", "intent"),
    ("action", "action"),
    ("predicted", "predicted outcome"),
    ("reasons", "reasons"),
    ("notBefore", "not before"),
    ("actor", "actor"),
    ("approvalRef", "approval ref"),
)
HISTORY_COLUMNS = (
    ("time", "time"),
    ("fleet", "fleet"),
    ("action", "action"),
    ("status", "status"),
    ("canary", "canary"),
    ("actor", "actor"),
    ("approvalRef", "approval ref"),
    ("commit", "commit"),
    ("verification", "verification"),
)
CONTROLLER_COLUMNS = (
    ("lastPass", "last pass"),
    ("duration", "duration"),
    ("errors", "errors"),
    ("lastError", "last error"),
    ("backoff", "backoff"),
    ("ready", "ready"),
)


def page_html(doc: Mapping[str, Any], *, live: bool) -> str:
    """The whole page; `live` adds the script that polls `/api/status` (the controller's)."""
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>rollout-reconciler status</title>",
    ]
    if live:
        head.append(f'<script src="{SCRIPT_PATH}" defer></script>')
    else:
        head.append(f'<meta http-equiv="Content-Security-Policy" content="{_e(STATIC_POLICY)}">')
    head.append(f"<style>{STYLE}</style>")
    shown = len(doc.get("history") or ())
    live_text = f"live: updates every {POLL_SECONDS} s" if live else "static snapshot"
    body = [
        "<header><h1>rollout-reconciler status</h1>",
        f'<p id="meta">{_e(_meta_text(doc))}</p>',
        f'<p id="live" class="muted">{_e(live_text)}</p>',
        '<p class="muted">Read-only: changes go through pull requests.</p></header>',
        '<h2>Warnings</h2><ul id="warnings">',
        *(f"<li>{_e(text)}</li>" for text in doc.get("warnings") or ()),
        "</ul>",
        "<h2>Fleets</h2>",
        _table("fleets", FLEET_COLUMNS, fleet_rows(doc)),
        "<h2>Pending and deferred intents</h2>",
        _table("intents", INTENT_COLUMNS, intent_rows(doc)),
        "<h2>Controller</h2>",
        _table("controller", CONTROLLER_COLUMNS, controller_rows(doc)),
        "<h2>Audit findings</h2>",
        '<ul id="audit">',
        *(f"<li>{_e(text)}</li>" for text in audit_lines(doc)),
        "</ul>",
        f'<h2 id="history-title">History (last {shown} reconcile commits)</h2>',
        _table("history", HISTORY_COLUMNS, history_rows(doc)),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head>'
        + "".join(head)
        + "</head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _e(value: object) -> str:
    """A value as HTML text, HTML-escaped.

    Control, bidi and lone surrogate characters are made visible first, as in every text
    report (`tables.escape_controls`).
    """
    return html.escape(escape_controls(str(value)), quote=True)


def _table(name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Row]) -> str:
    header = "".join(f'<th data-field="{_e(f)}">{_e(title)}</th>' for f, title in columns)
    lines = [
        f'<table id="{_e(name)}"><thead><tr>{header}</tr></thead><tbody>',
    ]
    for key, cells in rows:
        tds = "".join(
            f'<td data-field="{_e(field)}"'
            + (f' class="{_e(cls)}"' if cls else "")
            + f">{_e(text)}</td>"
            for field, text, cls in cells
        )
        lines.append(f'<tr data-key="{_e(key)}">{tds}</tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _meta_text(doc: Mapping[str, Any]) -> str:
    head = str(doc.get("head") or "")[:12] or "-"
    return f"repository {_text(doc.get('repo'))} at {head}, as of {_text(doc.get('generatedAt'))}"


@cache
def page_script() -> bytes:
    """The live page's script (`/static/status.js`), shipped in the package."""
    return resources.files("reconciler.render").joinpath("static", "status.js").read_bytes()


# The cells: render/static/status.js computes the same texts in the browser. -----------


def fleet_rows(doc: Mapping[str, Any]) -> list[Row]:
    """One row per fleet."""
    rows: list[Row] = []
    for fleet in doc.get("fleets") or ():
        decision = fleet.get("decision") or {}
        governance = fleet.get("governance") or {}
        guards = fleet.get("guards") or {}
        stale = bool(decision.get("stale"))
        cells = [
            ("fleet", _text(fleet.get("fleetId")), ""),
            ("canary", _percent_text(fleet.get("canaryPercent")), ""),
            ("state", _text(fleet.get("state")), "warn" if fleet.get("manualPause") else ""),
            ("mode", _text(fleet.get("mode")), ""),
            ("decision", _text(decision.get("decision") or "unusable"), ""),
            ("decisionTraceId", _text(decision.get("traceId")), ""),
            ("decisionAge", _text(decision.get("age")), ""),
            ("decisionStale", "stale" if stale else "fresh", "bad" if stale else ""),
            ("actor", _text(governance.get("actor")), ""),
            ("approvalRef", _text(governance.get("approvalRef")), ""),
            ("reviewBy", _text(governance.get("reviewBy")), ""),
            ("daysLeft", _days_text(governance), "warn" if governance.get("warning") else ""),
            ("cooldown", _cooldown_text(guards), ""),
            ("budget", _budget_text(guards), ""),
            ("freeze", _freeze_text(guards), "warn" if _is_frozen(guards) else ""),
            ("upstream", _upstream_text(guards), "warn" if _is_upstream_waiting(guards) else ""),
            ("pending", str(fleet.get("pendingFiles", 0)), ""),
            ("deferred", str(len(fleet.get("deferred") or ())), ""),
            ("problem", _problem_text(fleet.get("problem")), "bad" if fleet.get("problem") else ""),
        ]
        if fleet.get("problem"):  # its state could not be read: nothing else to tell
            keep = ("fleet", "state", "problem")
            cells = [(f, t if f in keep else "-", c if f in keep else "") for f, t, c in cells]
        rows.append((str(fleet.get("fleetId")), cells))
    return rows


def _percent_text(value: object) -> str:
    return "-" if value is None else f"{value}%"


def _problem_text(problem: Mapping[str, Any] | None) -> str:
    return f"{problem.get('reason')}: {problem.get('message')}" if problem else "-"


def _upstream_text(guards: Mapping[str, Any]) -> str:
    """The upstream's soak: ready or waiting, then its one line (fleet, held since, ready at)."""
    upstream = guards.get("upstream") if guards.get("enabled") else None
    if not upstream:
        return "-"
    return f"{'ready' if upstream.get('ready') else 'waiting'}: {upstream.get('message')}"


def _is_upstream_waiting(guards: Mapping[str, Any]) -> bool:
    upstream = guards.get("upstream") if guards.get("enabled") else None
    return bool(upstream) and not upstream.get("ready")  # type: ignore[union-attr]


def _days_text(governance: Mapping[str, Any]) -> str:
    days = governance.get("daysLeft")
    if days is None:
        return "unknown"
    if governance.get("reviewExpired"):  # not the rounded days: 0.0 may be 59 minutes left
        return f"{days} (overdue)"
    return f"{days} (due soon)" if governance.get("warning") else str(days)


def _cooldown_text(guards: Mapping[str, Any]) -> str:
    if not guards.get("enabled"):
        return "off"
    problem = guards.get("problem")
    if problem:
        return f"unknown: {problem.get('reason')}"
    cooldown = guards.get("cooldown")
    if not cooldown:
        return "off"
    left = int(cooldown.get("leftSeconds") or 0)
    return f"{left} s (until {cooldown.get('until')})" if left > 0 else "clear"


def _budget_text(guards: Mapping[str, Any]) -> str:
    budget = guards.get("budget") if guards.get("enabled") else None
    if not budget:
        return "off"
    parts = []
    if budget.get("maxExpands") is not None:
        parts.append(
            f"{budget.get('expandsUsed')} of {budget.get('maxExpands')} expands, "
            f"{budget.get('expandsLeft')} left"
        )
    if budget.get("maxExpandPercent") is not None:
        parts.append(
            f"{budget.get('percentUsed')}% of {budget.get('maxExpandPercent')}%, "
            f"{budget.get('percentLeft')}% left"
        )
    return f"{'; '.join(parts) or 'off'} (per {budget.get('window')})"


def _is_frozen(guards: Mapping[str, Any]) -> bool:
    return bool((guards.get("freeze") or {}).get("blocked")) if guards.get("enabled") else False


def _freeze_text(guards: Mapping[str, Any]) -> str:
    freeze = guards.get("freeze") if guards.get("enabled") else None
    if not freeze:
        return "none"
    active, upcoming = freeze.get("active"), freeze.get("next")
    if active:
        return f"active: {active.get('name')} until {active.get('end')}"
    if freeze.get("blocked"):
        return f"active: {freeze.get('message')}"
    if upcoming:
        return f"next: {upcoming.get('name')} {upcoming.get('start')} - {upcoming.get('end')}"
    return "none"


def intent_rows(doc: Mapping[str, Any]) -> list[Row]:
    """The pending intents of every fleet, with the outcome the next pass would give them."""
    rows: list[Row] = []
    for fleet in doc.get("fleets") or ():
        for intent in fleet.get("pending") or ():
            cells = [
                ("fleet", _text(fleet.get("fleetId")), ""),
                ("intent", _text(intent.get("intentFile")), ""),
                ("action", _text(intent.get("action")), ""),
                ("predicted", _text(intent.get("status")), _status_class(intent.get("status"))),
                ("reasons", ", ".join(intent.get("reasonCodes") or ()) or "-", ""),
                ("notBefore", _text(intent.get("notBefore")), ""),
                ("actor", _text(intent.get("actor")), ""),
                ("approvalRef", _text(intent.get("approvalRef")), ""),
            ]
            rows.append((f"{fleet.get('fleetId')}/{intent.get('intentFile')}", cells))
    return rows


def _status_class(status: object) -> str:
    return {"rejected": "bad", "deferred": "warn"}.get(str(status), "")


def history_rows(doc: Mapping[str, Any]) -> list[Row]:
    """The last reconcile commits, newest first."""
    rows: list[Row] = []
    for entry in doc.get("history") or ():
        canary = entry.get("canary")
        if canary is None:
            shown = "-"
        elif canary.get("after") is None:
            shown = str(canary.get("before"))
        else:
            shown = f"{canary.get('before')} -> {canary.get('after')}"
        verification = entry.get("verification")
        cells = [
            ("time", _text(entry.get("time")), ""),
            ("fleet", _text(entry.get("fleet")), ""),
            ("action", _text(entry.get("action")), ""),
            ("status", _text(entry.get("status")), _status_class(entry.get("status"))),
            ("canary", shown, ""),
            ("actor", _text(entry.get("actor")), ""),
            ("approvalRef", _text(entry.get("approvalRef")), ""),
            ("commit", str(entry.get("commit") or "")[:12] or "-", ""),
            ("verification", _text(verification), "bad" if verification == "forged" else ""),
        ]
        rows.append((str(entry.get("commit")), cells))
    return rows


def audit_lines(doc: Mapping[str, Any]) -> list[str]:
    """The audit's problem, its blocking findings and the unresolved counts by kind."""
    audit = doc.get("audit") or {}
    lines = [f"audit could not run: {audit['problem']}"] if audit.get("problem") else []
    lines += [f"blocking: {line}" for line in audit.get("blocking") or ()]
    counts = audit.get("unresolved") or {}
    lines += [f"unresolved {kind}: {count}" for kind, count in counts.items() if count]
    return lines or ["no unresolved findings"]


def controller_rows(doc: Mapping[str, Any]) -> list[Row]:
    """The controller's own state (none in a static snapshot)."""
    state = doc.get("controller")
    if not state:
        return []
    error = state.get("lastError")
    backoff = state.get("backoffSeconds")
    cells = [
        ("lastPass", _text(state.get("lastPassAt")), ""),
        ("duration", _seconds_text(state.get("lastPassSeconds")), ""),
        (
            "errors",
            f"{state.get('failures', 0)} in a row, {state.get('errorsTotal', 0)} in all",
            "bad" if state.get("failures") else "",
        ),
        ("lastError", f"{error.get('reason')}: {error.get('message')}" if error else "-", ""),
        (
            "backoff",
            "-" if backoff is None else f"{backoff:.1f} s, retry at {state.get('retryAt')}",
            "",
        ),
        (
            "ready",
            "ready" if state.get("ready") else "not ready",
            "" if state.get("ready") else "bad",
        ),
    ]
    return [("controller", cells)]


def _seconds_text(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.3f} s"
