"""A pass over several fleets (loop layer): their intents in one commit stream, one HEAD move.

Fleets are taken upstream first. Those with pending intents are read together: one `git
status` of their files, one `git ls-tree`, one `git log` for the commits that added their
intents, one lookup of the names their files move to; then every fleet's intents are
evaluated against its own registry, decision, guards and telemetry and committed in one
`git fast-import` stream, and HEAD moves once (`commits.commit_groups`). So a pass costs
about what a single fleet's pass over as many intents costs, however many fleets it touches.

A fleet whose upstream also has intents in the pass waits for a second round (a wave): its
gate (`guard_upstream_not_ready`) then reads the upstream as the first round left it, a
rollback of the upstream included. A fleet's refusal (its registry invalid, a symlink in its
folder) consumes nothing of it and never stops the others: it is returned beside the outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from reconciler.core.errors import ReconcileError, RetryableError
from reconciler.core.passes import Outcome
from reconciler.core.queueing import Ignored
from reconciler.loop import checkout as checkouts
from reconciler.loop import commits, pass_state, prediction, queue, symlinks
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig
from reconciler.loop.paths import LoopPaths
from reconciler.loop.worktree import CleanCheck, TakenNames
from reconciler.telemetry.ledger import Ledger


class Work(NamedTuple):
    """A fleet with intents pending."""

    config: LoopConfig
    rel: LoopPaths
    pending: list[queue.PendingFile]


class FleetsDone(NamedTuple):
    """What a pass over several fleets did."""

    outcomes: list[Outcome]
    commits: list[str]
    head: str
    left: int
    ignored: list[Ignored]
    refusals: list[tuple[str, ReconcileError]]


class Settings(NamedTuple):
    """The pass's options this module needs."""

    dry_run: bool
    max_intents: int | None
    stop: Callable[[], bool] | None
    audit: pass_state.Auditor | None


def pass_fleets(
    configs: Sequence[LoopConfig],
    rels: Sequence[LoopPaths],
    checkout: Checkout,
    settings: Settings,
    now: Callable[[], datetime],
) -> FleetsDone:
    """Evaluate (and unless a dry run, commit) the pending intents of every fleet.

    Raises:
        RefusalError: what stops every fleet (a dirty worktree, a signing key unusable).
        RetryableError: git failed transiently.
    """
    works: list[Work] = []
    ignored: list[Ignored] = []
    refusals: list[tuple[str, ReconcileError]] = []
    for config, rel in zip(configs, rels, strict=True):
        try:
            found = queue.scan_queue(checkout, config.fleet.intents)
        except RetryableError:
            raise
        except ReconcileError as exc:
            refusals.append((config.fleet.id, exc))
            continue
        ignored += found.ignored
        if found.pending:
            works.append(Work(config, rel, list(found.pending)))
    done = FleetsDone([], [], checkout.head, 0, ignored, refusals)
    budget = settings.max_intents
    predicted: dict[str, prediction.Predicted] = {}
    for wave in _waves(works):
        if settings.stop is not None and settings.stop() and done.commits:
            done = done._replace(left=done.left + sum(len(work.pending) for work in wave))
            continue
        if budget is not None:
            wave, over = _within(wave, budget)
            budget -= sum(len(work.pending) for work in wave)
            done = done._replace(left=done.left + over)
            if not wave:
                continue
        result = _wave(wave, rels, checkout, settings, now, refusals, predicted)
        if result.head != checkout.head:
            checkout = checkouts.reread_head(checkout)
        done = done._replace(
            outcomes=[*done.outcomes, *result.outcomes],
            commits=[*done.commits, *result.commits],
            head=result.head,
            left=done.left + result.left,
        )
    return done


def _waves(works: Sequence[Work]) -> list[list[Work]]:
    """The fleets in rounds: a fleet whose upstream has intents in a round goes after it."""
    waves: list[list[Work]] = []
    current: list[Work] = []
    ids: set[str] = set()
    for work in works:
        upstream = work.config.layout.upstream
        if upstream is not None and upstream.id in ids:
            waves.append(current)
            current, ids = [], set()
        current.append(work)
        ids.add(work.config.fleet.id)
    if current:
        waves.append(current)
    return waves


