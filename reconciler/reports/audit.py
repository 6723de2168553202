"""`reconcile verify`: the audit trail read from git and checked end to end (read-only).

One `git log --raw` over the range (every commit, oldest first) and one `git cat-file --batch`
for the trees and blobs needed: the telemetry at HEAD (and at `since`), the registry where a
commit that is not the reconciler's changed it. core/audit.py and core/audit_chain.py say
what each finding means. `audit` is the API other checks build on (drift, signatures).
A repository with several fleets is audited once: the history is walked once for all of
them, each fleet's records and files are checked on their own (docs/audit.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Literal, NamedTuple

from reconciler.adapters.gitrepo import CatFile
from reconciler.core import audit_drift
from reconciler.core.audit import Finding, FindingKind, OwnedPaths
from reconciler.core.audit_drift import AuditState, OpenEdit
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.inputs import layouts
from reconciler.loop import checkout as checkouts
from reconciler.loop import config as loop_config
from reconciler.loop import provenance
from reconciler.loop.paths import LoopPaths
from reconciler.reports import audit_commits, audit_log, audit_records, audit_trust, pr_edits
from reconciler.reports.audit_drift import Drift
from reconciler.reports.audit_log import Commit

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
    fleets: tuple[str, ...] = ()
    """The fleets audited (several fleets); empty: the repository's one fleet."""
    head_findings: tuple[Finding, ...] = ()
    """The HEAD check's findings (each fleet's registry against its newest applied record)."""

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
        return AuditState(
            self.head, tuple(self.open_edits), tuple(carried), self.fleets, self.head_findings
        )

    def of_fleets(self, wanted: Iterable[str]) -> AuditReport:
        """The report of the fleets `wanted` only, with the repository-wide findings."""
        chosen = set(wanted)
        return self._replace(
            findings=[f for f in self.findings if f.fleet is None or f.fleet in chosen]
        )


def audit_fleets(repo: str | None, since: str | None, fleets: Sequence[str]) -> AuditReport:
    """`audit` of the whole repository, its findings those of `fleets` (empty: every fleet).

    Raises:
        RefusalError: as `audit`; `fleet_unknown` (a single-fleet repository: any fleet).
    """
    if fleets:
        layouts.resolve_layouts(layouts.resolve_repo(repo), fleets)  # refuses unknown ones
    report = audit(repo, since)
    return report.of_fleets(fleets) if fleets else report


class _FleetFiles(NamedTuple):
    """One fleet as the audit reads it: its id (None: the one fleet) and its files."""

    fleet: str | None
    rel: LoopPaths


