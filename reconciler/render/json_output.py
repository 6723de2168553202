"""JSON for programs: a document is one indented object, a stream one compact line per item.

`status`, `validate`, `dispatch`, `intent new`, `init`, `repair-index` and `schema` print
documents; `--once`, `plan`, `history` and `validate --intents` print JSON lines. `apply`
prints its record compact (the bash tool's `jq -c`), indented with `--pretty`. Booleans,
numbers and null stay JSON values: the words of docs/output.md are for people only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.loop.once import PassReport


# Characters Python's str.splitlines (and some JSON-lines readers) take as line breaks that
# json.dumps keeps raw with ensure_ascii=False. They can only occur inside a JSON string, so
# their \u escape is the same value: one line stays one line for every reader.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def document(value: object) -> str:
    """One JSON document, indented by two spaces, with its final newline."""
    return json.dumps(value, ensure_ascii=False, indent=2).translate(_LINE_BREAKS) + "\n"


def line(value: object) -> str:
    """One JSON value on one line (`jq -c`), with its final newline."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_LINE_BREAKS) + "\n"


def lines(values: Iterable[object]) -> str:
    """JSON lines: one compact line per value."""
    return "".join(line(value) for value in values)


def pass_rows(report: PassReport) -> list[dict[str, Any]]:
    """The intent rows of a pass (`core.outcome_rows.outcome_row` with each one's commit)."""
    from reconciler.core.outcome_rows import outcome_row

    return [
        outcome_row(outcome, commit)
        for outcome, commit in zip(report.outcomes, report.commits, strict=True)
    ]


def pass_summary(report: PassReport) -> dict[str, Any]:
    """The last line of `--once --json`: `{"type": "pass", ...}`."""
    from reconciler.core.passes import status_counts
    from reconciler.core.queueing import ignored_json

    return {
        "type": "pass",
        **status_counts(report.outcomes),
        "head": report.head,
        "pushed": report.pushed,
        "attempts": report.attempts,
        "dryRun": report.dry_run,
        "recovered": report.recovered,
        "pendingLeft": report.pending_left,
        "ignored": [ignored_json(item) for item in report.ignored],
        "refusals": [
            {"fleet": fleet, "reasonCode": str(error.reason), "message": error.message}
            for fleet, error in report.refusals
        ],
    }


def pass_lines(report: PassReport) -> str:
    """`--once --json`: one line per intent, then the summary line."""
    return lines([*pass_rows(report), pass_summary(report)])
