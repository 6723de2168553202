r"""The Markdown summaries (GitHub step summary, `--summary-file`) of `plan` and `dispatch`.

Data is never markup: prose goes through `inline` (every character CommonMark or GitHub
could read as emphasis, a link, HTML, an entity, math or a table pipe is backslash-escaped;
a newline or another control character is shown escaped, `\n`, as in the tables), names
and ids through `code` (a code span longer than any run of backticks in them), the
`<summary>` through `html`, a commit message through `fenced`. Words and forms are
`vocabulary`'s, as in the tables (docs/output.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core import guards
from reconciler.core.errors import ReconcileError
from reconciler.core.outcome_rows import final_rows
from reconciler.render import vocabulary as words
from reconciler.render.tables import escape_controls

# `>` is left alone: mid-line it is never markup (a tag or autolink needs `<`), so `->`
# stays readable; at the start of a list item `item` escapes it (a quote).
_SPECIAL = frozenset("\\`*[]<&|~$")
# `_` only opens emphasis at a word's edge: an intraword one (reason_codes) stays readable.
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# What would start a block at the start of a list item: heading, quote, list, rule, setext.
# Up to three leading spaces still start one (with the item's own space: a list item's
# content begins at its first non-space within four columns of the marker).
_BLOCK_START = re.compile(r"^ {0,3}([#>+=-]|\d+(?=[.)]))")
_BACKTICKS = re.compile(r"`+")
STATUS_ICONS = {
    "applied": "✅", "replayed": "🔁", "deferred": "⏳", "rejected": "❌", "preview": "🔎",
    "rolled_back": "⏪",
}  # fmt: skip


def _one_line(value: object) -> str:
    # A newline or another control character is shown escaped (`\n`), as in the tables.
    return escape_controls(str(value))


def inline(value: object) -> str:
    """`value` as Markdown text that renders exactly as typed, on one line, in a table too."""
    text = "".join("\\" + char if char in _SPECIAL else char for char in _one_line(value))
    return _EDGE_UNDERSCORE.sub(r"\\_", text) or words.ABSENT


def item(value: object) -> str:
    """A list item of `inline(value)`, which cannot open a heading, quote or nested list."""
    text = inline(value)
    match = _BLOCK_START.match(text)
    if match and match.group(1).isdigit():  # `1.` would start an ordered list
        text = f"{text[: match.end()]}\\{text[match.end() :]}"
    elif match:
        text = f"{text[: match.start(1)]}\\{text[match.start(1) :]}"
    return f"- {text}"


def code(value: object, *, in_table: bool = False) -> str:
    """`value` as a code span, nothing inside it interpreted; `-` when empty.

    In a table a pipe must still be escaped (GFM splits cells before it reads code spans,
    taking a backslash and the character after it as one): a backslash before a pipe would
    pair with that escape, so such a value is written as escaped text instead.
    """
    text = _one_line(value)
    if not text:
        return words.ABSENT
    if in_table and "\\|" in text:
        return inline(text)
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    # CommonMark strips one space from each end when both are spaces (or the content
    # would touch the fence): pad, so what is shown is exactly the text.
    if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip()):
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def html(value: object) -> str:
    """`value` as the text of an HTML element (a `<summary>`): `&` and `<` as entities."""
    return _one_line(value).replace("&", "&amp;").replace("<", "&lt;")


def fenced(text: str) -> list[str]:
    """A fenced code block holding `text` verbatim (its fence longer than any inside)."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *text.rstrip("\n").splitlines(), fence]


