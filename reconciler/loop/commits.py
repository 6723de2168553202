"""A pass's commits (loop layer): evaluate each fleet's intents, one commit each, one move.

`commit_groups` streams the commits of one or several fleets (`Group`: a fleet's files,
state, sources and telemetry) through one `git fast-import`, in order, each on top of the one
before, then moves HEAD once: one index write and one file update for the whole pass, however
many fleets it touched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from reconciler.adapters.gitrepo import FastImport, FileChange, merge_packs_when_due
from reconciler.core import commit_messages, jsontext
from reconciler.core.intents import INTENT_LIMIT
from reconciler.core.passes import IntentSource, Outcome, PassState, evaluate_pass
from reconciler.loop import checkout as checkouts
from reconciler.loop import head_move, queue
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig, load_signer
from reconciler.loop.head_move import Consumed
from reconciler.loop.paths import LoopPaths
from reconciler.loop.worktree import TakenNames
from reconciler.telemetry.ledger import Ledger


class Group(NamedTuple):
    """One fleet's part of a pass: what its intents are evaluated against and written to."""

    config: LoopConfig
    rel: LoopPaths
    sources: Sequence[IntentSource]
    state: PassState
    history: Ledger
    tracked: dict[str, tuple[str, str]]
    """`symlinks.intents_in(listing, rel)`: the fleet's pending intents committed at HEAD."""


class Committed(NamedTuple):
    """What `commit_groups` did."""

    outcomes: list[Outcome]
    commits: list[str]
    """The commit of each outcome (empty for a deferred one)."""
    head: str
    left: int
    """Sources not evaluated (stopped)."""


def commit_groups(
    groups: Sequence[Group],
    checkout: Checkout,
    now: Callable[[], datetime],
    stop: Callable[[], bool] | None = None,
    *,
    listing: Mapping[str, tuple[str, str]],
    ready: Callable[[], None],
    taken: TakenNames,
) -> Committed:
    """Evaluate and commit the groups' intents in order, then move HEAD once.

    `listing` (`symlinks.head_listing`, one for a wave's fleets): what HEAD holds beside
    every file the commits write. `ready()` must pass before the first commit (`git
    status`); `taken` holds the names a moved intent file may not take. The first group's
    config gives the repository's identity and signing key.
    """
    config = groups[0].config
    written: dict[str, FileChange] = {}
    # The key first: with signing configured and no usable key, nothing is committed.
    stream = FastImport(checkout.git, checkout.git_dir, signer=load_signer(config, checkout))
    outcomes: list[Outcome] = []
    consumed: list[Consumed] = []  # one per commit streamed
    parent = checkout.head  # then the mark of the last commit streamed
    commits_of: list[str | None] = []
    left = 0
    try:
        for group in groups:
            if stop is not None and stop() and consumed:
                left += len(group.sources)  # stopping: the next pass takes the rest
                continue
            rel, history, state, tracked = group.rel, group.history, group.state, group.tracked
            taken_sources: set[str] = set()
            for outcome, when in evaluate_pass(
                state, group.sources, now, history.find_replayed, history.applied_since, stop,
                previous_canary=history.previous_canary,
            ):  # fmt: skip
                outcomes.append(outcome)
                taken_sources.add(outcome.source.path)
                if outcome.status == "deferred":
                    commits_of.append(None)  # no commit, no record: the file stays pending
                    continue
                ready()
                changes = _changes(rel, checkout, outcome, state, history, taken, tracked)
                written.update((change.path, change) for change in changes)
                parent = stream.commit(
                    parent=parent,
                    identity=config.identity,
                    when=int(when.timestamp()),
                    message=commit_messages.commit_message(outcome),
                    changes=changes,
                )
                source = outcome.source
                consumed.append(Consumed(source.path, _consumed_identity(checkout, source)))
                commits_of.append(parent)
                # Every record of the pass names the same baseCommit: the commit the pass
                # started from (its own parent is one `git log` away).
                state = outcome.state
            left += len(group.sources) - len(taken_sources)
        ready()  # a dirty worktree refuses the pass even when nothing was to be committed
        if not consumed:
            stream.abort()  # nothing to commit: stopped before the first intent, or all wait
            return Committed(outcomes, [""] * len(outcomes), checkout.head, left)
        shas = stream.close()
    except BaseException:
        stream.abort()
        raise
    commits = [shas[mark] if mark is not None else "" for mark in commits_of]
    moved = head_move.move_head(
        checkout, shas[parent], consumed, reason=f"{len(consumed)} intent(s)",
        intents=[group.rel.intents for group in groups],
        changes=head_move.changes_from_writes(written.values(), listing),
    )  # fmt: skip
    merge_packs_when_due(checkout.git, checkout.git_dir)
    return Committed(outcomes, commits, moved.head, left)


def _consumed_identity(checkout: Checkout, source: IntentSource) -> str:
    """What the consumed file must still be for the pass to delete it.

    The blob of exactly the bytes committed when they were read whole; otherwise (a symlink,
    a FIFO, a huge or unreadable file) the file's identity now, taken right after reading.
    """
    if source.data is not None and len(source.data) <= INTENT_LIMIT:
        return source.blob
    path = os.path.join(checkout.top, source.path)
    return checkouts.file_identity(path) or source.blob


def _changes(
    rel: LoopPaths,
    checkout: Checkout,
    outcome: Outcome,
    before: PassState,
    history: Ledger,
    taken: TakenNames,
    tracked: dict[str, tuple[str, str]],
) -> list[FileChange]:
    changes: list[FileChange] = []
    if outcome.status == "applied" and outcome.state.registry is not before.registry:
        changes.append(FileChange(rel.registry, outcome.state.registry.text.encode("utf-8")))
    if outcome.status != "replayed":
        for path, data in history.append(outcome.record):
            changes.append(FileChange(checkout.relative(path), data))
    if outcome.status != "rejected":
        line = (jsontext.dumps_compact(outcome.record) + "\n").encode("utf-8")
        changes.append(FileChange(rel.state, line))
    folder = f"{rel.intents}/{queue.APPLIED if outcome.status != 'rejected' else queue.REJECTED}"
    target = queue.destination(folder, outcome.source.name, taken)
    taken.add(target)
    if outcome.source.path in tracked:
        changes.append(FileChange(outcome.source.path, None))
    changes.append(_moved_file(checkout, outcome.source, target, tracked))
    return changes


def _moved_file(
    checkout: Checkout, source: IntentSource, target: str, tracked: dict[str, tuple[str, str]]
) -> FileChange:
    """The intent file at its new place: its bytes, its committed blob, or a stand-in."""
    absolute = os.path.join(checkout.top, source.path)
    if source.data is not None and len(source.data) <= INTENT_LIMIT:
        return FileChange(target, source.data)
    if source.path in tracked and not os.path.islink(absolute):
        mode, blob = tracked[source.path]
        if mode != "120000":
            return FileChange(target, None, mode=mode, blob=blob)  # already in history
    # Never committed as is: a symlink (its target is recorded, not followed or kept as a
    # link), a FIFO or device, an unreadable file, or one too large for git history.
    why = source.problem.message if source.problem else "it could not be read"
    note = f"# {source.shown_path} was rejected and removed: {why}.\n"
    if os.path.islink(absolute):
        note += f"# It was a symlink to: {checkouts.readlink_text(absolute)}\n"
    else:
        with contextlib.suppress(OSError):
            note += f"# It held {os.lstat(absolute).st_size} bytes.\n"
    return FileChange(target, note.encode("utf-8"))
