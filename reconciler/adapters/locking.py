"""Repository lock adapter: one exclusive `flock` on the registry's folder.

`apply` (and later `--once` and the daemon) hold it for a whole read-modify-write, so
concurrent runs serialise. The folder itself is locked, not a lock file beside it: its inode
never changes (the registry's does, on every atomic replace) and nothing is created, so a
refused run leaves the checkout untouched. Plain `fcntl.flock`: the kernel drops it when the
process dies, so a kill -9 never leaves a stale lock (and `filelock` costs ~45 ms of start-up
imports).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager

from reconciler.core.errors import RefusalError, RetryableError
from reconciler.core.reasons import ReasonCode


@contextmanager
def hold_lock(
    folder: str,
    timeout_seconds: float,
    *,
    configured_seconds: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """Hold the exclusive lock of `folder`, waiting up to `timeout_seconds`; yield its path.

    Raises:
        RetryableError: another process held the lock for the whole timeout.
        RefusalError: the folder cannot be opened (missing, permissions).
    """
    path = folder
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise RefusalError(
            ReasonCode.FILE_ERROR, f"cannot open {path} to lock it: {exc.strerror}", path=path
        ) from exc
    try:
        reported = timeout_seconds if configured_seconds is None else configured_seconds
        _acquire(fd, path, timeout_seconds, reported, stop)
        try:
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def hold_locks(
    folders: Iterable[str], timeout_seconds: float, *, stop: Callable[[], bool] | None = None
) -> Iterator[list[str]]:
    """Hold the locks of several folders, taken in one global order so runs never deadlock.

    Used when the state or telemetry file lives outside the registry's folder: two
    repositories sharing one telemetry file must serialise their appends too.

    Raises:
        RetryableError: a lock stayed busy for the whole timeout.
        RefusalError: a folder cannot be opened.
    """
    # One lock per folder, however it is spelled (an flock taken twice by one process on two
    # descriptors would wait for itself), in inode order: one global order, no deadlock.
    by_inode: dict[tuple[int, int], str] = {}
    for folder in folders:
        try:
            info = os.stat(folder)
        except OSError as exc:
            raise RefusalError(
                ReasonCode.FILE_ERROR, f"cannot lock {folder}: {exc.strerror}", path=folder
            ) from exc
        by_inode.setdefault((info.st_dev, info.st_ino), folder)
    ordered = [by_inode[key] for key in sorted(by_inode)]
    deadline = time.monotonic() + timeout_seconds
    with ExitStack() as stack:
        for folder in ordered:
            remaining = max(deadline - time.monotonic(), 0.0)
            stack.enter_context(
                hold_lock(folder, remaining, configured_seconds=timeout_seconds, stop=stop)
            )
        yield ordered


def _acquire(
    fd: int,
    path: str,
    timeout_seconds: float,
    reported_seconds: float,
    stop: Callable[[], bool] | None = None,
) -> None:
    deadline = time.monotonic() + timeout_seconds
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if stop is not None and stop():
                raise RetryableError(
                    ReasonCode.LOCK_TIMEOUT,
                    f"stopped while waiting for the lock on {path}; nothing was changed",
                    path=path,
                ) from None
            if time.monotonic() >= deadline:
                raise RetryableError(
                    ReasonCode.LOCK_TIMEOUT,
                    f"another reconciler held the lock on {path} for {reported_seconds:g}s; "
                    "retry, or raise --lock-timeout if runs are long",
                    path=path,
                ) from None
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, 0.05)
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: some network file systems
            raise RefusalError(
                ReasonCode.FILE_ERROR,
                f"cannot lock {path}: {exc.strerror} (keep the policy files on a local file "
                "system that supports flock)",
                path=path,
            ) from exc
