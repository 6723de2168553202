"""`reconcile verify`'s output (render layer): one line per finding, or one JSON document.

Every name and detail comes from commits and files anyone can write: control characters and
line breaks become spaces, so one finding is always one line.
"""

from __future__ import annotations

from reconciler.core.audit import Finding
from reconciler.core.commit_messages import one_line
from reconciler.core.passes import as_text
from reconciler.render import json_output
from reconciler.reports.audit import AuditReport


def finding_line(finding: Finding, *, fleets: bool = False) -> str:
    """`kind commit path[:line]: detail (author ..., committer ...)[ [resolved ...]]`.

    `fleets` (several fleets): the line starts with the finding's fleet (`-`: the
    repository's, such as a change of reconciler.yaml or the trust files).
    """
    where = f"{finding.path}:{finding.line}" if finding.line else finding.path
    people = (
        f"author {one_line(finding.author) or '-'}, committer {one_line(finding.committer) or '-'}"
    )
    text = f"{one_line(finding.fleet or '-')} " if fleets else ""
    text += f"{finding.kind} {finding.commit[:12] or '-'} {one_line(where) or '-'}: "
    text += f"{one_line(finding.detail)} ({people})"
    if finding.resolved:
        text += f" [{finding.resolved} by {finding.resolved_by[:12]}: not counted]"
    return text


def verify_text(report: AuditReport) -> str:
    """The text output: the findings, then a count line."""
    several = bool(report.fleets)
    lines = [finding_line(finding, fleets=several) for finding in report.findings]
    resolved = len(report.findings) - len(report.unresolved)
    lines.append(
        f"verified {report.commits} commit(s), {report.records} record(s): "
        f"{len(report.unresolved)} finding(s)"
        + (f", {resolved} resolved (reverted or adopted)" if resolved else "")
    )
    return "".join(f"{line}\n" for line in lines)


def verify_json(report: AuditReport) -> str:
    """The `--json` document: counts and every finding (`resolved` null when it counts)."""
    doc: dict[str, object] = {
        "head": report.head,
        "since": report.since,
        "commits": report.commits,
        "records": report.records,
    }
    if report.fleets:  # several fleets only: one fleet's document keeps its keys
        doc["fleets"] = list(report.fleets)
    doc["findings"] = [_utf8(finding.as_json()) for finding in report.findings]
    return json_output.document(doc)


def _utf8(doc: dict[str, object]) -> dict[str, object]:
    """The finding with every text encodable as UTF-8 (a non-UTF-8 file name byte: U+FFFD)."""
    return {key: as_text(value) if isinstance(value, str) else value for key, value in doc.items()}
