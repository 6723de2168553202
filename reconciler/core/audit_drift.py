"""Drift (core layer): which hand edits and chain breaks are resolved, and which still block.

A `hand_edit` is resolved when a later commit puts the owned content it changed back as it
was before the first unresolved edit of that path (`reverted`: the same blob, or for the
registry the same owned field values), or when a later verified reconciler commit appends an
applied `adopt` record (`adopted`: its `after` is the new baseline). A `record_chain_broken`
or `trust_file_unapproved` before an applied adopt record is `adopted` (acknowledged).
Resolved findings are still listed; only unresolved `hand_edit`, `record_chain_broken` and
`trust_file_unapproved` findings block expand and resume (`audit_drift`).
reports/audit_drift.py feeds the commits in; see docs/audit.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from reconciler.core import ownership
from reconciler.core.audit import Finding, FindingKind
from reconciler.core.registry_fields import value_at

BLOCKING_KINDS = frozenset(
    {FindingKind.HAND_EDIT, FindingKind.RECORD_CHAIN_BROKEN, FindingKind.TRUST_FILE_UNAPPROVED}
)
"""The kinds that block expand and resume while unresolved (the issue's fail closed).

An unapproved trust change blocks too: a key or setting slipped in unreviewed (a bot key,
`botSigners` removed) would otherwise make forged reconciler commits pass as verified."""
REVERTED = "reverted"
ADOPTED = "adopted"
ABSENT = "absent"
"""The value of a path a commit added or deleted (no blob on that side)."""


def is_blocking(finding: Finding) -> bool:
    """Whether `finding` blocks expand and resume (`BLOCKING_KINDS`, unresolved)."""
    return finding.kind in BLOCKING_KINDS and not finding.resolved


def is_adopt(record: Mapping[str, Any] | None) -> bool:
    """Whether `record` is an applied adopt record (a new baseline of the owned values)."""
    return (
        record is not None
        and record.get("intent") == "adopt"
        and (record.get("status") == "applied")
    )


def owned_values(registry: object) -> str:
    """The owned registry fields' values as one comparable text (a registry's `baseline`)."""
    values = [value_at(registry, path) for path in ownership.OWNED_REGISTRY_FIELDS]
    return json.dumps(values, sort_keys=True, default=repr)


class OpenEdit(NamedTuple):
    """An unresolved hand edit and what its path held before the first open edit of it."""

    finding: Finding
    baseline: str
    """A blob id, `ABSENT`, or for the registry `owned_values` of the document."""


class DriftTracker:
    """Follows commits oldest first: hand edits open, later reverts or adopt records resolve.

    Start it with the edits still open at the last verified commit (an incremental check).
    """

    def __init__(self, open_edits: Iterable[OpenEdit] = ()) -> None:
        """Track `open_edits` (from the audit state) from the start."""
        self._open: dict[str, list[OpenEdit]] = {}
        self._order: list[Finding] = []
        self._done: dict[int, Finding] = {}
        self._numbers: dict[int, int] = {}
        """id(an open edit) -> its place in `_order`."""
        for edit in open_edits:
            self._track(edit)

    def watches(self, path: str) -> bool:
        """Whether `path` has an open hand edit (a change of it may revert that)."""
        return path in self._open

    def edited(self, finding: Finding, before: str) -> None:
        """A new hand edit of `finding.path`; `before`: the path's value before it."""
        earlier = self._open.get(finding.path)
        self._track(OpenEdit(finding, earlier[0].baseline if earlier else before))

    def changed(self, commit: str, path: str, value: str) -> bool:
        """A later commit left `path` holding `value`: a revert when it is the baseline.

        Returns whether it was one (that commit's own change of `path` is then the revert,
        not a new edit: see `reverting`).
        """
        edits = self._open.get(path)
        if edits and edits[0].baseline == value:
            del self._open[path]
            self._resolve(edits, REVERTED, commit)
            return True
        return False

    def reverting(self, finding: Finding) -> None:
        """The hand edit `finding` is itself a revert: listed, resolved by its own commit."""
        self._order.append(finding._replace(resolved=REVERTED, resolved_by=finding.commit))

    def adopted(self, commit: str) -> None:
        """A verified applied adopt record: every open hand edit before it is resolved."""
        for edits in self._open.values():
            self._resolve(edits, ADOPTED, commit)
        self._open.clear()

    def findings(self) -> list[Finding]:
        """Every hand edit tracked, in the order seen, each with its resolution (if any)."""
        return [self._done.get(number, found) for number, found in enumerate(self._order)]

    def open_edits(self) -> list[OpenEdit]:
        """The hand edits still open, oldest first."""
        return [edit for edits in self._open.values() for edit in edits]

    def _track(self, edit: OpenEdit) -> None:
        self._open.setdefault(edit.finding.path, []).append(edit)
        self._order.append(edit.finding)
        self._numbers[id(edit)] = len(self._order) - 1

    def _resolve(self, edits: list[OpenEdit], how: str, commit: str) -> None:
        for edit in edits:
            number = self._numbers.pop(id(edit))
            self._done[number] = edit.finding._replace(resolved=how, resolved_by=commit)