def _within(wave: list[Work], budget: int) -> tuple[list[Work], int]:
    """The wave cut to `budget` intents (--max-intents), and how many were left out."""
    kept: list[Work] = []
    left = 0
    for work in wave:
        take = max(0, min(len(work.pending), budget))
        budget -= take
        left += len(work.pending) - take
        if take:
            kept.append(work._replace(pending=work.pending[:take]))
    return kept, left


def _wave(
    wave: Sequence[Work],
    rels: Sequence[LoopPaths],
    checkout: Checkout,
    settings: Settings,
    now: Callable[[], datetime],
    refusals: list[tuple[str, ReconcileError]],
    predicted: dict[str, prediction.Predicted],
) -> commits.Committed:
    """One round: read the wave's fleets together, then commit them in one stream.

    A dry run writes nothing, so a later round's upstream gate reads the upstream as this
    round's predictions leave it (`predicted`), not as the files still hold it.
    """
    # `git status` of the wave's files and the names applied/ and rejected/ hold run beside
    # the reading; both are waited for before the first commit.
    clean = CleanCheck(checkout, rels, only=[work.rel for work in wave])
    taken = None
    if not settings.dry_run:
        names = [
            (work.rel, [item.path.rsplit("/", 1)[-1] for item in work.pending]) for work in wave
        ]
        taken = TakenNames(checkout, names)
    specs = [
        spec
        for work in wave
        for spec in (f"{work.rel.intents}/", *symlinks.listing_specs(work.rel))
    ]
    listing = checkouts.tree_blobs(checkout, checkout.head, *sorted(specs))
    committed = [item.path for work in wave for item in work.pending if item.path in listing]
    adding = queue.find_adding_commits(checkout, committed)
    groups: list[commits.Group] = []
    for work in wave:
        try:
            group = _group(work, checkout, listing, adding, settings, now)
            state = prediction.with_predicted_upstream(group.state, group.config.layout, predicted)
            groups.append(group._replace(state=state))
        except RetryableError:
            clean.join()
            raise
        except ReconcileError as exc:
            refusals.append((work.config.fleet.id, exc))
    if not groups:
        clean.join()
        return commits.Committed([], [], checkout.head, 0)
    if taken is None:  # a dry run
        clean.wait()
        outcomes: list[Outcome] = []
        for group in groups:
            found = prediction.predict(group.state, group.sources, group.history, now)
            outcomes += found
            predicted[group.config.fleet.id] = prediction.Predicted.of(group.state, found)
        return commits.Committed(outcomes, [""] * len(outcomes), checkout.head, 0)
    return commits.commit_groups(
        groups, checkout, now, settings.stop, listing=listing, ready=clean.wait, taken=taken
    )


def _group(
    work: Work,
    checkout: Checkout,
    listing: dict[str, tuple[str, str]],
    adding: dict[str, queue.AddingCommit],
    settings: Settings,
    now: Callable[[], datetime],
) -> commits.Group:
    """One fleet of the wave, read: its state, sources, telemetry and HEAD's files.

    Raises:
        ReconcileError: the fleet cannot be reconciled now (nothing of it is consumed).
    """
    config, rel = work.config, work.rel
    state = pass_state.checkout_state(checkout, config, now(), rel)
    symlinks.refuse_tracked_symlinks(listing, rel, checkout.head)
    history = Ledger(config.fleet.telemetry, config.fleet.state, config.rotate_bytes)
    tracked = symlinks.intents_in(listing, rel)
    sources = [
        queue.read_source(item, adding.get(item.path) if item.path in tracked else None)
        for item in work.pending
    ]
    state, sources = pass_state.with_trust(checkout, config, rel, state, sources)
    state = pass_state.with_drift(state, settings.audit, checkout, history, sources)
    pass_state.require_usable_registry(state, sources, now())
    return commits.Group(config, rel, sources, state, history, tracked)
