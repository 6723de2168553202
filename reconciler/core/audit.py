"""What `reconcile verify` checks, as pure functions over values read from git (core layer).

reports/audit.py reads the commits, blobs and records; this module says what each means:
which paths are the reconciler's to change, whether a commit's trailers agree with its
record, whether the owned registry fields equal the last applied record's result. The chain
of records itself is core/audit_chain.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from reconciler.core import ownership
from reconciler.core.commit_messages import flag_text, one_line
from reconciler.core.registry_fields import value_at

Record = dict[str, Any]


class FindingKind(StrEnum):
    """What is wrong with the audit trail (docs/audit.md)."""

    RECORD_CHAIN_BROKEN = "record_chain_broken"
    """A telemetry record was changed, deleted, inserted or reordered (its `prevHash` link)."""
    HAND_EDIT = "hand_edit"
    """A commit that is not the reconciler's changed owned content, or HEAD's owned registry
    fields differ from the last applied record."""
    FORGED_TRAILERS = "forged_trailers"
    """A commit carries Reconcile-* trailers but is not a verified reconciler commit."""
    RECORD_MISSING = "record_missing"
    """A reconciler commit appended a record that the telemetry no longer holds."""
    RECORD_LINK_BROKEN = "record_link_broken"
    """A record's `git` linkage names a commit that does not exist or is not an ancestor."""
    TRUST_FILE_UNAPPROVED = "trust_file_unapproved"
    """The allowed-signers file or the access policy changed by a commit no approver signed."""


