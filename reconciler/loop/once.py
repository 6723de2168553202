"""`reconcile --once`: one level-triggered pass over the pending intents, one commit each.

Under the repository lock: recover a crashed pass, (with --push) fetch and fast-forward,
validate the registry (invalid: stop, consume nothing, unless a rollback is pending and can
still be applied: see `pass_state.require_usable_registry`), evaluate every pending intent in
file-name order, stream one commit per intent through `git fast-import`, move the branch by
compare-and-swap, update the checkout, and (with --push) push; a rejected push resets to the
remote and runs the pass again (intents another reconciler processed are simply gone).

With several fleets the lock and the recovery cover them all; their intents, upstream first,
go through one stream and one HEAD move (`fleet_passes`), and a fleet's refusal stops only
that fleet (`PassReport.refusals`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from reconciler import journal
from reconciler.adapters import locking
from reconciler.adapters.gitrepo import remove_stale_marks
from reconciler.core import queueing
from reconciler.core.errors import ReconcileError, RetryableError
from reconciler.core.fleet_settings import FLEETS_ROOT
from reconciler.core.passes import Outcome
from reconciler.core.reasons import ReasonCode
from reconciler.inputs import layouts
from reconciler.loop import checkout as checkouts
from reconciler.loop import (
    commits,
    fleet_passes,
    head_move,
    pass_state,
    prediction,
    queue,
    symlinks,
)
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig, load_configs
from reconciler.loop.paths import LoopPaths
from reconciler.loop.remote import PushConflict, push_head, sync_with_remote
from reconciler.loop.worktree import CleanCheck, TakenNames
from reconciler.telemetry.ledger import Ledger


class OnceOptions(NamedTuple):
    """The flags of `reconcile --once`."""

    repo: str = "."
    push: bool = False
    remote: str | None = None
    branch: str | None = None
    dry_run: bool = False
    max_intents: int | None = None
    lock_timeout: str | None = None
    stop: Callable[[], bool] | None = None
    """Asked between intents: True ends the pass after the current intent's commit (the
    daemon's graceful shutdown); what is committed so far is moved and pushed as usual."""
    audit: pass_state.Auditor | None = None
    """The history's audit (drift holds expand and resume); None: not audited."""
    fleets: Sequence[str] = ()
    """The fleets to reconcile (`--fleet`); empty: every fleet of the repository."""


class PassReport(NamedTuple):
    """What one `--once` did."""

    outcomes: list[Outcome]
    commits: list[str]
    """The commit of each outcome (empty strings in a dry run)."""
    head: str
    pushed: bool
    attempts: int
    dry_run: bool
    recovered: bool
    pending_left: int
    """Pending intents not taken because of --max-intents."""
    ignored: Sequence[queueing.Ignored] = ()
    """Entries of the intents folder that are not intents (reported, never read)."""
    refusals: Sequence[tuple[str, ReconcileError]] = ()
    """(fleet id, refusal) of each fleet whose pass was refused (several fleets only: one
    fleet's invalid registry never stops the others' intents, a rollback above all)."""

    @property
    def rejected(self) -> bool:
        """Whether any intent was rejected (exit 3)."""
        return any(outcome.status == "rejected" for outcome in self.outcomes)


