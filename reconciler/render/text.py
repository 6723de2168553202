"""The reports for people, as text: a pass, a plan, status, history, validate, dispatch.

Each function returns what the command writes on stdout. Every line goes through
`tables.escape_controls`, so data read from a file or a commit (an actor, a path) can
neither add a line nor send the terminal an escape sequence; the words and forms are
`vocabulary`'s (docs/output.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.core import guards
from reconciler.core.outcome_rows import final_rows
from reconciler.render import json_output, tables
from reconciler.render import vocabulary as words

if TYPE_CHECKING:
    from reconciler.loop.once import PassReport

_LAYOUT_LABELS = {
    "registryFile": "registry",
    "promotionStateFile": "decision",
    "applyStateFile": "apply state",
    "applyTelemetryFile": "telemetry",
}


def _lines(lines: Sequence[str]) -> str:
    return "".join(tables.escape_controls(line) + "\n" for line in lines)


def validation_text(report: Mapping[str, Any]) -> str:
    """`reconcile validate`: the layout and its sources, each section, then ok or invalid.

    With several fleets: the fleets' settings and trust, then each fleet's block, indented.
    """
    layout = report["layout"]
    out = [f"layout: {layout['name']} ({layout['reason']})"]
    if "fleets" in report:
        out += _sections(report, ("settings", "trust"), "")
        for fleet in report["fleets"]:
            out.append(f"fleet {fleet['fleet']}: {'ok' if fleet['ok'] else 'invalid'}")
            out += _paths_lines(fleet["layout"], "  ")
            sections = ("registry", "decision", "telemetry", "paths", "guards", "upstream")
            out += _sections(fleet, sections, "  ")
            out.extend(f"  warning: {warning}" for warning in fleet["warnings"])
    else:
        out += _paths_lines(layout, "")
        out += _sections(
            report, ("registry", "decision", "telemetry", "paths", "guards", "trust"), ""
        )
    out.extend(f"warning: {warning}" for warning in report["warnings"])
    out.append("ok" if report["ok"] else "invalid")
    return _lines(out)


def _paths_lines(layout: Mapping[str, Any], indent: str) -> list[str]:
    return [
        f"{indent}  {label + ':':<13}{layout['paths'][key]}  [{layout['sources'][key]}]"
        for key, label in _LAYOUT_LABELS.items()
    ]


def _sections(report: Mapping[str, Any], names: Sequence[str], indent: str) -> list[str]:
    out = []
    for section in names:
        part = report.get(section)
        if part is None:
            continue  # trust, when the fleets could not be resolved
        out.append(f"{indent}{section}: {part['summary']}")
        out.extend(f"{indent} - {problem}" for problem in part.get("problems", []))
    return out


def intent_validation_text(results: Sequence[Mapping[str, Any]]) -> str:
    """`validate --intents`: `<path>: ok`, or the problems with their reason codes."""
    out = []
    for result in results:
        codes = ", ".join(result["reasonCodes"])
        if result["ok"] and result["problems"]:  # a rollback applied despite these
            out.append(f"{result['path']}: ok, with notes ({codes})")
        elif result["ok"]:
            out.append(f"{result['path']}: ok")
        else:
            out.append(f"{result['path']}: invalid ({codes})")
        out.extend(f" - {problem}" for problem in result["problems"])
    return _lines(out)


def ignored_text(ignored: Sequence[Mapping[str, str]]) -> str:
    """The entries of the intents folder that are not intents, and why ('' when none)."""
    if not ignored:
        return ""
    out = [f"ignored ({len(ignored)}, not intents, never read):"]
    out += [f" - {item['path']}: {item['why']} ({item['reason']})" for item in ignored]
    return _lines(out)


def pass_text(report: PassReport, *, color: bool = False) -> str:
    """`reconcile --once`: the table (when anything was done), a summary line, the ignored."""
    summary = json_output.pass_summary(report)
    rows = json_output.pass_rows(report)
    out = ""
    if rows:
        title = "dry run: nothing committed" if report.dry_run else None
        out = tables.outcome_table(rows, color=color, title=title)
    verb = " would be" if report.dry_run else ""
    keys = ("applied", "replayed", "deferred", "rejected")
    counts = [f"{summary[key]}{verb} {key}" for key in keys if key != "deferred" or summary[key]]
    line = ", ".join(counts) if rows else "nothing to do: no pending intents"
    if report.pending_left:
        line += f"; {report.pending_left} left pending (--max-intents)"
    if report.recovered:
        line += "; recovered an interrupted pass first"
    if report.pushed:
        line += f"; pushed {words.short_commit(report.head)}"
    return out + _lines([line]) + deferred_text(rows) + ignored_text(summary["ignored"])


def deferred_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """Why each deferred intent waits, and until when, one indented line per reason.

    Not one a rollback superseded later in the pass (its last row is the rejection).
    """
    out = []
    for row in final_rows(rows):
        if row["status"] != "deferred":
            continue
        when = (
            f"not before {row['notBefore']}"
            if row["notBefore"]
            else guards.waiting_text(row["reasonCodes"])
        )
        out.append(f"deferred {row['intentFile']} ({when}):")
        out += [f" - {problem}" for problem in row["problems"]]
    return _lines(out) if out else ""


def plan_text(
    rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any], *, color: bool = False
) -> str:
    """`reconcile plan`: what merges where, the table, then each commit subject and trailers."""
    files = final_rows(rows)  # a file superseded in the pass has two rows: one file
    new = [row for row in files if row["new"]]
    out = _lines(
        [
            f"plan of the merge into {summary['baseRef']} ({words.short_commit(summary['base'])}"
            f", merge-base {words.short_commit(summary['mergeBase'])}): {len(new)} new "
            f"intent(s), {len(files) - len(new)} already pending"
        ]
    )
    out += ignored_text(summary["ignored"])
    if not rows:
        return out
    out += tables.outcome_table(rows, color=color)
    for row in rows:
        message = [f"    {line}" for line in row["message"].rstrip().splitlines()]
        out += _lines(["", f"{'new' if row['new'] else 'pending'}: {row['intentFile']}", *message])
    return out


def status_text(report: Mapping[str, Any], *, color: bool = False) -> str:
    """`reconcile status` (its warnings are the command's to write on stderr)."""
    posture, governance, decision = report["posture"], report["governance"], report["decision"]
    days = governance["daysLeft"]
    out = [
        f"fleet {posture['fleetId']}: canary {words.percent(posture['canaryPercent'])}, "
        f"{words.pause(posture['manualPause'])}, mode {posture['mode']}",
        f"governance: {governance['actor']} ({governance['approvalRef']}), changed "
        f"{words.utc_time(governance['changedAt'])}, review by "
        f"{words.utc_time(governance['reviewBy'])}"
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
    out += guard_lines(report["guards"])
    if "audit" in report:  # a report from before the audit (a saved --json) has none
        out += audit_lines(report["audit"])
    pending = report["pending"]
    if pending:
        out.append(f"pending intents ({len(final_rows(pending))}), predicted:")
        text = _lines(out) + tables.outcome_table(pending, color=color)
        text += deferred_text(pending)
    else:
        text = _lines([*out, "pending intents: none"])
    return text + ignored_text(report["ignored"])


def fleets_status_text(report: Mapping[str, Any], *, color: bool = False) -> str:
    """`reconcile status` of several fleets: one row per fleet, the audit, the pending intents.

    The pending intents of every fleet in one table with a fleet column (upstream first, each
    fleet's in file order); a fleet that cannot be read shows why in its row.
    """
    fleets = report["fleets"]
    out = _lines([f"fleets ({len(fleets)}) at {words.short_commit(report['head'])}:"])
    out += tables.fleet_table([fleet_cells(fleet) for fleet in fleets], color=color)
    lines = audit_lines(report["audit"])
    pending = [row for fleet in fleets for row in fleet["pending"]]
    if pending:
        lines.append(f"pending intents ({len(final_rows(pending))}), predicted:")
        out += _lines(lines) + tables.outcome_table(pending, color=color) + deferred_text(pending)
    else:
        out += _lines([*lines, "pending intents: none"])
    return out + ignored_text([item for fleet in fleets for item in fleet["ignored"]])


def fleet_cells(fleet: Mapping[str, Any]) -> dict[str, str]:
    """One fleet's row of `status`: its posture, decision, review, guards and counts."""
    problem = fleet["problem"]
    if problem is not None:
        return {"fleet": fleet["fleet"], "problem": f"{problem['reason']}: {problem['message']}"}
    posture, decision, days = fleet["posture"], fleet["decision"], fleet["governance"]["daysLeft"]
    if decision["decision"] is None:
        shown, age = "unusable", words.ABSENT
    else:
        shown, age = decision["decision"], decision["age"] or "unknown"
    return {
        "fleet": fleet["fleet"],
        "canary": words.percent(posture["canaryPercent"]),
        "pause": words.pause(posture["manualPause"]),
        "mode": words.shown(posture["mode"]),
        "decision": shown,
        "age": f"{age} (stale)" if decision["stale"] and age != words.ABSENT else age,
        "review": "unknown"
        if days is None
        else ("overdue" if fleet["governance"].get("reviewExpired") else f"{days}d left"),
        "guards": guard_summary(fleet["guards"]),
        "pending": str(len(final_rows(fleet["pending"]))),
        "deferred": str(len(fleet["deferred"])),
        "problem": "",
    }


def guard_summary(found: Mapping[str, Any]) -> str:
    """The guard state in a few words: what holds expand and resume now, else `clear`."""
    if not found["enabled"]:
        return "off"
    if found["problem"]:
        return f"invalid ({found['problem']['reason']})"
    held = []
    if (found["decisionAfterChange"] or {}).get("needsDecisionAfter"):
        held.append("needs a new decision")
    cooldown = found["cooldown"]
    if cooldown and cooldown["leftSeconds"] > 0:
        held.append(f"cooldown until {cooldown['until']}")
    budget = found["budget"]
    if budget and (budget["expandsLeft"] == 0 or budget["percentLeft"] == 0):
        held.append("budget used up")
    if found["freeze"]["blocked"]:
        held.append("frozen")
    upstream = found.get("upstream")
    if upstream and not upstream["ready"]:
        until = f" until {upstream['readyAt']}" if upstream["readyAt"] else ""
        held.append(f"waits for upstream {upstream['fleet']}{until}")
    return "; ".join(held) or "clear"


def audit_lines(found: Mapping[str, Any]) -> list[str]:
    """The audit of `status`: clean, or what blocks expand and resume, one line each."""
    if found["problem"]:
        return [f"audit: {found['problem']}; expand and resume wait"]
    others = {kind: n for kind, n in found["unresolved"].items() if n}
    if not found["blocking"]:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(others.items()))
        return [f"audit: {'unresolved findings (' + counts + ')' if counts else 'clean'}"]
    out = [
        f"audit: {len(found['blocking'])} blocking finding(s), expand and resume wait "
        "(revert or adopt; reconcile verify lists them):"
    ]
    return out + [f"    {line}" for line in found["blocking"]]  # quoted data: indented


def guard_lines(found: Mapping[str, Any]) -> list[str]:
    """The guard state of `status`: one line per guard that is on."""
    if not found["enabled"]:
        return ["guards: off"]
    problem = found["problem"]
    if problem:
        return [f"guards: invalid, expand and resume wait ({problem['message']})"]
    out = []
    decision = found["decisionAfterChange"]
    if decision:
        needs = decision["needsDecisionAfter"]
        out.append(
            "decision after change: "
            + (f"waiting for a decision generated after {needs}" if needs else "clear")
        )
    cooldown = found["cooldown"]
    if cooldown:
        until = cooldown["until"]
        out.append(
            f"expand cooldown {cooldown['cooldown']}: "
            + (f"until {until}" if until else "clear")
            + (f" (last expand {cooldown['lastExpand']})" if cooldown["lastExpand"] else "")
        )
    budget = found["budget"]
    if budget:
        parts = []
        if budget["maxExpands"] is not None:
            parts.append(f"{budget['expandsUsed']} of {budget['maxExpands']} expands")
        if budget["maxExpandPercent"] is not None:
            parts.append(f"+{budget['percentUsed']} of +{budget['maxExpandPercent']} percent")
        out.append(f"budget per {budget['window']}: {', '.join(parts)} used")
    window = found["freeze"]
    if window["blocked"]:
        out.append(f"freeze: {window['message']}")
    elif window["next"]:
        nxt = window["next"]
        label = f"{nxt['name']} ({nxt['reason']})" if nxt["reason"] else nxt["name"]
        out.append(f"next freeze window: {label} from {nxt['start']} to {nxt['end']}")
    elif window["windows"]:
        out.append("freeze: open; no freeze window within 7 days")
    upstream = found.get("upstream")
    if upstream:
        out.append(f"after {upstream['message']}")
    return out


def history_text(docs: Sequence[Mapping[str, Any]], *, filtered: bool, color: bool = False) -> str:
    """`reconcile history`: the table of `entry_json` objects, or why there is none."""
    if docs:
        return tables.history_table(docs, color=color)
    return _lines(["no reconcile commits match" if filtered else "no reconcile commits yet"])


def dispatch_text(result: Mapping[str, Any]) -> str:
    """`reconcile dispatch`: `<status>: <subject>`, the commit, the problems."""
    out = [f"{result['status']}: {result['subject']}"]
    if result["commit"]:
        out.append(f"commit {result['commit']}")
    if result["status"] == "deferred" or result["predicted"] == "deferred":
        when = result["notBefore"]
        out.append(
            f"not before {when}" if when else guards.waiting_text(result.get("reasonCodes", ()))
        )
    out += [f" - {problem}" for problem in result["problems"]]
    return _lines(out)


def repair_text(result: Mapping[str, Any]) -> str:
    """`reconcile repair-index`: what was rebuilt (and committed), or that nothing changed."""
    if not result["changed"]:
        return _lines(
            [
                f"indexes agree with the records ({result['keys']} keys, {result['segments']} "
                "segment(s)); nothing changed"
            ]
        )
    where = f"; committed {words.short_commit(result['commit'])}" if result["commit"] else ""
    return _lines([f"rebuilt {', '.join(result['changed'])} ({result['keys']} keys){where}"])
