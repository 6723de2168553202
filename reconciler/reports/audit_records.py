"""The records `reconcile verify` checks, and the findings about them (reports layer).

One fleet's telemetry read from the one `git cat-file --batch` (at HEAD, and at `since`),
its `prevHash` chain checked (core/audit_chain.py), and HEAD's owned registry fields
compared with its newest applied record. Used by reports/audit.py, once per fleet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from reconciler.adapters.gitrepo import CatFile
from reconciler.core import audit_chain
from reconciler.core.applied_keys import loads_record
from reconciler.core.audit import Finding, FindingKind, replay_problems
from reconciler.core.audit import Record as AuditRecord
from reconciler.loop.paths import LoopPaths
from reconciler.reports import audit_commits
from reconciler.reports.audit_log import Commit
from reconciler.telemetry import segments


class History(NamedTuple):
    """The records to check: their lines, parsed records, and what comes before them."""

    lines: list[audit_chain.ChainLine]
    records: list[AuditRecord | None]
    before: bytes | None
    """The line before the first one (None: the history starts with them)."""
    earlier_applied: AuditRecord | None
    """The last applied record before the first one (a --since check's replay baseline)."""


def read_history(objects: CatFile, rel: LoopPaths, base: str | None) -> History:
    """One fleet's records at HEAD (after those `base` held but its last), oldest first."""
    folder, _, active = rel.telemetry.rpartition("/")
    pattern = segments.segment_pattern(active)
    now = _segment_names(objects, "HEAD", folder, pattern)
    files = [*now, active]
    skip, before, earlier = 0, None, None
    if base is not None:
        then = _segment_names(objects, base, folder, pattern)
        files = [name for name in files if name not in set(then)]
        old_active = blob(objects, f"{base}:{rel.telemetry}")
        old_lines = [line for line in old_active.split(b"\n") if line]
        # The last record before the range is checked again, as HEAD holds it: the range's
        # first record must link to it, and it to the one before.
        skip = max(len(old_lines) - 1, 0)
        before = old_lines[-2] if len(old_lines) > 1 else None
        if len(old_lines) <= 1 and then:
            before = audit_chain.last_line(blob(objects, f"{base}:{folder}/{then[-1]}"))
        earlier = _last_applied(old_lines)
        for name in reversed(then):  # just rotated (or only rejections since): the segments
            if earlier is not None:
                break
            earlier = _last_applied(blob(objects, f"{base}:{folder}/{name}").split(b"\n"))
    lines: list[audit_chain.ChainLine] = []
    for name in files:
        path = f"{folder}/{name}" if folder else name
        lines += audit_chain.record_lines(path, blob(objects, f"HEAD:{path}"))
    lines = lines[skip:]
    return History(lines, [loads_record(line.data) for line in lines], before, earlier)


def _segment_names(objects: CatFile, commit: str, folder: str, pattern: Any) -> list[str]:
    """The sealed segment names in `folder` at `commit`, oldest first."""
    found = objects.read(f"{commit}:{folder}")
    if found is None or found[0] != "tree":
        return []
    names = []
    for name in _tree_names(found[1]):
        match = pattern.fullmatch(name)
        if match:
            names.append((match.group(1), int(match.group(2) or 1), name))
    return [name for _, _, name in sorted(names)]


def _tree_names(data: bytes) -> Iterator[str]:
    offset = 0
    while offset < len(data):
        space = data.index(b" ", offset)
        nul = data.index(b"\0", space)
        yield data[space + 1 : nul].decode("utf-8", "surrogateescape")
        offset = nul + 21


def blob(objects: CatFile, name: str) -> bytes:
    """The blob `name` (`<rev>:<path>`) holds; b"" when it is none."""
    found = objects.read(name)
    return found[1] if found is not None and found[0] == "blob" else b""


def indexed_keys(objects: CatFile, commit: str, rel: LoopPaths) -> frozenset[str]:
    """The idempotency keys the key indexes at `commit` hold (applied before the range)."""
    keys: set[str] = set()
    for path in (rel.index_file, rel.segments):
        try:
            doc = json.loads(blob(objects, f"{commit}:{path}") or b"{}")
        except (ValueError, RecursionError, MemoryError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("keys"), dict):
            keys.update(doc["keys"])
    return frozenset(keys)


def _last_applied(lines: Sequence[bytes]) -> AuditRecord | None:
    return next((r for r in map(loads_record, reversed(lines)) if r and _is_applied(r)), None)


def _prev_hash(record: AuditRecord | None) -> str | None:
    found = record.get("prevHash") if record is not None else None
    return found if isinstance(found, str) else None


def _is_applied(record: AuditRecord | None) -> bool:
    return record is not None and record.get("status") == "applied"


def chain_findings(
    history: History, commits: Sequence[Commit], fleet: str | None = None
) -> list[tuple[Finding, int]]:
    """The chain breaks, each with the position of its record among `history.lines`."""
    chained = audit_chain.prev_hash_of(history.before) is not None if history.before else False
    breaks = audit_chain.check_chain(
        history.lines,
        before=history.before,
        chained=chained,
        prev_hashes=[_prev_hash(record) for record in history.records],
    )
    positions = {(line.path, line.number): number for number, line in enumerate(history.lines)}
    findings = []
    for found in breaks:
        culprit = _last_to_change(commits, found.path)
        finding = Finding(
            FindingKind.RECORD_CHAIN_BROKEN,
            culprit.sha if culprit else "",
            found.path,
            found.number,
            found.detail,
            culprit.author if culprit else "",
            culprit.committer if culprit else "",
            fleet=fleet,
        )
        findings.append((finding, positions.get((found.path, found.number), -1)))
    return findings


def _last_to_change(commits: Sequence[Commit], path: str) -> Commit | None:
    """The newest commit that changed `path`, preferring one that is not the reconciler's."""
    touching = [commit for commit in commits if any(c.path == path for c in commit.changes)]
    human = [commit for commit in touching if not commit.trailers]
    found = human or touching
    return found[-1] if found else None


def replay_findings(
    objects: CatFile,
    rel: LoopPaths,
    history: History,
    commits: Sequence[Commit],
    fleet: str | None = None,
) -> list[Finding]:
    """HEAD's owned registry fields against the last applied record's result."""
    last = next((r for r in reversed(history.records) if _is_applied(r)), history.earlier_applied)
    if last is None:
        return []
    doc = audit_commits.registry_doc(blob(objects, f"HEAD:{rel.registry}"), rel.registry)
    if doc is None:
        return []
    problems = replay_problems(doc, last)
    if not problems:
        return []
    changed = [c for c in commits if any(x.path == rel.registry for x in c.changes)]
    culprit = changed[-1] if changed else None
    return [
        Finding(
            FindingKind.HAND_EDIT,
            culprit.sha if culprit else "",
            rel.registry,
            None,
            "; ".join(problems)
            + " (the last commit that changed the registry"
            + ("" if culprit else ", before the range checked")
            + ")",
            culprit.author if culprit else "",
            culprit.committer if culprit else "",
            fleet=fleet,
        )
    ]