def run_once(options: OnceOptions, *, now: Callable[[], datetime]) -> PassReport:
    """Run one pass (see the module docstring) over every fleet, upstream first.

    Raises:
        RefusalError: nothing was consumed (invalid registry, dirty worktree, not a repo...);
            with several fleets only what stops them all (each fleet's own refusal is in
            `PassReport.refusals`).
        RetryableError: the lock stayed busy, the remote was unreachable, or every push
            attempt was rejected.
    """
    configs = _load(options)
    # The lock and the recovery of a crashed pass cover every fleet, whichever this pass takes:
    # a pass over staging and one over prod-eu share one HEAD, index and crash marker.
    every = every_fleet(options.repo) if options.fleets else configs
    config = configs[0]  # the repository's settings: remote, branch, lock timeout, pushes
    checkout = checkouts.open_checkout(config.layout.repo)
    # Refuses files outside the worktree (and symlinked folders) before any lock; with
    # several fleets, each fleet's own refusal (the others go on).
    prepared = usable_fleets(configs, checkout)
    with locking.hold_locks(
        repository_lock_folders(every), config.lock_timeout.total_seconds(), stop=options.stop
    ):
        # HEAD again, under the lock: the holder we waited for may have moved it (a pass
        # killed mid-move included, whose recovery must compare the real HEAD).
        checkout = checkouts.reread_head(checkout)
        refused = _recover_journals(configs)
        if refused:
            prepared = usable_fleets(configs, checkout, refused)
        recovered = head_move.recover(checkout, [each.relative_intents(checkout) for each in every])
        remove_stale_marks(checkout.git_dir)
        checkout = checkouts.reread_head(checkout) if recovered else checkout
        if not options.push or options.dry_run:
            # A dry run evaluates the checkout as it is: it never fetches, resets or pushes.
            return _pass_fleets(
                configs, checkout, options, now, recovered, attempt=1, prepared=prepared
            )
        return _pass_and_push(configs, checkout, options, now, recovered, refused)


def _load(options: OnceOptions) -> list[LoopConfig]:
    """The pass's fleets with the flags' settings (`load_configs`).

    Raises:
        RefusalError: as `load_configs`.
    """
    return load_configs(
        options.repo,
        remote=options.remote,
        branch=options.branch,
        lock_timeout=options.lock_timeout,
        fleets=options.fleets,
        keep_refused=True,  # a fleet whose folder leads outside: its refusal, not the pass's
    )


def _recover_journals(configs: Sequence[LoopConfig]) -> list[tuple[str, ReconcileError]]:
    """Finish what each fleet's interrupted `apply` left (`journal.recover`).

    With several fleets, a journal that cannot be finished is its fleet's refusal only.

    Raises:
        RefusalError: the pass's one fleet's journal cannot be finished.
    """
    refused: list[tuple[str, ReconcileError]] = []
    for each in configs:
        if each.layout.refused is not None and len(configs) > 1:
            continue  # never recovered through a symlink: `usable_fleets` refuses it
        try:
            journal.recover(
                os.path.dirname(each.fleet.registry),
                allowed=[each.fleet.registry, each.fleet.state, each.fleet.telemetry],
            )
        except RetryableError:
            raise
        except ReconcileError as exc:
            if len(configs) == 1:
                raise
            refused.append((each.fleet.id, exc))
    return refused


Prepared = tuple[list[LoopConfig], list[LoopPaths], list[tuple[str, ReconcileError]]]
"""The fleets a pass can read, their files relative to the checkout, and the refused ones."""


def usable_fleets(
    configs: Sequence[LoopConfig],
    checkout: Checkout,
    refused: Sequence[tuple[str, ReconcileError]] = (),
) -> Prepared:
    """Each fleet's files relative to the checkout, checked (`LoopConfig.relative_paths`).

    With several fleets a fleet refused (a symlinked folder) is returned as a refusal and
    left out: it never stops the others (a rollback above all). The fleets already
    `refused` (their journal) are left out with their refusal.

    Raises:
        RefusalError: the pass's one fleet is refused.
    """
    usable: list[LoopConfig] = []
    rels: list[LoopPaths] = []
    refusals = list(refused)
    skipped = {fleet for fleet, _ in refused}
    for each in configs:
        if each.fleet.id in skipped:
            continue
        try:
            rels.append(each.relative_paths(checkout))
        except RetryableError:
            raise
        except ReconcileError as exc:
            if len(configs) == 1:
                raise
            refusals.append((each.fleet.id, exc))
            continue
        usable.append(each)
    return usable, rels, refusals


