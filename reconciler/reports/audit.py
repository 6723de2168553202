"""`reconcile verify`: the audit trail read from git and checked end to end (read-only).

One `git log --raw` over the range (every commit, oldest first) and one `git cat-file --batch`
for the trees and blobs needed: the telemetry at HEAD (and at `since`), the registry where a
commit that is not the reconciler's changed it. core/audit.py and core/audit_chain.py say
what each finding means. `audit` is the API other checks build on (drift, signatures).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Literal, NamedTuple

from reconciler.adapters.gitrepo import CatFile
from reconciler.core import audit_chain, audit_drift
from reconciler.core.applied_keys import loads_record
from reconciler.core.audit import Finding, FindingKind, OwnedPaths, replay_problems
from reconciler.core.audit import Record as AuditRecord
from reconciler.core.audit_drift import AuditState, OpenEdit
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.loop import checkout as checkouts
from reconciler.loop import config as loop_config
from reconciler.loop import provenance
from reconciler.loop.paths import LoopPaths
from reconciler.reports import audit_commits, audit_log, audit_trust, pr_edits
from reconciler.reports.audit_drift import Drift
from reconciler.reports.audit_log import Commit
from reconciler.telemetry import segments

BotSigned = Callable[[str, bytes], bool | None]
"""`bot_signed(commit sha, raw commit object) -> bool | None`: None when signing is not
configured; False makes the commit's trailers forged (the seam for commit signatures)."""
FROM_TRUST: Final = "trust"
"""`bot_signed`'s default: the repository's `trust.botSigners` (reports/audit_trust.py)."""


class AuditReport(NamedTuple):
    """What `audit` found, and how much it read."""

    findings: list[Finding]
    """Every finding, resolved ones included (marked; they do not count)."""
    head: str
    since: str | None
    """The commit `--since` resolved to (None: the whole history)."""
    commits: int
    """Commits checked."""
    records: int
    """Telemetry records whose chain links were checked."""
    open_edits: list[OpenEdit] = []
    """The unresolved hand edits of commits, with their baselines (the next state's)."""

    @property
    def unresolved(self) -> list[Finding]:
        """The findings that count (verify's exit code)."""
        return [finding for finding in self.findings if not finding.resolved]

    def state(self) -> AuditState:
        """What the next incremental check starts from."""
        carried = [
            found
            for found in self.unresolved
            if found.kind is not FindingKind.HAND_EDIT  # open edits (and HEAD's check: redone)
        ]
        return AuditState(self.head, tuple(self.open_edits), tuple(carried))


def audit(
    repo: str | None,
    since: str | None = None,
    *,
    bot_signed: BotSigned | Literal["trust"] | None = FROM_TRUST,
    state: AuditState | None = None,
) -> AuditReport:
    """Check the audit trail of the repository holding `repo`; `since`: only after that commit.

    `state` (instead of `since`): continue from a previous check's state, after its head;
    ignored (the whole history is checked) when its head is not an ancestor of HEAD.
    `bot_signed`: by default from `trust.botSigners`; None turns the signature check off.
    Changes of the trust files are checked whenever `trust:` is set.

    Raises:
        RefusalError: not a git repository, no commit yet, a shallow clone
            (`trust_history_shallow`), bad layout, `since` is no commit, or invalid trust
            settings.
    """
    config = loop_config.load_config(repo)
    checkout = checkouts.open_checkout(config.layout.repo)
    if provenance.is_shallow(checkout):
        # The oldest commit would be the baseline, and every edit before it unseen.
        raise RefusalError(
            ReasonCode.TRUST_HISTORY_SHALLOW,
            "the clone is shallow: the audit trail cannot be checked from its first commit; "
            "fetch the whole history (git fetch --unshallow; actions/checkout: fetch-depth: 0)",
        )
    rel = config.relative_paths(checkout)
    owned = owned_paths(rel)
    setup = audit_trust.TrustSetup(config.layout, checkout.top)
    if bot_signed == FROM_TRUST:
        bot_signed = setup.bot_signed if setup.signs_bots else None
    if state is not None and not _is_ancestor(checkout, state.head):
        state = None
    base = state.head if state else _resolve(checkout, since) if since is not None else None
    with ThreadPoolExecutor(1) as pool, CatFile(checkout.git) as objects:
        # git lists the commits while the records are read and parsed here.
        listing = pool.submit(audit_log.read_log, checkout, base, [*small_paths(rel), *setup.paths])
        history = _read_history(objects, rel, base)
        commits = listing.result()
        checker = audit_commits.CommitChecker(
            owned,
            history.records,
            objects,
            lambda: _indexed_keys(objects, base, rel) if base else frozenset(),
            bot_signed=None if isinstance(bot_signed, str) else bot_signed,
            whole_history=base is None,
        )
        unverified = audit_log.with_all_changes(
            checkout, checker.check(commits), audit_commits.unrelated_merges(commits)
        )
        checker.check_hand_edits(unverified)
        replays = audit_log.with_all_changes(checkout, checker.replays)
        checker.check_replays(replays)
        adopts = {
            number: sha
            for number, sha in checker.appended_by.items()
            if audit_drift.is_adopt(history.records[number])
        }
        edits, still_open = Drift(objects, rel.registry).resolve(
            commits,
            {commit.sha: commit for commit in [*unverified, *replays]},
            [f for f in checker.findings if f.kind is FindingKind.HAND_EDIT],
            frozenset(adopts.values()),
            state.open_edits if state else (),
        )
        order = {commit.sha: number for number, commit in enumerate(commits)}
        others = [f for f in checker.findings if f.kind is not FindingKind.HAND_EDIT]
        brought = audit_log.first_parent_changes(checkout, base, setup.watched)
        trust_kind = FindingKind.TRUST_FILE_UNAPPROVED
        trust = audit_trust.unapproved_trust_changes(
            setup,
            objects,
            [
                commit._replace(changes=brought[commit.sha])
                for commit in commits
                if commit.sha in brought
            ],
            [found for found in (state.findings if state else ()) if found.kind is trust_kind],
        )
        others += audit_drift.adopted_later(trust, adopts.values(), order)
        findings = sorted([*others, *edits], key=lambda found: order.get(found.commit, -1))
        carried = [
            (finding, -1)
            for finding in (state.findings if state else ())
            if finding.kind is not trust_kind
        ]  # before every record of the range
        chain = audit_drift.acknowledged([*carried, *_chain_findings(history, commits)], adopts)
        findings[:0] = chain
        if not any(edit.finding.path == rel.registry for edit in still_open):
            findings += _replay_findings(objects, rel, history, commits)
    return AuditReport(findings, checkout.head, base, len(commits), len(history.lines), still_open)


