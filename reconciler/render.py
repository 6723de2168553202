"""The only user-facing printing: records and reports on stdout, errors on stderr.

Data is never markup: rich gets every value as a `Text` (a `[bold]` in an actor prints as
typed), and everything else is written as plain text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.core.errors import ReconcileError

if TYPE_CHECKING:
    from reconciler.loop.once import PassReport


def print_json(value: object, *, pretty: bool = False) -> None:
    """Print a JSON value on stdout: compact like `jq -c`, or indented with --pretty."""
    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent=2)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write(text + "\n")


def print_error(error: ReconcileError) -> None:
    """Print `error: <message>`, one ` - <problem>` line per detail, then the reason code."""
    # The optional footer repeats the bash tool's wrapper line operators grep for.
    lines = [f"error: {error.message}", *(f" - {detail}" for detail in error.details)]
    if error.footer:
        lines.append(f"error: {error.footer}")
    lines.append(f"reason: {error.reason}")
    sys.stderr.write("\n".join(lines) + "\n")


def print_warning(message: str) -> None:
    """Print `warning: <message>` on stderr."""
    sys.stderr.write(f"warning: {message}\n")


def print_validation(report: Mapping[str, Any]) -> None:
    """Print a `reconcile validate` report for people (stdout), problems as ` - ` lines."""
    layout = report["layout"]
    out = [f"layout: {layout['name']} ({layout['reason']})"]
    labels = {
        "registryFile": "registry",
        "promotionStateFile": "decision",
        "applyStateFile": "apply state",
        "applyTelemetryFile": "telemetry",
    }
    for key, label in labels.items():
        out.append(f"  {label + ':':<13}{layout['paths'][key]}  [{layout['sources'][key]}]")
    for section in ("registry", "decision", "telemetry", "paths"):
        part = report[section]
        out.append(f"{section}: {part['summary']}")
        out.extend(f" - {problem}" for problem in part.get("problems", []))
    out.extend(f"warning: {warning}" for warning in report["warnings"])
    out.append("ok" if report["ok"] else "invalid")
    sys.stdout.write("\n".join(out) + "\n")


def print_intent_validation(results: list[dict[str, Any]]) -> None:
    """Print `validate --intents` results: `<path>: ok`, or the problems with their codes."""
    out = []
    for result in results:
        if result["ok"] and result["problems"]:  # a rollback applied despite these
            out.append(f"{result['path']}: ok, with notes ({', '.join(result['reasonCodes'])})")
            out.extend(f" - {problem}" for problem in result["problems"])
        elif result["ok"]:
            out.append(f"{result['path']}: ok")
        else:
            out.append(f"{result['path']}: invalid ({', '.join(result['reasonCodes'])})")
            out.extend(f" - {problem}" for problem in result["problems"])
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


def _pass_rows(report: PassReport) -> list[dict[str, Any]]:
    from reconciler.core.outcome_rows import outcome_row

    return [
        outcome_row(outcome, commit)
        for outcome, commit in zip(report.outcomes, report.commits, strict=True)
    ]


def _pass_summary(report: PassReport) -> dict[str, Any]:
    from reconciler.core.queueing import ignored_json

    counts = {"applied": 0, "replayed": 0, "rejected": 0}
    for outcome in report.outcomes:
        counts[outcome.status] += 1
    return {
        "type": "pass",
        **counts,
        "head": report.head,
        "pushed": report.pushed,
        "attempts": report.attempts,
        "dryRun": report.dry_run,
        "recovered": report.recovered,
        "pendingLeft": report.pending_left,
        "ignored": [ignored_json(item) for item in report.ignored],
    }


def print_pass_json(report: PassReport) -> None:
    """Print one JSON line per intent, then one `{"type": "pass", ...}` summary line."""
    for row in _pass_rows(report):
        print_json(row)
    print_json(_pass_summary(report))


def print_pass_table(report: PassReport) -> None:
    """Print the pass as a table for people, then a one-line summary."""
    summary = _pass_summary(report)
    rows = _pass_rows(report)
    if rows:
        print_outcome_table(rows, title="dry run: nothing committed" if report.dry_run else None)
    verb = "would be" if report.dry_run else ""
    parts = [
        f"{summary[key]} {verb} {key}".replace("  ", " ")
        for key in ("applied", "replayed", "rejected")
    ]
    line = ", ".join(parts) if rows else "nothing to do: no pending intents"
    if report.pending_left:
        line += f"; {report.pending_left} left pending (--max-intents)"
    if report.recovered:
        line += "; recovered an interrupted pass first"
    if report.pushed:
        line += f"; pushed {report.head[:12]}"
    sys.stdout.write(line + "\n")
    print_ignored(summary["ignored"])


def print_ignored(ignored: list[dict[str, str]]) -> None:
    """Print the entries of the intents folder that are not intents, and why (JSON shape)."""
    if ignored:
        lines = [f"ignored ({len(ignored)}, not intents, never read):"]
        lines += [f" - {item['path']}: {item['why']} ({item['reason']})" for item in ignored]
        sys.stdout.write("\n".join(lines) + "\n")


def print_outcome_table(rows: list[dict[str, Any]], *, title: str | None = None) -> None:
    """Print outcome rows (see reports.outcomes.outcome_row) as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    for column in ("intent", "action", "status", "canary", "pause", "actor", "commit", "reasons"):
        table.add_column(column, overflow="fold")
    styles = {"applied": "green", "replayed": "cyan", "rejected": "red"}
    for row in rows:
        # Text(), never str: a value such as "alice[/bold]" is data, not rich markup (#14).
        table.add_row(
            Text(row["intentFile"].rsplit("/", 1)[-1]),
            Text(row["action"]),
            Text(row["status"], style=styles.get(row["status"], "")),
            Text(f"{row['canary']['before']}% -> {row['canary']['after']}%"),
            Text(f"{_flag(row['manualPause']['before'])} -> {_flag(row['manualPause']['after'])}"),
            Text(row["actor"] or ""),
            Text((row["commit"] or "")[:12]),
            Text(", ".join(row["reasonCodes"])),
        )
    # A terminal gets its own width; a log or a pipe gets room enough to never fold a name.
    width = _terminal_width() if sys.stdout.isatty() else 200
    console = Console(
        file=sys.stdout, width=max(100, width), markup=False, emoji=False, highlight=False
    )
    console.print(table)


