"""What a pass may find and take in the worktree: the clean check, and the names it may use.

Both run `git` processes that grow with the repository, so both start in a thread of their
own as soon as a pass knows it has work, and are waited for only when needed:

- `CleanCheck`: `git status` (the applied/ and rejected/ folders left out) must show no
  change the loop does not own, before the first commit;
- `TakenNames`: a moved intent file never takes a name in applied/ or rejected/ that a file
  on disk or in the index holds (the status does not look there).
"""

from __future__ import annotations

import os
import posixpath
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from reconciler import journal
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.loop import checkout as checkouts
from reconciler.loop import queue
from reconciler.loop.checkout import Checkout
from reconciler.loop.paths import LoopPaths

T = TypeVar("T")


class Background(Generic[T]):
    """`work()` in a daemon thread; `result()` waits for it and returns it (or raises)."""

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self._work = work
        self._value: T | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
            self._error = exc

    def result(self) -> T:
        """The work's value, once it is done.

        Raises:
            BaseException: what the work raised.
        """
        self.thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def processed_folders(rel: LoopPaths) -> list[str]:
    """The applied/ and rejected/ folders (repo-relative)."""
    return [posixpath.join(rel.intents, name) for name in (queue.APPLIED, queue.REJECTED)]


def fleet_pathspecs(rel: LoopPaths) -> list[str]:
    """`git status` pathspecs of what a fleet's commits write, and the settings file.

    Its registry, the folders of its state and telemetry files, and the files directly in
    its intents folder (a glob's `*` never crosses a `/`: applied/ and rejected/, a file per
    processed intent, are never walked).
    """
    literal = [
        rel.registry,
        posixpath.dirname(rel.state) or rel.state,
        posixpath.dirname(rel.telemetry) or rel.telemetry,
        rel.settings,
    ]
    intents = re.sub(r"([*?\\[\]])", r"\\\1", rel.intents)
    return [*(f":(top,literal){path}" for path in literal), f":(top,glob){intents}/*"]


class CleanCheck:
    """`git status` in a thread of its own; `wait` refuses a worktree with foreign changes.

    Started as soon as the pass knows it has work; the first `wait` joins it (later ones
    return at once, or raise the same refusal again). The applied/ and rejected/ folders
    are left out (they hold a file per processed intent, most of the status's time): the
    pass only adds files there, under names no file on disk or in the index holds
    (`TakenNames`), so a change there can neither enter its commits nor be overwritten.
    """

    def __init__(
        self, checkout: Checkout, fleets: Sequence[LoopPaths], only: Sequence[LoopPaths] = ()
    ) -> None:
        """Start `git status`.

        `fleets`: every fleet's files (with several, their pending intents and decisions are
        theirs, not foreign changes). `only`: the fleets whose files alone are looked at
        (several fleets: those the pass commits to, and the settings file); empty: the whole
        worktree.
        """
        self.fleets = list(fleets)
        skip = (
            [] if only else [folder for each in self.fleets for folder in processed_folders(each)]
        )
        specs = sorted({spec for each in only for spec in fleet_pathspecs(each)})
        self.status = Background(
            lambda: checkouts.changed_paths(checkout, skip=skip, only=specs), "reconciler-status"
        )

    def wait(self) -> None:
        """Return when the worktree is clean enough for the pass.

        Raises:
            RefusalError: `worktree_dirty`, naming the first few paths (or git's failure).
        """
        check_clean(self.status.result(), *self.fleets)

    def join(self) -> None:
        """Wait for the status without judging it (another refusal comes first)."""
        self.status.thread.join()


def check_clean(changed: Sequence[tuple[str, str]], *fleets: LoopPaths) -> None:
    """Refuse a worktree with changes the loop does not own (pending intents excepted).

    `fleets`: the files of every fleet of the repository (their intents and decisions).

    Raises:
        RefusalError: `worktree_dirty`, naming the first few paths.
    """
    decisions = {rel.decision for rel in fleets}
    intents = {rel.intents for rel in fleets}
    dirty = [
        path
        for status, path in changed
        if not (
            path in decisions
            or (status == "??" and path.rsplit("/", 1)[0] in intents)
            or os.path.basename(path) == journal.JOURNAL_NAME
        )
    ]
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise RefusalError(
            ReasonCode.WORKTREE_DIRTY,
            f"the worktree has changes the reconciler does not own: {shown}; commit or restore "
            "them first (only new files in the intents folder may be uncommitted)",
        )


class TakenNames:
    """The names of applied/ and rejected/ a moved intent file may not take.

    Those on disk (one `lstat` per candidate, never a listing of folders that grow by a file
    per intent), those in the index (every pending file's first candidate in both folders is
    looked up by one `cat-file`, started in a thread when the pass starts; any other
    candidate when it comes up) and those this pass chose. The index holds HEAD's files but
    two kinds, left: a processed file whose deletion someone staged (`git rm`) in the loop's
    checkout, and a committed folder named like an intent file, can be replaced by a new
    file of that name; the commit then shows the change, history keeps the old content.
    """

    def __init__(
        self, checkout: Checkout, fleets: Iterable[tuple[LoopPaths, Iterable[str]]]
    ) -> None:
        """Start looking up the first candidates of the pending files.

        `fleets`: (files, names of its pending files) of each fleet the pass commits to.
        """
        self.checkout = checkout
        self.chosen: set[str] = set()
        self.asked = {
            queue.destination(folder, name, ())
            for each, names in fleets
            for name in names
            for folder in processed_folders(each)
        }
        asked = sorted(self.asked)
        self._first = Background(
            lambda: checkouts.tracked_paths(checkout, asked), "reconciler-names"
        )
        self._tracked: set[str] | None = None

    def __contains__(self, path: object) -> bool:
        """Whether `path` (repo-relative) is taken."""
        assert isinstance(path, str)
        if path in self.chosen or os.path.lexists(os.path.join(self.checkout.top, path)):
            return True
        if self._tracked is None:
            self._tracked = set(self._first.result())
        if path not in self.asked:
            self.asked.add(path)
            self._tracked |= checkouts.tracked_paths(self.checkout, [path])
        return path in self._tracked

    def add(self, path: str) -> None:
        """Take `path` for this pass."""
        self.chosen.add(path)