def every_fleet(repo: str | None) -> list[LoopConfig]:
    """Every fleet of the repository (`--fleet` aside): what the lock and recovery cover.

    Raises:
        RefusalError: as `load_configs`.
    """
    return load_configs(repo, keep_refused=True)


def repository_lock_folders(configs: Sequence[LoopConfig]) -> list[str]:
    """The folders whose flocks make up the repository lock: every fleet's (one lock)."""
    return list(dict.fromkeys(folder for config in configs for folder in config.lock_folders()))


def _pass_fleets(
    configs: Sequence[LoopConfig],
    checkout: Checkout,
    options: OnceOptions,
    now: Callable[[], datetime],
    recovered: bool,
    *,
    attempt: int,
    prepared: Prepared,
) -> PassReport:
    """The pass: one fleet's (`_pass`), or several fleets' together (`fleet_passes`).

    A single fleet's refusal is raised; with several, each is kept in the report and the
    other fleets go on (a refusal consumed nothing of its fleet). `prepared`: the fleets'
    files as `usable_fleets` checked them for this checkout (several fleets: checked once
    per pass, a hundred fleets a check each, not five).
    """
    if len(configs) == 1:
        return _pass(configs[0], checkout, options, now, recovered, attempt=attempt)
    usable, rels, refusals = prepared
    settings = fleet_passes.Settings(
        options.dry_run, options.max_intents, options.stop, options.audit
    )
    done = fleet_passes.pass_fleets(usable, rels, checkout, settings, now)
    return PassReport(
        done.outcomes, done.commits, done.head, False, attempt, options.dry_run, recovered,
        done.left, done.ignored, [*refusals, *done.refusals],
    )  # fmt: skip