def acknowledged(breaks: Iterable[tuple[Finding, int]], adopts: Mapping[int, str]) -> list[Finding]:
    """Findings, each with its record position; a chain break before an adopt is resolved.

    Other kinds are never resolved that way. `adopts`: position -> commit of each verified
    applied adopt record.
    """
    last = max(adopts, default=-1)
    found = []
    for finding, position in breaks:
        if finding.kind is FindingKind.RECORD_CHAIN_BROKEN and position < last:
            finding = finding._replace(resolved=ADOPTED, resolved_by=adopts[last])
        found.append(finding)
    return found


def adopted_later(
    findings: Iterable[Finding], adopt_commits: Iterable[str], order: Mapping[str, int]
) -> list[Finding]:
    """Findings, each open one resolved (`adopted`) when an adopt commit comes after it.

    `order`: commit -> its place in the range (a finding carried from the state, whose
    commit is not there, comes before all of them).
    """
    adopts = sorted((order[sha], sha) for sha in adopt_commits)
    found = []
    for finding in findings:
        if not finding.resolved and adopts and order.get(finding.commit, -1) < adopts[-1][0]:
            finding = finding._replace(resolved=ADOPTED, resolved_by=adopts[-1][1])
        found.append(finding)
    return found


class AuditState(NamedTuple):
    """What an incremental check starts from: the last verified commit and what was open.

    A cache (docs/audit.md): when it is missing, unreadable, or `head` is not an ancestor of
    HEAD, the whole history is checked again.
    """

    head: str
    open_edits: tuple[OpenEdit, ...] = ()
    """The unresolved hand edits, with their baselines."""
    findings: tuple[Finding, ...] = ()
    """The other unresolved findings (chain breaks, forged trailers, broken links, ...)."""
    fleets: tuple[str, ...] = ()
    """The fleets audited (several fleets); empty: the repository's one fleet. A state of
    other fleets is not continued from (a fleet added or removed: the whole history)."""
    head_findings: tuple[Finding, ...] | None = None
    """The HEAD check's findings at `head` (each fleet's registry against its newest applied
    record): carried for a fleet none of whose files changed since. None (a cache written
    before they were kept): every fleet's files are read again."""

    def as_json(self) -> dict[str, object]:
        """The state as the cache file holds it."""
        return {
            "version": STATE_VERSION,
            "head": self.head,
            "fleets": list(self.fleets),
            "openEdits": [
                {"finding": edit.finding.as_json(), "baseline": edit.baseline}
                for edit in self.open_edits
            ],
            "findings": [finding.as_json() for finding in self.findings],
            **(
                {"headFindings": [finding.as_json() for finding in self.head_findings]}
                if self.head_findings is not None
                else {}
            ),
        }

    @classmethod
    def from_json(cls, doc: object) -> AuditState | None:
        """The state `as_json` gave; None when `doc` is not one (the cache is then ignored)."""
        if not isinstance(doc, dict) or doc.get("version") not in (1, STATE_VERSION):
            return None  # version 1: one fleet, no `fleets` and no finding's `fleet`
        try:
            head = _text(doc["head"])
            listed = doc.get("fleets", [])
            if not isinstance(listed, list):
                return None
            fleets = tuple(_text(fleet) for fleet in listed)
            if not _COMMIT_ID.fullmatch(head):  # "HEAD" would make every check empty
                return None
            edits = tuple(
                OpenEdit(Finding.from_json(item["finding"]), _text(item["baseline"]))
                for item in doc["openEdits"]
            )
            findings = tuple(Finding.from_json(item) for item in doc["findings"])
            at_head = doc.get("headFindings")  # absent: written before they were kept
            head_findings = (
                None if at_head is None else tuple(Finding.from_json(item) for item in at_head)
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return cls(head, edits, findings, fleets, head_findings)


STATE_VERSION = 2
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value