def _flag(value: object) -> str:
    return "paused" if value is True else "running" if value is False else str(value)


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def print_plan(rows: list[dict[str, Any]], summary: Mapping[str, Any]) -> None:
    """Print a plan: the table, then each intent's commit subject and trailers."""
    new = [row for row in rows if row["new"]]
    sys.stdout.write(
        f"plan of the merge into {summary['baseRef']} ({summary['base'][:12]}, merge-base "
        f"{summary['mergeBase'][:12]}): {len(new)} new intent(s), "
        f"{len(rows) - len(new)} already pending\n"
    )
    print_ignored(summary["ignored"])
    if not rows:
        return
    print_outcome_table(rows)
    for row in rows:
        sys.stdout.write(f"\n{'new' if row['new'] else 'pending'}: {row['intentFile']}\n")
        sys.stdout.write("".join(f"    {line}\n" for line in row["message"].rstrip().splitlines()))


def print_status(report: Mapping[str, Any]) -> None:
    """Print a `reconcile status` report for people."""
    posture, governance, decision = report["posture"], report["governance"], report["decision"]
    pause = "paused (manual)" if posture["manualPause"] else "running"
    days = governance["daysLeft"]
    out = [
        f"fleet {posture['fleetId']}: canary {posture['canaryPercent']}%, {pause}, "
        f"mode {posture['mode']}",
        f"governance: {governance['actor']} ({governance['approvalRef']}), changed "
        f"{governance['changedAt']}, review by {governance['reviewBy']}"
        + ("" if days is None else f" ({days} days left)"),
    ]
    if decision["decision"] is None:
        out.append(f"decision: unusable ({decision['problem']})")
    else:
        gates = ", ".join(decision["failedGates"]) or "none"
        out.append(
            f"decision: {decision['decision']} ({decision['traceId']}), age "
            f"{decision['age'] or 'unknown'} (max {decision['maxAge']})"
            f"{', STALE' if decision['stale'] else ''}; failed gates: {gates}"
        )
    sys.stdout.write("\n".join(out) + "\n")
    pending = report["pending"]
    if pending:
        sys.stdout.write(f"pending intents ({len(pending)}), predicted:\n")
        print_outcome_table(pending)
    else:
        sys.stdout.write("pending intents: none\n")
    print_ignored(report["ignored"])
    for warning in report["warnings"]:
        print_warning(warning)
