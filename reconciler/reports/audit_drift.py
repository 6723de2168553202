"""Which findings of `reconcile verify` are resolved (reports layer): reverts and adopts.

Walks the commits oldest first through core/audit_drift.py's `DriftTracker`, reading the
registry blobs it needs (only where a path with an open hand edit changes) from the one
`git cat-file --batch`. Used by reports/audit.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from reconciler.adapters.gitrepo import CatFile
from reconciler.core import audit_drift
from reconciler.core.audit import Finding
from reconciler.core.audit_drift import OpenEdit
from reconciler.reports.audit_commits import registry_doc
from reconciler.reports.audit_log import Commit

_ZERO = "0" * 40


class Drift:
    """Resolves hand edits along the commits; `value` reads what a path holds."""

    def __init__(self, objects: CatFile, registry: str) -> None:
        """`registry`: the repo-relative registry path (compared by owned values)."""
        self.objects, self.registry = objects, registry

    def resolve(
        self,
        commits: Sequence[Commit],
        unverified: Mapping[str, Commit],
        edits: Iterable[Finding],
        adopt_commits: frozenset[str],
        open_edits: Iterable[OpenEdit] = (),
    ) -> tuple[list[Finding], list[OpenEdit]]:
        """Every hand edit (the open ones carried in first) with its resolution; the open ones.

        `unverified`: the commits that are not verified reconciler commits, with all their
        changes; `edits`: the hand edits found in them; `adopt_commits`: the verified commits
        that appended an applied adopt record.
        """
        by_commit: dict[str, list[Finding]] = {}
        for finding in edits:
            by_commit.setdefault(finding.commit, []).append(finding)
        tracker = audit_drift.DriftTracker(open_edits)
        for commit in commits:
            if commit.sha in adopt_commits:
                tracker.adopted(commit.sha)
            changes = unverified.get(commit.sha, commit).changes
            reverted = {
                change.path
                for change in changes
                if tracker.watches(change.path)
                and tracker.changed(commit.sha, change.path, self.value(change.path, change.new))
            }
            for finding in by_commit.get(commit.sha, ()):
                if finding.path in reverted:
                    tracker.reverting(finding)
                    continue
                before = next((c.old for c in changes if c.path == finding.path), _ZERO)
                tracker.edited(finding, self.value(finding.path, before))
        return tracker.findings(), tracker.open_edits()

    def value(self, path: str, blob: str) -> str:
        """What `path` holds as the blob `blob`: the blob id, or the registry's owned values."""
        if blob.strip("0") == "":
            return audit_drift.ABSENT
        if path != self.registry:
            return blob
        found = self.objects.read(blob)
        doc = registry_doc(found[1], path) if found is not None else None
        return audit_drift.owned_values(doc) if doc is not None else f"unreadable {blob}"