def audit(
    repo: str | None,
    since: str | None = None,
    *,
    bot_signed: BotSigned | Literal["trust"] | None = FROM_TRUST,
    state: AuditState | None = None,
) -> AuditReport:
    """Check the audit trail of the repository holding `repo`; `since`: only after that commit.

    Every fleet of the repository is checked, its findings naming it (`Finding.fleet`).
    `state` (instead of `since`): continue from a previous check's state, after its head;
    ignored (the whole history is checked) when its head is not an ancestor of HEAD or it
    is of other fleets. `bot_signed`: by default from `trust.botSigners`; None turns the
    signature check off. Changes of the trust files are checked whenever `trust:` is set.

    Raises:
        RefusalError: not a git repository, no commit yet, a shallow clone
            (`trust_history_shallow`), bad layout (`fleets_invalid`), `since` is no commit,
            or invalid trust settings.
    """
    configs = loop_config.load_configs(repo)
    checkout = checkouts.open_checkout(configs[0].layout.repo)
    if provenance.is_shallow(checkout):
        # The oldest commit would be the baseline, and every edit before it unseen.
        raise RefusalError(
            ReasonCode.TRUST_HISTORY_SHALLOW,
            "the clone is shallow: the audit trail cannot be checked from its first commit; "
            "fetch the whole history (git fetch --unshallow; actions/checkout: fetch-depth: 0)",
        )
    fleets = [
        _FleetFiles(
            config.fleet.id if config.layout.is_multi_fleet else None,
            config.relative_paths(checkout, on_disk=False),  # git's objects, not the files
        )
        for config in configs
    ]
    ids = tuple(each.fleet for each in fleets if each.fleet is not None)
    setup = audit_trust.TrustSetup(configs[0].layout, checkout.top)
    if bot_signed == FROM_TRUST:
        bot_signed = setup.bot_signed if setup.signs_bots else None
    if state is not None and (state.fleets != ids or not _is_ancestor(checkout, state.head)):
        state = None
    base = state.head if state else _resolve(checkout, since) if since is not None else None
    small = [path for each in fleets for path in small_paths(each.rel)]
    with ThreadPoolExecutor(1) as pool, CatFile(checkout.git) as objects:
        listing = pool.submit(audit_log.read_log, checkout, base, [*small, *setup.paths])
        histories: list[audit_records.History | None]
        if state is None or state.head_findings is None:
            # git lists the commits while the records are read and parsed here.
            histories = [audit_records.read_history(objects, each.rel, base) for each in fleets]
            commits = listing.result()
        else:
            commits = listing.result()
            unchanged = unchanged_fleets(commits, fleets)
            histories = [
                None
                if each.fleet in unchanged
                else audit_records.read_history(objects, each.rel, base)
                for each in fleets
            ]
        checkers = [
            audit_commits.CommitChecker(
                owned_paths(each.rel),
                history.records if history is not None else (),
                objects,
                _known_keys(objects, base, each.rel),
                bot_signed=None if isinstance(bot_signed, str) else bot_signed,
                whole_history=base is None,
                fleet=each.fleet,
            )
            for each, history in zip(fleets, histories, strict=True)
        ]
        walk = _Walk(checkout, objects, commits, checkers)
        order = {commit.sha: number for number, commit in enumerate(commits)}
        carried = state.findings if state else ()
        trust_kind = FindingKind.TRUST_FILE_UNAPPROVED
        brought = audit_log.first_parent_changes(checkout, base, setup.watched)
        trust = audit_trust.unapproved_trust_changes(
            setup,
            objects,
            [
                commit._replace(changes=brought[commit.sha])
                for commit in commits
                if commit.sha in brought
            ],
            [found for found in carried if found.kind is trust_kind],
        )
        others: list[Finding] = []
        edits: list[Finding] = []
        chain: list[Finding] = []
        replays: list[Finding] = []
        still_open: list[OpenEdit] = []
        for number, each in enumerate(fleets):
            checker, history = checkers[number], histories[number]
            mine = [f for f in carried if f.fleet == each.fleet and f.kind is not trust_kind]
            opened = [
                e for e in (state.open_edits if state else ()) if e.finding.fleet == each.fleet
            ]
            found, left = walk.drift(number, each.rel, opened)
            edits += found
            still_open += left
            others += [f for f in checker.findings if f.kind is not FindingKind.HAND_EDIT]
            chain += audit_drift.acknowledged(
                [
                    *((finding, -1) for finding in mine),  # before every record of the range
                    *(
                        audit_records.chain_findings(history, commits, each.fleet)
                        if history
                        else ()
                    ),
                ],
                walk.adopts[number],
            )
            if any(edit.finding.path == each.rel.registry for edit in left):
                continue
            if history is not None:
                replays += audit_records.replay_findings(
                    objects, each.rel, history, commits, each.fleet
                )
            elif state is not None and state.head_findings is not None:
                # Its registry and records are those the state's check compared.
                replays += [f for f in state.head_findings if f.fleet == each.fleet]
        # A repository-wide finding holds every fleet: an adopt in any of them acknowledges it.
        every_adopt = [sha for adopts in walk.adopts for sha in adopts.values()]
        others += audit_drift.adopted_later(trust, every_adopt, order)
        findings = sorted([*others, *edits], key=lambda found: order.get(found.commit, -1))
    records = sum(len(history.lines) for history in histories if history is not None)
    return AuditReport(
        [*chain, *findings, *replays],
        checkout.head,
        base,
        len(commits),
        records,
        still_open,
        ids,
        tuple(replays),
    )