def _pass_and_push(
    configs: Sequence[LoopConfig],
    checkout: Checkout,
    options: OnceOptions,
    now: Callable[[], datetime],
    recovered: bool,
    refused: Sequence[tuple[str, ReconcileError]],
) -> PassReport:
    import tenacity

    config = configs[0]
    remote, branch = config.remote, config.branch_for(checkout)
    retrying = tenacity.Retrying(
        stop=tenacity.stop_any(
            tenacity.stop_after_attempt(config.push_attempts),
            # The daemon is stopping: no further fetch, reset and pass after a lost race.
            _stop_when(options.stop or (lambda: False)),
        ),
        # Not wait_exponential_jitter: its `initial` is deprecated in tenacity 9 (a warning)
        # and its `multiplier` missing in 8.2; its default jitter of 1 s was too long, too.
        wait=tenacity.wait_exponential(multiplier=0.05, max=2.0) + tenacity.wait_random(0, 0.1),
        retry=tenacity.retry_if_exception_type(PushConflict),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number
                before = checkout.head
                checkout = sync_with_remote(checkout, configs, remote, branch)
                configs = _reload_if_changed(configs, options, checkout, before)
                prepared = usable_fleets(configs, checkout, refused)  # the synced checkout
                report = _pass_fleets(
                    configs, checkout, options, now, recovered, attempt=number, prepared=prepared
                )
                checkout = checkouts.reread_head(checkout)
                pushed = push_head(checkout, remote, branch)
                return report._replace(pushed=pushed)
    except PushConflict as exc:
        raise RetryableError(
            ReasonCode.PUSH_CONFLICT,
            f"the push to {remote}/{branch} was rejected {config.push_attempts} times (the "
            f"remote kept moving: {exc}); nothing is lost, run again",
        ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _stop_when(check: Callable[[], bool]) -> Any:
    """A tenacity stop condition that asks `check` (imported late: tenacity costs ~40 ms)."""
    import tenacity.stop

    class StopWhen(tenacity.stop.stop_base):
        def __call__(self, _retry_state: object) -> bool:
            return check()

    return StopWhen()


def _reload_if_changed(
    configs: Sequence[LoopConfig], options: OnceOptions, checkout: Checkout, before: str
) -> Sequence[LoopConfig]:
    """Re-read reconciler.yaml when the sync brought a new version of it.

    Raises:
        RetryableError: the new settings move the files the lock covers (run again).
    """
    if checkout.head == before:
        return configs
    repo = configs[0].layout.repo
    settings_file = checkout.relative(os.path.join(repo, layouts.SETTINGS_FILE))
    fleets_folder = checkout.relative(os.path.join(repo, *FLEETS_ROOT.split("/")))
    same = checkout.git.run(
        "diff", "--quiet", before, checkout.head, "--", settings_file, check=False
    )
    if same.returncode == 0 and not configs[0].layout.is_multi_fleet:
        return configs
    if same.returncode == 0:
        # A fleet folder added or removed upstream changes the fleets, as the settings do.
        listed = checkout.git.run(
            "diff", "--name-only", "--diff-filter=AD", before, checkout.head, "--",
            f"{fleets_folder}/*/registry.yaml", f"{fleets_folder}/*/registry.json", check=False,
        )  # fmt: skip
        if listed.returncode == 0 and not listed.stdout.strip():
            return configs
    fresh = _load(options)
    if repository_lock_folders(fresh) != repository_lock_folders(configs):
        raise RetryableError(
            ReasonCode.BRANCH_MOVED,
            f"{layouts.SETTINGS_FILE} or the fleet folders changed upstream and move the files "
            "the lock covers; nothing was changed, run again",
        )
    return fresh


def _pass(
    config: LoopConfig,
    checkout: Checkout,
    options: OnceOptions,
    now: Callable[[], datetime],
    recovered: bool,
    *,
    attempt: int,
) -> PassReport:
    """The pass of a repository with one fleet."""
    rel = config.relative_paths(checkout)
    pending, ignored = queue.scan_queue(checkout, config.fleet.intents)
    # `git status` and the names applied/ and rejected/ hold (`worktree.py`) run beside the
    # reading and the first evaluation, and are waited for before the first commit. A dirty
    # worktree is still the first refusal the pass reports.
    clean = CleanCheck(checkout, [rel]) if pending else None
    taken = None
    if pending and not options.dry_run:
        taken = TakenNames(checkout, [(rel, [item.path.rsplit("/", 1)[-1] for item in pending])])
    try:
        state = pass_state.checkout_state(checkout, config, now(), rel)
    except ReconcileError:
        if clean is not None:
            clean.join()  # its verdict is not needed: this refusal comes first
        raise
    empty = PassReport(
        [], [], checkout.head, False, attempt, options.dry_run, recovered, 0, ignored
    )
    if clean is None:
        pass_state.require_usable_registry(state, [], now())
        return empty
    left = 0
    if options.max_intents is not None and len(pending) > options.max_intents:
        left = len(pending) - options.max_intents
        pending = pending[: options.max_intents]
    try:
        listing = symlinks.head_listing(checkout, rel)  # refuses a symlink committed at HEAD
        history = Ledger(config.fleet.telemetry, config.fleet.state, config.rotate_bytes)
        history.prefetch_sealed()  # beside the reading of the intents and `git log`
        tracked = symlinks.intents_in(listing, rel)
        sources = pass_state.read_sources(checkout, pending, tracked)
        state, sources = pass_state.with_trust(checkout, config, rel, state, sources)
        state = pass_state.with_drift(state, options.audit, checkout, history, sources)
        pass_state.require_usable_registry(state, sources, now())
    except ReconcileError:
        clean.wait()
        raise
    if taken is None:  # a dry run
        clean.wait()
        outcomes = prediction.predict(state, sources, history, now)
        return empty._replace(outcomes=outcomes, commits=[""] * len(outcomes), pending_left=left)
    group = commits.Group(config, rel, sources, state, history, tracked)
    done = commits.commit_groups(
        [group], checkout, now, options.stop, listing=listing, ready=clean.wait, taken=taken
    )
    return empty._replace(
        outcomes=done.outcomes, commits=done.commits, head=done.head, pending_left=left + done.left
    )