class Finding(NamedTuple):
    """One problem of the audit trail: what, where, and who made the commit at fault."""

    kind: FindingKind
    commit: str
    """The commit at fault ('' when no commit can be named)."""
    path: str
    """The repo-relative file concerned."""
    line: int | None
    """1-based line in `path` (telemetry records), else None."""
    detail: str
    author: str = ""
    """`Name <email>` of the commit's author ('' without a commit)."""
    committer: str = ""
    resolved: str = ""
    """'' (open), `reverted` or `adopted` (core/audit_drift.py): shown, not counted."""
    resolved_by: str = ""
    """The commit that reverted it or appended the adopt record ('' while open)."""
    fleet: str | None = None
    """The fleet whose file it concerns (several fleets); None: the repository's one fleet,
    or a repository-wide finding (reconciler.yaml, the trust files), which holds every fleet."""

    def holds(self, fleet: str | None) -> bool:
        """Whether it concerns `fleet` (None: every fleet): its own, or repository-wide."""
        return fleet is None or self.fleet in (None, fleet)

    def as_json(self) -> dict[str, object]:
        """The finding as `--json` prints it (and the audit state stores it)."""
        return {
            "kind": str(self.kind),
            "commit": self.commit,
            "path": self.path,
            "line": self.line,
            "detail": self.detail,
            "author": self.author,
            "committer": self.committer,
            "resolved": self.resolved or None,
            "resolvedBy": self.resolved_by or None,
            "fleet": self.fleet,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Finding:
        """The finding `as_json` gave (ValueError, KeyError or TypeError: not one)."""
        line = doc["line"]
        if line is not None and not isinstance(line, int):
            raise TypeError("line")
        texts = [
            _stored(doc, key)
            for key in ("commit", "path", "detail", "author", "committer", "resolved", "resolvedBy")
        ]
        fleet = doc.get("fleet")  # absent in a version 1 state (one fleet)
        if fleet is not None and not isinstance(fleet, str):
            raise TypeError("fleet")
        commit, path, detail, author, committer, resolved, resolved_by = texts
        return cls(
            FindingKind(doc["kind"]),
            commit,
            path,
            line,
            detail,
            author,
            committer,
            resolved,
            resolved_by,
            fleet,
        )


class OwnedPaths(NamedTuple):
    """The repo-relative files only the reconciler writes (the decision is the gates job's)."""

    registry: str
    files: ownership.OwnedFiles


def owned_change(path: str, owned: OwnedPaths) -> str | None:
    """Why a non-reconciler commit may not change `path` (None: it may).

    The registry is compared by value (`ownership.changed_owned_fields`), not here.
    """
    if path == owned.files.decision or path == owned.registry:
        return None
    return ownership.owned_file_problem(path, owned.files)


def is_telemetry(path: str, owned: OwnedPaths) -> bool:
    """Whether `path` is the active telemetry file or a sealed segment beside it."""
    files = owned.files
    folder, _, name = path.rpartition("/")
    telemetry_folder = files.telemetry.rpartition("/")[0]
    return path == files.telemetry or (
        folder == telemetry_folder and files.segments.fullmatch(name) is not None
    )


def record_identity(record: Mapping[str, Any]) -> tuple[str, str, str]:
    """(intent file, idempotency key, status): what a commit's trailers name its record by."""
    git = record.get("git")
    intent_file = git.get("intentFile") if isinstance(git, dict) else None
    return (
        _text(intent_file),
        _text(record.get("idempotencyKey")),
        _text(record.get("status")),
    )


def trailer_identity(trailers: Mapping[str, str]) -> tuple[str, str, str]:
    """The `record_identity` a commit's trailers claim."""
    return (
        trailers.get("Reconcile-Intent", ""),
        trailers.get("Idempotency-Key", ""),
        trailers.get("Reconcile-Status", ""),
    )


def trailer_disagreements(trailers: Mapping[str, str], record: Mapping[str, Any]) -> list[str]:
    """One line per trailer whose value differs from what its record says."""
    rollout = _block(record, "rollout")
    before = _block(rollout, "before")
    after = _block(rollout, "after")
    governance = _block(record, "governance")
    git = _block(record, "git")
    expected: dict[str, object] = {
        "Reconcile-Status": record.get("status"),
        "Reconcile-Action": record.get("intent") or "invalid",
        "Idempotency-Key": record.get("idempotencyKey"),
        "Trace-Id": record.get("traceId"),
        "Decision-Trace-Id": record.get("decisionTraceId"),
        "Actor": governance.get("actor"),
        "Approval-Ref": governance.get("approvalRef"),
        "Canary": f"{before.get('canaryPercent')} -> {after.get('canaryPercent')}",
        "Manual-Pause": (
            f"{flag_text(before.get('manualPause'))} -> {flag_text(after.get('manualPause'))}"
        ),
        "Intent-Commit": git.get("intentCommit"),
        "Reconcile-Intent": git.get("intentFile"),
    }
    lines = []
    for key, value in expected.items():
        have = trailers.get(key, "")
        if value == have and value:
            continue  # the same text (the common case, 11 times per commit: no formatting)
        want = _text(value)
        if want != have:
            lines.append(f"{key} says {have or '(absent)'!r}, its record {want or '(absent)'!r}")
    return lines


def replay_problems(registry: object, record: Mapping[str, Any]) -> list[str]:
    """One line per owned registry field that differs from the last applied record's result.

    Compared: canaryPercent and pause.manual with `rollout.after`, the governance block with
    the record's governance (its `timestamp` is `changedAt`): the fields an apply writes.
    """
    rollout = _block(record, "rollout")
    after = _block(rollout, "after")
    governance = _block(record, "governance")
    wanted: list[tuple[tuple[str, ...], object]] = [
        (ownership.OWNED_REGISTRY_FIELDS[0], after.get("canaryPercent")),
        (ownership.OWNED_REGISTRY_FIELDS[1], after.get("manualPause")),
    ]
    written = {**governance, "changedAt": governance.get("changedAt", record.get("timestamp"))}
    wanted += [  # a bash-tool record may lack one
        (path, written[path[-1]])
        for path in ownership.OWNED_REGISTRY_FIELDS[2:]
        if written.get(path[-1]) is not None
    ]
    problems = []
    for path, value in wanted:
        have = value_at(registry, path)
        if have != value or type(have) is not type(value):
            problems.append(
                f"{'.'.join(path)} is {one_line(repr(have))}, the last applied record says "
                f"{one_line(repr(value))}"
            )
    return problems


def _stored(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(key)
    return value


def _block(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    """`one_line(value)` ('' for None), without its regex for plain text (most values)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and not text[:1].isspace() and not text[-1:].isspace():
        return text  # no control character, line break or surrogate: one_line keeps it
    return one_line(text)
