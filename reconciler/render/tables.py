r"""Plain-text tables for people: aligned columns, one line per row, data never markup.

Plain text rather than rich: a cell is written as typed, so a `[bold]`, `**x**` or `<b>` in
an actor is text with no markup language to escape (rich needed every value wrapped in
`Text`, and the day one was not, `--once` crashed after committing). Control characters (a
newline, an ESC that would drive the terminal, a bidi override that reorders the line) are
shown escaped (`\n`, `\x1b`, `\u202e`) so a row stays one honest line. Rows never wrap:
a log or `grep` gets one line per intent or commit. Wide characters count two columns.
Colour (status and header) only when the command asks for it (`wants_color`).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TextIO

from reconciler.render import vocabulary as words

_GAP = "  "
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ANSI = {
    "bold": "\033[1m",
    "green": "\033[32m",
    "cyan": "\033[36m",
    "red": "\033[31m",
    "yellow": "\033[33m",
}
_RESET = "\033[0m"
STATUS_STYLES = {"applied": "green", "replayed": "cyan", "deferred": "yellow", "rejected": "red"}
OUTCOME_COLUMNS = ("intent", "action", "status", "canary", "pause", "actor", "commit", "reasons")
HISTORY_COLUMNS = (
    "time", "commit", "verification", "action", "status", "canary", "pause", "actor",
    "approval", "decision", "author", "committer", "reasons",
)  # fmt: skip
FLEET_COLUMNS = (
    "fleet", "canary", "pause", "mode", "decision", "age", "review", "guards", "pending",
    "deferred", "problem",
)  # fmt: skip
VERIFICATION_STYLES = {"verified": "green", "forged": "red"}
NAME_WIDTH = 24
"""Most columns an author's or committer's name takes in a table (longer: cut, with `…`)."""


class Cell(NamedTuple):
    """A cell's text and its style (a key of `_ANSI`; used only with colour)."""

    text: str
    style: str = ""


def wants_color(stream: TextIO) -> bool:
    """Whether to colour output to `stream`: a terminal, unless NO_COLOR or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def escape_controls(text: str) -> str:
    """`text` with control, separator, bidi and surrogate characters as visible escapes."""
    if text.isprintable() and not _BIDI.intersection(text):
        return text  # the common case, at C speed
    return "".join(
        char.encode("unicode_escape").decode("ascii") if _hidden(char) else char for char in text
    )


def _hidden(char: str) -> bool:
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs")


def width(text: str) -> int:
    """The columns `text` takes on a terminal: wide characters 2, combining marks 0."""
    if text.isascii():
        return len(text)
    total = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str | Cell]],
    *,
    color: bool = False,
    title: str | None = None,
) -> str:
    """Render rows under a header: columns two spaces apart, no trailing spaces.

    Every cell is escaped with `escape_controls`; `-` stands for an empty one.
    """
    body = [[_cell(value) for value in row] for row in rows]
    head = [Cell(name, "bold") for name in columns]
    widths = [max(width(cell.text) for cell in column) for column in zip(head, *body, strict=True)]
    lines = [] if title is None else [escape_controls(title)]
    for row in [head, *body]:
        parts = []
        for index, cell in enumerate(row):
            pad = "" if index == len(row) - 1 else " " * (widths[index] - width(cell.text))
            text = cell.text
            if color and cell.style:
                text = f"{_ANSI[cell.style]}{text}{_RESET}"
            parts.append(text + pad)
        lines.append(_GAP.join(parts).rstrip())
    return "\n".join(lines) + "\n"


def _cell(value: str | Cell) -> Cell:
    cell = value if isinstance(value, Cell) else Cell(value)
    return cell._replace(text=escape_controls(cell.text) or words.ABSENT)


def outcome_table(
    rows: Sequence[Mapping[str, Any]], *, color: bool = False, title: str | None = None
) -> str:
    """Outcome rows (`core.outcome_rows.outcome_row`) of `--once`, `plan` and `status`."""
    cells: list[list[str | Cell]] = [
        [
            row["intentFile"].rsplit("/", 1)[-1],
            words.shown(row["action"]),
            Cell(row["status"], STATUS_STYLES.get(row["status"], "")),
            words.canary_change(row["canary"]),
            words.pause_change(row["manualPause"]),
            words.shown(row["actor"]),
            words.short_commit(row["commit"]),
            words.reasons(row["reasonCodes"]),
        ]
        for row in rows
    ]
    return table(*with_fleets(OUTCOME_COLUMNS, cells, rows), color=color, title=title)


def fleet_table(rows: Sequence[Mapping[str, str]], *, color: bool = False) -> str:
    """`status`'s fleets (`text.fleet_cells`), with a `problem` column when any has one."""
    columns = [
        name for name in FLEET_COLUMNS if name != "problem" or any(r["problem"] for r in rows)
    ]
    return table(columns, [[row.get(name, "") for name in columns] for row in rows], color=color)


def with_fleets(
    columns: Sequence[str], cells: list[list[str | Cell]], rows: Sequence[Mapping[str, Any]]
) -> tuple[Sequence[str], list[list[str | Cell]]]:
    """The table with a first `fleet` column when any row names a fleet (several fleets)."""
    if not any(row.get("fleet") for row in rows):
        return columns, cells
    shown = [[words.shown(row.get("fleet")), *cell] for row, cell in zip(rows, cells, strict=True)]
    return ("fleet", *columns), shown


def history_table(docs: Sequence[Mapping[str, Any]], *, color: bool = False) -> str:
    """`reconcile history` entries, as their `--json` objects (`reports.history.entry_json`).

    A first `fleet` column when any entry names one (a repository with several fleets).
    """
    cells: list[list[str | Cell]] = [
        [
            words.utc_time(doc["time"]),
            words.short_commit(doc["commit"]),
            _verification(doc["verification"]),
            words.shown(doc["action"]),
            Cell(doc["status"], STATUS_STYLES.get(doc["status"], "")),
            words.canary_change(doc["canary"]),
            words.pause_change(doc["manualPause"]),
            words.shown(doc["actor"]),
            words.shown(doc["approvalRef"]),
            words.shown(doc["decision"]),
            clip(escape_controls(doc["author"]["name"]), NAME_WIDTH),
            clip(escape_controls(doc["committer"]["name"]), NAME_WIDTH),
            words.reasons(doc["reasonCodes"]),
        ]
        for doc in docs
    ]
    return table(*with_fleets(HISTORY_COLUMNS, cells, docs), color=color)


def clip(text: str, columns: int) -> str:
    """`text` cut to at most `columns` terminal columns, ending in `…` when cut."""
    if width(text) <= columns:
        return text
    kept, used = [], 0
    for char in text:
        used += width(char)
        if used > columns - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _verification(state: str | None) -> Cell:
    return Cell(words.shown(state), VERIFICATION_STYLES.get(state or "", ""))
