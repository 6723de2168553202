"""The audit check the loop and the controller run after each pass (reports layer).

`blocking_findings` continues from the last verified commit (the `AuditState`) and returns
what blocks expand and resume (`audit_drift`): unresolved `hand_edit` and
`record_chain_broken` findings. `cached_blocking_findings` keeps the state in the git folder
(`<git-dir>/reconciler/audit-state.json`); the cache is never the authority: when it is
missing, unreadable, or its head is not an ancestor of HEAD, the whole history is checked.
"""

from __future__ import annotations

import json
import os

from reconciler.adapters import files
from reconciler.core.audit import Finding, FindingKind
from reconciler.core.audit_drift import AuditState, is_blocking
from reconciler.core.commit_messages import one_line
from reconciler.core.errors import RefusalError
from reconciler.inputs import layouts
from reconciler.loop import checkout as checkouts
from reconciler.reports import audit as audits

STATE_FILE = os.path.join("reconciler", "audit-state.json")
"""Below the git folder: never committed, per clone."""
STATE_LIMIT = 16 * 1024 * 1024


def blocking_findings(
    repo: str | None, state: AuditState | None = None
) -> tuple[list[Finding], AuditState]:
    """The findings that block expand and resume, and the state to continue from next time.

    With a `state`, only the commits after its head are read (its open findings carried on);
    without one, or when its head is not an ancestor of HEAD, the whole history.

    Raises:
        RefusalError: as `audit` (not a repository, invalid trust settings, ...).
    """
    report = audits.audit(repo, state=state)
    if state is not None and report.since is not None and _needs_full_check(report, state):
        report = audits.audit(repo)
    return [found for found in report.findings if is_blocking(found)], report.state()


def cached_blocking_findings(
    repo: str, *, remember: bool = True
) -> tuple[list[Finding], AuditState]:
    """`blocking_findings` from the state cached in the git folder, which it then updates.

    `remember=False` (`plan`, `status`: they write nothing) reads the cache but leaves it.

    Raises:
        RefusalError: as `audit`.
    """
    checkout = checkouts.open_checkout(repo)
    path = os.path.join(checkout.git_dir, STATE_FILE)
    found, state = blocking_findings(repo, read_state(path))
    if remember:
        write_state(path, state)
    return found, state


def drift_lines(
    repo: str | None, *, fleet: str | None = None, remember: bool = True, head: str | None = None
) -> list[str]:
    """The blocking findings that hold `fleet` (the cached incremental check), one line each.

    What the loop's `audit_drift` refusal lists: the fleet's own findings and the
    repository-wide ones (`fleet` None: every finding). `head`: HEAD's commit as the caller
    knows it; the repository's audit is then kept for it in this process, so a pass that
    asks for each of fifty fleets walks the history once, not fifty times.

    Raises:
        RefusalError: as `audit`.
    """
    path = layouts.resolve_repo(repo)
    key = (path, head)
    found = _LAST.get(key) if head is not None else None
    if found is None or (remember and not found[1]):
        blocking, _state = cached_blocking_findings(path, remember=remember)
        found = (blocking, remember)
        if head is not None:
            _LAST.clear()  # one repository's HEAD at a time: a pass's fleets share it
            _LAST[key] = found
    return [finding_line(f) for f in found[0] if f.holds(fleet)]


_LAST: dict[tuple[str, str | None], tuple[list[Finding], bool]] = {}
"""(repository, HEAD) -> its blocking findings and whether its state was cached then."""


def unresolved_counts(state: AuditState) -> dict[str, int]:
    """How many findings the state leaves unresolved, by kind (the controller's gauge)."""
    counts = dict.fromkeys((str(kind) for kind in FindingKind), 0)
    for finding in (*(edit.finding for edit in state.open_edits), *state.findings):
        if not finding.resolved:
            counts[str(finding.kind)] += 1
    return counts


def finding_line(finding: Finding) -> str:
    """`kind commit path[:line]: detail`, without the people.

    One line as `reconcile verify` prints it: control characters and line breaks become
    spaces (`one_line`).
    """
    where = finding.path + (f":{finding.line}" if finding.line is not None else "")
    return one_line(f"{finding.kind} {finding.commit[:12] or '-'} {where}: {finding.detail}")


def write_state(path: str, state: AuditState) -> None:
    """Cache `state` at `path` (atomic, not fsynced); a failure only costs a full check."""
    try:
        files.atomic_write(path, json.dumps(state.as_json()).encode("utf-8"), durable=False)
    except RefusalError:
        pass  # a cache: the next check reads the whole history again


def read_state(path: str) -> AuditState | None:
    """The cached state at `path`; None when missing or unreadable (never raises).

    Whatever the file holds (deep nesting: RecursionError), the answer is at worst a full
    check: a cache must never stop a pass.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(STATE_LIMIT + 1)
        return AuditState.from_json(json.loads(data)) if len(data) <= STATE_LIMIT else None
    except Exception:  # noqa: BLE001 - any failure only costs a full check
        return None


def _needs_full_check(report: audits.AuditReport, state: AuditState) -> bool:
    """Whether an incremental check may be wrong: a chain break and a new hand edit are open.

    The edit may have repaired the chain: only the whole history shows that. Rare, and then
    merely slower.
    """
    broken = any(
        found.kind is FindingKind.RECORD_CHAIN_BROKEN and not found.resolved
        for found in report.findings
    )
    carried = {edit.finding for edit in state.open_edits}
    return broken and any(edit.finding not in carried for edit in report.open_edits)
