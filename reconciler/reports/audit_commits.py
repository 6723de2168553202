"""The commits `reconcile verify` checks, each against its record (reports layer).

A commit with Reconcile-* trailers is the reconciler's when (signatures aside) it appended a
telemetry record its trailers agree with (a replay: its key was applied before); every other
commit must leave the owned content alone (checked on its whole diff, read only for those).
Used by reports/audit.py; the commits come from reports/audit_log.py.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence

from reconciler.adapters.gitrepo import CatFile
from reconciler.core import audit, ownership
from reconciler.core.audit import Finding, FindingKind, OwnedPaths
from reconciler.core.audit import Record as AuditRecord
from reconciler.core.audit_ancestry import Ancestry, Listed
from reconciler.core.editing import RegistryText
from reconciler.core.errors import DocumentError
from reconciler.inputs import documents
from reconciler.reports.audit_log import Change, Commit

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ZERO = re.compile(r"0+")
KEEP_FILE = ".gitkeep"
_NOT_ANCESTOR = "is not an ancestor of the commit"


def registry_doc(data: bytes, path: str) -> object:
    """The registry document of `data` (None: empty or unreadable)."""
    if not data:
        return None
    try:
        return RegistryText(data.decode("utf-8"), documents.registry_format(path)).document
    except (UnicodeDecodeError, DocumentError, RecursionError, MemoryError):
        return None


def baseline_root(commits: Sequence[Commit]) -> str | None:
    """The root commit of HEAD's first-parent line (the last commit listed is HEAD)."""
    by_sha = {commit.sha: commit for commit in commits}
    found = commits[-1] if commits else None
    while found is not None and found.parents:
        found = by_sha.get(found.parents[0])
    return found.sha if found is not None else None


def unrelated_merges(commits: Sequence[Commit]) -> frozenset[str]:
    """The merges whose parents' histories share no root commit (`--allow-unrelated-histories`).

    Such a merge is checked against its first parent: what it took from the other history
    may equal that side exactly, and then a combined diff shows nothing. Commits before the
    range (an incremental check) count as one history: their merges were checked then.
    """
    owner: dict[str, str] = {}

    def root_of(sha: str) -> str:
        while owner.get(sha, sha) != sha:
            owner[sha] = owner.get(owner[sha], owner[sha])  # path halving
            sha = owner[sha]
        return sha

    listed = {commit.sha for commit in commits}
    found = set()
    for commit in commits:
        roots = {root_of(parent) if parent in listed else "" for parent in commit.parents}
        if len(commit.parents) > 1 and len(roots) > 1:
            found.add(commit.sha)
        for root in roots:
            owner[root] = commit.sha
        owner.setdefault(commit.sha, commit.sha)
    return frozenset(found)


def claims(commit: Commit, fleet: str | None) -> bool:
    """Whether `commit` claims to be the reconciler's commit of `fleet` (None: the one fleet)."""
    if not commit.trailers:
        return False
    return fleet is None or commit.trailers.get("Fleet") == fleet


