"""Run `reconcile --once` in this process and SIGKILL it at one step of a pass.

Usage: python tests/support/crashing_once.py <crash-point> <reconcile --once args...>

A crash point is one of:

- `before:<git subcommand>:<n>` / `after:<git subcommand>:<n>`: around the n-th call (1-based,
  over the whole process) of `git <subcommand>` made through `Git.run` (e.g. `update-ref`,
  `checkout`, `reset`, `push`; `update-index` and `checkout-index` make the HEAD move take its
  route for many files, whatever their number);
- `fast-import:<n>`: right after the n-th commit was streamed into `git fast-import` (its
  objects may not even be written);
- `before:<function>` / `after:<function>`: around the first call of one step of
  `reconciler.loop.head_move` (`_finish_move`, `_drop_consumed`, `_write_restored`,
  `_sync_files`).

If the pass ends without reaching the crash point the process exits NOT_REACHED, so a test
whose crash point moved fails loudly instead of passing without a crash. No seam is added to
production code: the real functions are wrapped in this process only.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from reconciler import cli
from reconciler.adapters import gitrepo
from reconciler.loop import head_move as checkout

NOT_REACHED = 98
FUNCTIONS = ("_finish_move", "_drop_consumed", "_write_restored", "_sync_files")


def die() -> None:
    """SIGKILL ourselves: no finally blocks, no atexit, no flushing (a real kill -9)."""
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    parts = point.split(":")
    if parts[0] == "fast-import" and len(parts) == 2:
        _arm_fast_import(int(parts[1]))
    elif parts[0] in ("before", "after") and len(parts) == 3:
        _arm_git(parts[0], parts[1], int(parts[2]))
    elif parts[0] in ("before", "after") and len(parts) == 2 and parts[1] in FUNCTIONS:
        _arm_function(parts[0], parts[1])
    else:
        raise SystemExit(f"crashing_once: bad crash point {point!r}")


def _arm_git(moment: str, command: str, nth: int) -> None:
    if command in ("update-index", "checkout-index"):
        checkout.FEW_PATHS = 0  # the HEAD move's route for many files: these two, not `checkout`
    real = gitrepo.Git.run
    seen = [0]

    def run(self: gitrepo.Git, *args: str, **kwargs: Any) -> Any:
        words = list(args)
        while len(words) >= 2 and words[0] == "-c":  # `git -c key=value <command>`
            words = words[2:]
        hit = bool(words) and words[0] == command
        if hit:
            seen[0] += 1
        if hit and seen[0] == nth and moment == "before":
            die()
        done = real(self, *args, **kwargs)
        if hit and seen[0] == nth:
            die()
        return done

    gitrepo.Git.run = run  # type: ignore[method-assign]


def _arm_fast_import(nth: int) -> None:
    real = gitrepo.FastImport.commit
    seen = [0]

    def commit(self: gitrepo.FastImport, **kwargs: Any) -> str:
        sha = real(self, **kwargs)
        seen[0] += 1
        if seen[0] == nth:
            die()
        return sha

    gitrepo.FastImport.commit = commit  # type: ignore[method-assign]


def _arm_function(moment: str, name: str) -> None:
    real = getattr(checkout, name)

    def step(*args: Any, **kwargs: Any) -> Any:
        if moment == "before":
            die()
        result = real(*args, **kwargs)
        die()
        return result

    setattr(checkout, name, step)


def main() -> None:
    arm(sys.argv[1])
    try:
        cli.main(["--once", *sys.argv[2:]])
    except SystemExit as exc:
        sys.stderr.write(f"crashing_once: the pass ended ({exc.code}) before {sys.argv[1]}\n")
    sys.stderr.flush()
    os._exit(NOT_REACHED)


if __name__ == "__main__":
    main()