def _is_ancestor(checkout: checkouts.Checkout, commit: str) -> bool:
    done = checkout.git.run("merge-base", "--is-ancestor", commit, "HEAD", check=False)
    return done.returncode == 0


def small_paths(rel: LoopPaths) -> list[str]:
    """The owned paths whose changes are read for every commit (none is a large tree)."""
    folder = rel.telemetry.rpartition("/")[0]
    return [rel.registry, folder or rel.telemetry, rel.state, rel.index_file, rel.segments]


def owned_paths(rel: LoopPaths) -> OwnedPaths:
    """The files only the reconciler writes, repo-relative."""
    return OwnedPaths(registry=rel.registry, files=pr_edits.owned_files(rel))


def _resolve(checkout: checkouts.Checkout, since: str) -> str:
    done = checkout.git.run("rev-parse", "--verify", "--quiet", f"{since}^{{commit}}", check=False)
    if done.returncode != 0 or since.startswith("-"):
        raise RefusalError(
            ReasonCode.GIT_FAILED,
            f"--since {since!r} names no commit of this repository; pass a commit SHA, tag or "
            "branch (the last verified commit)",
        )
    return done.stdout.decode("ascii").strip()


# The records --------------------------------------------------------------------------------


class History(NamedTuple):
    """The records to check: their lines, parsed records, and what comes before them."""

    lines: list[audit_chain.ChainLine]
    records: list[AuditRecord | None]
    before: bytes | None
    """The line before the first one (None: the history starts with them)."""
    earlier_applied: AuditRecord | None
    """The last applied record before the first one (a --since check's replay baseline)."""


def _read_history(objects: CatFile, rel: LoopPaths, base: str | None) -> History:
    folder, _, active = rel.telemetry.rpartition("/")
    pattern = segments.segment_pattern(active)
    now = _segment_names(objects, "HEAD", folder, pattern)
    files = [*now, active]
    skip, before, earlier = 0, None, None
    if base is not None:
        then = _segment_names(objects, base, folder, pattern)
        files = [name for name in files if name not in set(then)]
        old_active = _blob(objects, f"{base}:{rel.telemetry}")
        old_lines = [line for line in old_active.split(b"\n") if line]
        # The last record before the range is checked again, as HEAD holds it: the range's
        # first record must link to it, and it to the one before.
        skip = max(len(old_lines) - 1, 0)
        before = old_lines[-2] if len(old_lines) > 1 else None
        if len(old_lines) <= 1 and then:
            before = audit_chain.last_line(_blob(objects, f"{base}:{folder}/{then[-1]}"))
        earlier = _last_applied(old_lines)
        for name in reversed(then):  # just rotated (or only rejections since): the segments
            if earlier is not None:
                break
            earlier = _last_applied(_blob(objects, f"{base}:{folder}/{name}").split(b"\n"))
    lines: list[audit_chain.ChainLine] = []
    for name in files:
        path = f"{folder}/{name}" if folder else name
        lines += audit_chain.record_lines(path, _blob(objects, f"HEAD:{path}"))
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


def _blob(objects: CatFile, name: str) -> bytes:
    found = objects.read(name)
    return found[1] if found is not None and found[0] == "blob" else b""


def _indexed_keys(objects: CatFile, commit: str, rel: LoopPaths) -> frozenset[str]:
    keys: set[str] = set()
    for path in (rel.index_file, rel.segments):
        try:
            doc = json.loads(_blob(objects, f"{commit}:{path}") or b"{}")
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


# Findings -----------------------------------------------------------------------------------


def _chain_findings(history: History, commits: Sequence[Commit]) -> list[tuple[Finding, int]]:
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
        )
        findings.append((finding, positions.get((found.path, found.number), -1)))
    return findings


def _last_to_change(commits: Sequence[Commit], path: str) -> Commit | None:
    """The newest commit that changed `path`, preferring one that is not the reconciler's."""
    touching = [commit for commit in commits if any(c.path == path for c in commit.changes)]
    human = [commit for commit in touching if not commit.trailers]
    found = human or touching
    return found[-1] if found else None


def _replay_findings(
    objects: CatFile,
    rel: LoopPaths,
    history: History,
    commits: Sequence[Commit],
) -> list[Finding]:
    """HEAD's owned registry fields against the last applied record's result."""
    last = next((r for r in reversed(history.records) if _is_applied(r)), history.earlier_applied)
    if last is None:
        return []
    doc = audit_commits.registry_doc(_blob(objects, f"HEAD:{rel.registry}"), rel.registry)
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
        )
    ]