class CommitChecker:
    """Checks commits oldest first against the records (in file order) they appended."""

    def __init__(
        self,
        owned: OwnedPaths,
        records: Sequence[AuditRecord | None],
        objects: CatFile,
        known_keys: Callable[[], frozenset[str]],
        *,
        bot_signed: Callable[[str, bytes], bool | None] | None,
        whole_history: bool,
        fleet: str | None = None,
    ) -> None:
        """`known_keys()`: keys applied before the first record (replays may name them).

        `fleet` (one of several): only commits whose `Fleet:` trailer names it claim its
        records; any other commit is checked as anyone's against its files.
        """
        self.owned, self.records, self.objects = owned, records, objects
        self.fleet = fleet
        self.bot_signed, self.whole_history = bot_signed, whole_history
        self.applied: set[str] = set()
        self._known_keys: Callable[[], frozenset[str]] | None = known_keys
        self.findings: list[Finding] = []
        self.appended_by: dict[int, str] = {}
        """Record number -> the commit that appended it (verified commits only)."""
        self._pointer = 0
        self._positions: dict[tuple[str, str, str], deque[int]] = {}
        for number, record in enumerate(records):
            if record is not None:
                self._positions.setdefault(audit.record_identity(record), deque()).append(number)
        self._ancestry = Ancestry(())
        self._raw: dict[str, tuple[str, bytes] | None] = {}
        self.replays: list[Commit] = []
        """The verified replay commits: what they changed is checked (`check_replays`)."""
        self._readded: dict[str, str] = {}
        """Commit -> the registry blob an earlier commit deleted, which it added again."""

    def check(self, commits: Sequence[Commit]) -> list[Commit]:
        """Check every commit's claim, oldest first; return those left to check for hand edits.

        Those are the commits that are not verified reconciler commits, except the baseline:
        the root of HEAD's first-parent line (with the whole history). Any other root commit
        is checked against the empty tree (`with_all_changes` lists its every file).
        """
        self._ancestry = Ancestry([Listed(commit.sha, commit.parents) for commit in commits])
        if self.bot_signed is not None:  # every claimed commit's object, in one pipelined read
            claimed = [commit.sha for commit in commits if self._claims(commit)]
            self._raw = dict(zip(claimed, self.objects.read_all(claimed), strict=True))
        baseline = baseline_root(commits) if self.whole_history else None
        unverified = []
        deleted: str | None = None
        for commit in commits:
            verified = self._claims(commit) and self._check_claim(commit)
            if not verified and commit.sha != baseline:
                unverified.append(commit)
            for change in commit.changes:  # a registry deleted, then added again
                if change.path != self.owned.registry:
                    continue
                if _ZERO.fullmatch(change.new) and not _ZERO.fullmatch(change.old):
                    deleted = change.old
                elif _ZERO.fullmatch(change.old) and deleted is not None:
                    self._readded[commit.sha] = deleted
        return unverified

    def check_hand_edits(self, commits: Sequence[Commit]) -> None:
        """Check what these commits (each with all its changes) did to owned content."""
        for commit in commits:
            self._hand_edits(commit)

    def check_replays(self, commits: Sequence[Commit]) -> None:
        """Check what verified replay commits (each with all its changes) wrote.

        A replay appends no record: it may only write the apply-state file and move its
        intent file into `applied/` (one file added there); anything else owned is a hand
        edit, as anyone's (a replay needs no record to agree with: its trailers are cheap).
        """
        state, applied = self.owned.files.state_files[0], self.owned.files.processed[0]
        for commit in commits:
            moved = [
                change.path
                for change in commit.changes
                if change.status == "A" and change.path.rpartition("/")[0] == applied
            ][:1]
            allowed = {state, *moved}
            rest = tuple(change for change in commit.changes if change.path not in allowed)
            self._hand_edits(commit._replace(changes=rest))

    def _claims(self, commit: Commit) -> bool:
        return claims(commit, self.fleet)

    def _add(self, kind: FindingKind, commit: Commit, path: str, detail: str) -> None:
        self.findings.append(
            Finding(
                kind,
                commit.sha,
                path,
                None,
                detail,
                commit.author,
                commit.committer,
                fleet=self.fleet,
            )
        )

    def _check_claim(self, commit: Commit) -> bool:
        trailers = commit.trailers
        intent_path = trailers.get("Reconcile-Intent", "")
        if self.bot_signed is not None:
            found = self._raw.get(commit.sha)
            if self.bot_signed(commit.sha, found[1] if found else b"") is False:
                self._add(
                    FindingKind.FORGED_TRAILERS,
                    commit,
                    intent_path,
                    "not signed by a botSigners key",
                )
                return False
        status = trailers.get("Reconcile-Status", "")
        appended = any(audit.is_telemetry(c.path, self.owned) for c in commit.changes)
        if status == "replayed":
            key = trailers.get("Idempotency-Key", "")
            problem = (
                "a replay appends no record, but this commit changes the telemetry"
                if appended
                else None
                if self._was_applied(key)
                else f"it replays key {key!r}, which no earlier record applied"
            )
            if problem:
                self._add(FindingKind.FORGED_TRAILERS, commit, intent_path, problem)
            else:
                self.replays.append(commit)
            return problem is None
        if status not in ("applied", "rejected"):
            self._add(
                FindingKind.FORGED_TRAILERS,
                commit,
                intent_path,
                f"unknown Reconcile-Status {status!r}",
            )
            return False
        if not appended:
            self._add(
                FindingKind.FORGED_TRAILERS,
                commit,
                intent_path,
                "its trailers claim a record, but it appends none to the telemetry",
            )
            return False
        number = self._take(audit.trailer_identity(trailers))
        if number is None:
            self._add(
                FindingKind.RECORD_MISSING,
                commit,
                intent_path,
                "no telemetry record matches its trailers (deleted since, or they are forged)",
            )
            return False  # fail closed: what it changed is checked as any other commit's
        record = self.records[number]
        assert record is not None
        disagreements = audit.trailer_disagreements(trailers, record)
        if disagreements:
            self._add(FindingKind.FORGED_TRAILERS, commit, intent_path, "; ".join(disagreements))
            return False
        self._check_links(commit, record)
        self.appended_by[number] = commit.sha
        return True

    def _was_applied(self, key: str) -> bool:
        if key in self.applied:
            return True
        if self._known_keys is not None:  # read the key indexes only for such a replay
            self.applied.update(self._known_keys())
            self._known_keys = None
        return key in self.applied

    def _take(self, identity: tuple[str, str, str]) -> int | None:
        """The first record at or after the pointer with `identity`; moves the pointer past it."""
        queue = self._positions.get(identity)
        while queue and queue[0] < self._pointer:
            queue.popleft()
        if not queue:
            return None
        number = queue.popleft()
        for record in self.records[self._pointer : number + 1]:
            if record is not None and record.get("status") == "applied":
                self.applied.add(str(record.get("idempotencyKey")))
        self._pointer = number + 1
        return number

    def _check_links(self, commit: Commit, record: AuditRecord) -> None:
        git = record.get("git")
        if not isinstance(git, dict):
            self._add(
                FindingKind.RECORD_LINK_BROKEN,
                commit,
                self.owned.files.telemetry,
                "its record has no git linkage",
            )
            return
        for field in ("baseCommit", "intentCommit"):
            value = git.get(field)
            if value is None and field == "intentCommit":
                continue  # a file that was never committed
            problem = self._link_problem(value, commit.sha)
            if problem:
                self._add(
                    FindingKind.RECORD_LINK_BROKEN,
                    commit,
                    str(git.get("intentFile", "")),
                    f"git.{field} {value!r} {problem}",
                )

    def _link_problem(self, value: object, commit: str) -> str | None:
        if not isinstance(value, str) or not _SHA.fullmatch(value) or _ZERO.fullmatch(value):
            return "is not a commit id"
        if self._ancestry.is_listed(value):
            return None if self._ancestry.is_ancestor(value, commit) else _NOT_ANCESTOR
        found = self.objects.read(f"{value}^{{commit}}")
        if found is None:
            return "names no commit of this repository"
        # Not in the range read: with --since, before it (an ancestor of the range's base
        # is all it can be, not checked further); the whole history: not reachable from HEAD.
        return _NOT_ANCESTOR if self.whole_history else None

    def _hand_edits(self, commit: Commit) -> None:
        for change in commit.changes:
            if change.path.rpartition("/")[2] == KEEP_FILE:
                continue
            if change.path == self.owned.registry:
                lines = self._registry_changes(change, self._readded.get(commit.sha))
                if not commit.parents and _ZERO.fullmatch(change.old):  # not the baseline
                    after = registry_doc(self._blob(change.new), change.path)
                    lines = [
                        "added by a root commit that is not the first of HEAD's first-parent "
                        "line: " + "; ".join(ownership.changed_owned_fields(None, after))
                    ]
                if lines:
                    self._add(FindingKind.HAND_EDIT, commit, change.path, "; ".join(lines))
                continue
            why = audit.owned_change(change.path, self.owned)
            if why:
                self._add(FindingKind.HAND_EDIT, commit, change.path, f"{change.status}: {why}")

    def _registry_changes(self, change: Change, deleted: str | None = None) -> list[str]:
        """The owned fields a change of the registry changed.

        `deleted`: the registry's blob before an earlier commit deleted it: a registry added
        again is compared with it. Otherwise added (the first version) or deleted (every
        command then refuses it): nothing here.
        """
        old = deleted if deleted is not None and _ZERO.fullmatch(change.old) else change.old
        if _ZERO.fullmatch(old) or _ZERO.fullmatch(change.new):
            return []
        before = registry_doc(self._blob(old), change.path)
        after = registry_doc(self._blob(change.new), change.path)
        if before is None or after is None:
            return []
        return ownership.changed_owned_fields(before, after)

    def _blob(self, sha: str) -> bytes:
        found = self.objects.read(sha)
        return found[1] if found is not None else b""