class _Walk:
    """The commits checked once for every fleet: claims, then hand edits, then replays.

    A commit verified by its fleet's records is, for every other fleet, a commit like
    anyone's: its changes of the small owned paths (all fleets' registry, telemetry, state)
    are checked against that fleet's files. Only commits no fleet verified are read with
    their whole diff, in one `git log` for all fleets.
    """

    def __init__(
        self,
        checkout: checkouts.Checkout,
        objects: CatFile,
        commits: Sequence[Commit],
        checkers: Sequence[audit_commits.CommitChecker],
    ) -> None:
        """Check every commit's claim for each fleet, then what the others changed."""
        self.objects, self.commits = objects, commits
        unverified = [checker.check(commits) for checker in checkers]
        others = [{commit.sha for commit in found} for found in unverified[1:]]
        anyone = [c for c in unverified[0] if all(c.sha in shas for shas in others)]
        merges = audit_commits.unrelated_merges(commits)
        whole = {c.sha: c for c in audit_log.with_all_changes(checkout, anyone, merges)}
        self.unverified = [[whole.get(c.sha, c) for c in found] for found in unverified]
        for checker, found in zip(checkers, self.unverified, strict=True):
            checker.check_hand_edits(found)
        replayed = [commit for checker in checkers for commit in checker.replays]
        read = {c.sha: c for c in audit_log.with_all_changes(checkout, replayed)}
        self.replays = [[read[c.sha] for c in checker.replays] for checker in checkers]
        for checker, found in zip(checkers, self.replays, strict=True):
            checker.check_replays(found)
        self.checkers = checkers
        self.adopts = [
            {
                number: sha
                for number, sha in checker.appended_by.items()
                if audit_drift.is_adopt(checker.records[number])
            }
            for checker in checkers
        ]
        """Per fleet: record position -> the verified commit that appended an adopt record."""

    def drift(
        self, number: int, rel: LoopPaths, open_edits: Sequence[OpenEdit]
    ) -> tuple[list[Finding], list[OpenEdit]]:
        """Fleet `number`'s hand edits with their resolutions, and those still open."""
        checker = self.checkers[number]
        return Drift(self.objects, rel.registry).resolve(
            self.commits,
            {c.sha: c for c in [*self.unverified[number], *self.replays[number]]},
            [f for f in checker.findings if f.kind is FindingKind.HAND_EDIT],
            frozenset(self.adopts[number].values()),
            open_edits,
        )


def unchanged_fleets(commits: Sequence[Commit], fleets: Sequence[_FleetFiles]) -> set[str | None]:
    """The fleets that no commit of the range claims and whose small owned paths none changed.

    Their records, registry and HEAD check are as the previous check left them: neither is
    read again. A root commit or a merge of unrelated histories in the range (what it brings
    may show in no listed change): every fleet is read.
    """
    if any(not commit.parents for commit in commits) or audit_commits.unrelated_merges(commits):
        return set()
    owners: dict[str, set[str | None]] = {}
    for each in fleets:
        for path in small_paths(each.rel):
            owners.setdefault(path, set()).add(each.fleet)
    changed = {
        each.fleet for each in fleets if any(audit_commits.claims(c, each.fleet) for c in commits)
    }
    for path in {change.path for commit in commits for change in commit.changes}:
        while path:
            changed |= owners.get(path, set())
            path = path.rpartition("/")[0]
    return {each.fleet for each in fleets} - changed


def _known_keys(objects: CatFile, base: str | None, rel: LoopPaths) -> Callable[[], frozenset[str]]:
    return lambda: audit_records.indexed_keys(objects, base, rel) if base else frozenset()


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