def plan_markdown(
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    error: ReconcileError | None = None,
) -> str:
    """The plan (`reports.plan.plan_rows`, `plan_summary`, `owned_edits_error`) as Markdown."""
    new = [row for row in final_rows(rows) if row["new"]]  # each file once, as it ends
    counts = {status: sum(row["status"] == status for row in new) for status in
              ("applied", "replayed", "deferred", "rejected")}  # fmt: skip
    lines = [
        "## reconcile plan",
        "",
        f"Merge into {code(words.short_commit(summary['base']))} ({inline(summary['baseRef'])}), "
        f"merge-base {code(words.short_commit(summary['mergeBase']))}, head "
        f"{code(words.short_commit(summary['head']))}: {len(new)} new intent(s): "
        f"{counts['applied']} would be applied, {counts['replayed']} replayed, "
        f"{counts['deferred']} deferred, {counts['rejected']} rejected.",
        "",
    ]
    if error is not None:
        lines += [f"**❌ {code(error.reason)}**: {inline(error.message)}", ""]
        lines += [item(problem) for problem in summary["problems"]] + [""]
    if summary["ignored"]:
        lines += ["Ignored (not intents, never read):", ""]
        lines += [
            f"- {code(entry['path'])}: {inline(entry['why'])}" for entry in summary["ignored"]
        ]
        lines.append("")
    if not rows:
        lines.append("No pending intents.")
        return "\n".join(lines) + "\n"
    fleets = any(row.get("fleet") for row in rows)  # several fleets: a first fleet column
    lines += [
        f"| {'fleet | ' if fleets else ''}intent | new | status | action | canary | pause | "
        "actor | reasons |",
        f"|{'---|' if fleets else ''}---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            *([inline(words.shown(row.get("fleet")))] if fleets else []),
            code(row["intentFile"].rsplit("/", 1)[-1], in_table=True),
            "yes" if row["new"] else "no",
            f"{STATUS_ICONS[row['status']]} {row['status']}",
            inline(words.shown(row["action"])),
            words.canary_change(row["canary"]),
            words.pause_change(row["manualPause"]),
            inline(words.shown(row["actor"])),
            inline(words.reasons(row["reasonCodes"]) + _not_before(row)),
        ]
        lines.append(f"| {' | '.join(cells)} |")
    lines.append("")
    for row in rows:
        lines += [f"<details><summary>{html(row['subject'])}</summary>", ""]
        lines += [*fenced(row["message"]), "", "</details>", ""]
    return "\n".join(lines)


def _not_before(row: Mapping[str, Any]) -> str:
    if row["status"] != "deferred":
        return ""
    if row["notBefore"]:
        return f"; not before {row['notBefore']}"
    return f"; {guards.waiting_text(row['reasonCodes'])}"


def dispatch_markdown(result: Mapping[str, Any]) -> str:
    """The result of `reconcile dispatch` (`loop.dispatch.dispatch`) as Markdown."""
    predicted = f" (would be {result['predicted']})" if result["predicted"] else ""
    decision = words.shown(result["decision"])
    if result["decisionTraceId"]:
        decision += f" ({result['decisionTraceId']})"
    lines = [
        f"## reconcile dispatch: {inline(result['mode'])}",
        "",
        f"{STATUS_ICONS.get(result['status'], '')} **{inline(result['status'])}**{predicted}: "
        f"{code(result['subject'])}",
        "",
        "| | |",
        "|---|---|",
        f"| intent | {inline(words.shown(result['intent']))} "
        f"({code(result['intentFile'], in_table=True)}) |",
        f"| canary | {words.canary_change(result['canary'])} |",
        f"| pause | {words.pause_change(result['manualPause'])} |",
        f"| decision | {inline(decision)} |",
        f"| trace id | {code(result['traceId'], in_table=True)} |",
        f"| commit | {code(result['commit'] or '', in_table=True)} |",
        f"| reasons | {inline(words.reasons(result['reasonCodes']))} |",
    ]
    if result["status"] == "deferred" or result["predicted"] == "deferred":
        lines.insert(-1, f"| not before | {inline(result['notBefore'] or 'a new decision')} |")
    if result["problems"]:
        lines += ["", *(item(problem) for problem in result["problems"])]
    return "\n".join(lines) + "\n"
