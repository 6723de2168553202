"""Data is never markup, in any renderer: tables, text reports, Markdown and JSON.

A value an operator typed (an actor, a rationale, a file name) must print as typed in the
tables and text, read back exactly from the Markdown (escaped, never a second cell or row),
and round-trip through JSON. The Markdown checks decode what was written the way GitHub's
parser does (cmark-gfm: cells split on unescaped pipes, then backslash escapes and code
spans), so a missing escape fails here, not in a pull request.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.render import json_output, markdown, tables, text

HOSTILE = [
    "alice[/bold]", "[bold]bob", "[red]x[/red]", "**x**", "__x__", "_x_", "*x*", "<b>x</b>",
    "a|b", "a\\|b", "a\nb", "a\r\nb|c", "`code`", "``", "` x `", "# heading", "1. item",
    "- item", "> quote", "&amp; &lt;", "$x^2$", "~~gone~~", "[link](https://example.com)",
    "![img](x.png)", "\\", "x\\", ":smile: [/]", "日本語|中文", "\x1b[2Jclear", "\u202eevil",
    "tab\there", " padded ",
]  # fmt: skip
"""Markup of rich, Markdown, HTML and GFM tables, control characters, wide characters."""
ESCAPABLE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punct.
CELL = re.compile(r"(?:\\.|[^|\\])*(?:\\$)?")
"""One GFM table cell: a backslash and the character after it count as one (cmark-gfm)."""
ANSI = re.compile(r"\033\[[0-9;]*m")
HIDDEN = ("Cc", "Cs", "Zl", "Zp")
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def shown(value: str) -> str:
    """What a person should see of `value`: one line, control characters as escapes."""
    return tables.escape_controls(value)


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "intent", "intentFile": "policies/intents/20-expand.yaml", "action": "expand",
        "status": "applied", "reasonCodes": [], "problems": [], "idempotencyKey": "k",
        "traceId": "t", "canary": {"before": 25, "after": 50},
        "manualPause": {"before": False, "after": False}, "actor": "alice",
        "approvalRef": "CAB-1", "decision": "promote", "intentCommit": None, "commit": None,
        "subject": "expand fleet-a canary 25% -> 50% (CAB-1)", "trailers": {}, "new": True,
        "message": "expand fleet-a canary 25% -> 50% (CAB-1)\n\nActor: alice\n",
    }  # fmt: skip
    return {**base, **overrides}


def cells(line: str) -> list[str]:
    """The cells of one Markdown table row, split as GitHub splits them."""
    assert line.startswith("| ") and line.endswith(" |"), line
    body, found, at = line[1:-1], [], 0
    while at <= len(body):
        match = CELL.match(body, at)
        assert match is not None
        found.append(body[at : match.end()])
        at = match.end() + 1
    return [cell.strip() for cell in found]


def decode(cell: str) -> str:
    """What GitHub shows of a cell, a list item or a line: a code span, or escaped text."""
    cell = cell.replace("\\|", "|")  # the table's own unescaping comes first
    fence = re.match(r"`+", cell)
    if fence and cell.endswith(fence.group()) and len(cell) > 2 * len(fence.group()):
        content = cell[len(fence.group()) : -len(fence.group())]
        if content[:1] == content[-1:] == " " and content.strip():
            content = content[1:-1]
        return content
    return ESCAPABLE.sub(r"\1", cell)


def unescaped_markup(cell: str) -> list[str]:
    """Characters CommonMark/GitHub would read as markup: not escaped, not in a code span."""
    plain, at = [], 0
    while at < len(cell):
        if cell[at] == "\\" and ESCAPABLE.match(cell, at):
            at += 2  # an escaped character is text
            continue
        run = re.match(r"`+", cell[at:])
        if run:  # a code span runs to the next run of as many backticks
            closing = re.compile(rf"(?<!`){run.group()}(?!`)").search(cell, at + len(run.group()))
            if closing:
                at = closing.end()
                continue
        plain.append(cell[at])
        at += 1
    return [char for char in plain if char in "\\`*[]<&|~$"]


# Tables and text ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_an_outcome_table_prints_a_value_as_typed_on_its_own_line(value: str) -> None:
    out = tables.outcome_table([row(actor=value, intentFile=f"policies/intents/{value}")])

    header, line = out.splitlines()
    assert header.split()[0] == "intent"
    assert line.startswith(shown(value.rsplit("/", 1)[-1]))  # the file's name, as typed
    assert f"  {shown(value)}  " in line  # the actor, as typed
    assert "\033" not in out


@pytest.mark.parametrize("value", HOSTILE)
def test_a_history_table_prints_a_value_as_typed(value: str) -> None:
    doc = {
        "time": "2026-11-02T09:30:00Z", "commit": "a" * 40, "action": "expand",
        "status": "rejected", "canary": {"before": 25, "after": None}, "manualPause": None,
        "actor": value, "approvalRef": value, "decision": "hold", "reasonCodes": [value],
        "author": {"name": value, "email": value}, "committer": {"name": value, "email": "x@y"},
        "verification": "forged",
    }  # fmt: skip
    out = tables.history_table([doc], color=True)

    header, line = ANSI.sub("", out).splitlines()
    assert header.split()[-1] == "reasons"
    text = shown(value).strip()
    # actor, approval and reasons (the last cell's trailing space is trimmed); the author's
    # and committer's names too unless cut to 24 columns (all HOSTILE escapes are ASCII but
    # the wide 日本語|中文, 12 columns)
    names = 2 if tables.width(shown(value)) <= 24 else 0
    assert line.count(text) == 3 + names
    if not names:
        assert line.count(shown(value)[:23] + "…") == 2
    assert "\033" not in ANSI.sub("", out)  # colour is ours alone


@given(texts)
def test_a_cell_is_always_one_printable_line(value: str) -> None:
    out = tables.table(["a", "b"], [[value, "end"]])

    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(shown(value) or "-")
    hidden = [c for c in out.replace("\n", "") if unicodedata.category(c) in HIDDEN]
    assert hidden == []


@pytest.mark.parametrize("value", HOSTILE)
def test_the_status_report_prints_a_value_as_typed(value: str) -> None:
    report = {
        "posture": {"fleetId": "fleet-a", "canaryPercent": 25, "manualPause": True,
                    "mode": "guarded_auto"},
        "governance": {"actor": value, "approvalRef": value, "reviewBy": None,
                       "changedAt": "2026-11-01T10:00:00+01:00", "daysLeft": None},
        "decision": {"decision": None, "problem": value},
        "pending": [row(actor=value)], "ignored": [{"path": value, "why": value, "reason": "r"}],
        "warnings": [], "guards": {"enabled": False, "problem": None},
    }  # fmt: skip
    out = text.status_text(report)

    assert out.splitlines()[:2] == [
        "fleet fleet-a: canary 25%, paused, mode guarded_auto",
        f"governance: {shown(value)} ({shown(value)}), changed 2026-11-01T09:00:00Z, review by -",
    ]
    # 3 lines, the guards, title, header, row, ignored title, entry
    assert len(out.splitlines()) == 9


@pytest.mark.parametrize("value", HOSTILE)
def test_the_status_guard_lines_and_deferrals_print_a_value_as_typed(value: str) -> None:
    window = {"name": value, "kind": "deny", "reason": value, "start": "s", "end": "e"}
    guards = {
        "enabled": True,
        "problem": None,
        "decisionAfterChange": None,
        "cooldown": None,
        "budget": None,
        "freeze": {"windows": 1, "blocked": True, "message": value, "next": window},
    }
    held = row(status="deferred", intentFile=value, problems=[value], notBefore=None)
    report = {
        "posture": {"fleetId": "fleet-a", "canaryPercent": 25, "manualPause": False,
                    "mode": "guarded_auto"},
        "governance": {"actor": "a", "approvalRef": "b", "reviewBy": None, "changedAt": None,
                       "daysLeft": None},
        "decision": {"decision": None, "problem": "p"},
        "pending": [held], "ignored": [], "warnings": [], "guards": guards,
    }  # fmt: skip
    out = text.status_text(report)

    lines = out.splitlines()
    assert lines[3] == f"freeze: {shown(value)}"
    assert lines[-2:] == [
        f"deferred {shown(value)} (waits for a new decision):",
        f" - {shown(value)}",
    ]
    assert len(lines) == 9  # 3 lines, freeze, title, header, row, deferred, its reason


# Markdown ----------------------------------------------------------------------------------


@given(texts)
def test_inline_text_reads_back_exactly_and_opens_no_markup(value: str) -> None:
    out = markdown.inline(value)

    assert "\n" not in out
    assert unescaped_markup(out) == []
    assert decode(out) == (shown(value) or "-")


@given(texts)
def test_a_code_span_in_a_table_reads_back_exactly_and_stays_one_cell(value: str) -> None:
    out = markdown.code(value, in_table=True)

    assert cells(f"| {out} | x |")[1] == "x"
    assert decode(out) == (shown(value) or "-")


@pytest.mark.parametrize("value", HOSTILE)
def test_the_plan_summary_escapes_every_value(value: str) -> None:
    rows = [row(actor=value, intentFile=f"policies/intents/{value}", reasonCodes=[value],
                subject=value, message=f"{value}\n\n```\nActor: {value}\n")]  # fmt: skip
    summary = {
        "base": "b" * 40, "baseRef": value, "mergeBase": "m" * 40, "head": "h" * 40,
        "problems": [value], "ignored": [{"path": value, "why": value, "reason": "r"}],
    }  # fmt: skip
    error = RefusalError(ReasonCode.PR_EDITS_OWNED_CONTENT, value, details=[value])
    out = markdown.plan_markdown(rows, summary, error)

    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(table) == 2  # the header and one row: no value added a row
    header, line = (cells(item) for item in table)
    assert len(line) == len(header) == 8
    assert decode(line[0]) == shown(value.rsplit("/", 1)[-1])  # the file's name
    assert [decode(line[6]), decode(line[7])] == [shown(value).strip()] * 2
    assert f"<summary>{markdown.html(value)}</summary>" in out
    items = [line[2:] for line in out.split("```")[0].splitlines() if line.startswith("- ")]
    assert len(items) == 2  # the problem, the ignored entry
    assert "**❌ `pr_edits_owned_content`**: " + markdown.inline(value) in out
    assert [unescaped_markup(item) for item in items] == [[], []]
    assert decode(items[0].strip()) == shown(value).strip()


def test_the_plan_summary_keeps_a_commit_message_with_fences_verbatim() -> None:
    message = "subject\n\n```\n```` four\nActor: **x**\n"
    out = markdown.plan_markdown([row(message=message)], {
        "base": "b" * 40, "baseRef": "main", "mergeBase": "m" * 40, "head": "h" * 40,
        "problems": [], "ignored": [],
    })  # fmt: skip

    block = out.split("`````\n", 1)[1].split("\n`````", 1)[0]
    assert block == message.rstrip("\n")


@pytest.mark.parametrize("value", HOSTILE)
def test_the_dispatch_summary_escapes_every_value(value: str) -> None:
    result = {
        "mode": "dry_run", "status": "preview", "predicted": "rejected", "intent": value,
        "intentFile": value, "decision": value, "decisionTraceId": None, "traceId": value,
        "reasonCodes": [value], "problems": [value, value], "canary": {"before": 25, "after": 25},
        "manualPause": {"before": False, "after": True}, "subject": value, "commit": None,
    }  # fmt: skip
    out = markdown.dispatch_markdown(result)

    rows = [cells(line) for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 8 and all(len(cells_) == 2 for cells_ in rows)  # header + 7 facts
    shown_rows = {name: cell for name, cell in rows[1:]}
    assert decode(shown_rows["decision"]) == shown(value).strip()
    assert decode(shown_rows["trace id"]) == shown(value)
    assert shown_rows["pause"] == "running -> paused"
    items = [line for line in out.splitlines() if line.startswith("- ")]
    assert [decode(item[2:]) for item in items] == [shown(value)] * 2
    assert all(not re.match(r"[#>+=-]|\d+[.)]", item[2:]) for item in items)


# JSON --------------------------------------------------------------------------------------


@given(st.dictionaries(texts, texts | st.booleans() | st.none() | st.integers(), max_size=5))
def test_json_round_trips_on_one_line_or_as_one_document(value: dict[str, Any]) -> None:
    line = json_output.line(value)

    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == value
    assert json.loads(json_output.document(value)) == value
    assert json_output.lines([value, value]).splitlines() == [line.rstrip("\n")] * 2
    assert len(json_output.document(value).splitlines()) == len(value) + 2 if value else 1
