"""Run `reconcile apply` in this process and SIGKILL it at one step of a mutation.

Usage: python tests/support/crashing_apply.py <crash-point> <reconcile args...>

A crash point is `<moment>:<operation>:<n>[:<file name>]`: `before` or `after` the n-th call
(1-based, counted over the whole process) of `atomic_write`, `append`, `append_at` or
`remove` of `reconciler.adapters.files`, or `mid` that call: for `atomic_write` the temp file
is written and fsynced but not yet renamed (`os.replace`, patched only as `files.os` sees
it), for `append`/`append_at` the first half of the line is written. With a file name, the
n-th call must concern that file, else the process exits 97 instead of dying, so a reordered
mutation fails loudly instead of crashing somewhere else. No seam is added to production code.
"""

from __future__ import annotations

import os
import signal
import sys
import types
from collections.abc import Callable
from typing import Any

from reconciler import cli
from reconciler.adapters import files

OPERATIONS = ("atomic_write", "append", "append_at", "remove")
MOMENTS = ("before", "mid", "after")
WRONG_FILE = 97


class CrashPoint:
    """Where to die: a moment of the n-th call of one files operation."""

    def __init__(self, text: str) -> None:
        parts = text.split(":", 3)
        if len(parts) < 3 or parts[0] not in MOMENTS or parts[1] not in OPERATIONS:
            raise SystemExit(f"crashing_apply: bad crash point {text!r}")
        if parts[0] == "mid" and parts[1] == "remove":
            raise SystemExit("crashing_apply: remove has no middle")
        self.text = text
        self.moment, self.operation, self.nth = parts[0], parts[1], int(parts[2])
        self.file_name = parts[3] if len(parts) == 4 else None
        self.calls = 0
        self.armed = False
        """True while the chosen call runs (the `mid` moment of atomic_write fires inside)."""

    def check_file(self, path: str) -> None:
        if self.file_name is not None and os.path.basename(path) != self.file_name:
            sys.stderr.write(
                f"crashing_apply: {self.text} reached on {path}, not on {self.file_name}\n"
            )
            sys.stderr.flush()
            os._exit(WRONG_FILE)


def die() -> None:
    """SIGKILL ourselves: no finally blocks, no atexit, no flushing (a real kill -9)."""
    os.kill(os.getpid(), signal.SIGKILL)


def wrap(point: CrashPoint, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(path: str, *args: Any, **kwargs: Any) -> Any:
        if name != point.operation:
            return real(path, *args, **kwargs)
        point.calls += 1
        if point.calls != point.nth:
            return real(path, *args, **kwargs)
        point.check_file(path)
        if point.moment == "before":
            die()
        if point.moment == "mid" and name == "append_at":
            torn_append(path, *args, **kwargs)
        if point.moment == "mid" and name == "append":
            data = args[0]
            torn_append(path, files.file_size(path), data)
        point.armed = True
        result = real(path, *args, **kwargs)
        point.armed = False
        if point.moment == "after":
            die()
        return result

    return wrapper


def torn_append(path: str, offset: int, data: bytes) -> None:
    """Write the first half of `data` at `offset`, as a write cut short by the kill would."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, offset)
        os.pwrite(fd, data[: len(data) // 2], offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    die()


def patch_files_os(point: CrashPoint) -> None:
    """Give `files` its own `os` whose `replace` dies mid atomic_write; the real os is intact."""
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if point.armed and point.moment == "mid":
            die()
        real_replace(src, dst)

    proxy = types.ModuleType("os")
    proxy.__dict__.update(os.__dict__)
    proxy.__dict__["replace"] = replace
    files.__dict__["os"] = proxy


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: crashing_apply.py <crash-point> <reconcile apply args...>")
    point = CrashPoint(argv[0])
    for name in OPERATIONS:
        files.__dict__[name] = wrap(point, name, getattr(files, name))
    patch_files_os(point)
    cli.main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
