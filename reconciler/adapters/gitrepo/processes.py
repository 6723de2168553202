"""Plain `git` processes with a scrubbed environment (the Git adapter's runner).

GitPython is not used: importing it costs ~100 ms of start-up and every call still forks a
`git`. Each process here costs ~5 ms on the 2-core machine, so a pass runs a fixed handful of
them and streams all its commits through one `git fast-import` (~1 ms per commit).
A failing command becomes `GitError` showing the command, its exit code and its stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, NamedTuple

from reconciler.core.errors import RefusalError, RetryableError
from reconciler.core.reasons import ReasonCode

# Variables that would point git at another repository, index or object store than --repo.
_SCRUBBED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
    "GIT_QUARANTINE_PATH",
)
ZERO_SHA = "0" * 40
MARKS_PREFIX = "reconciler-marks-"
SCRATCH_REF = "refs/reconciler/fast-import"
"""The private ref fast-import writes; the branch itself only moves by compare-and-swap."""


class GitError(RefusalError):
    """A git command failed; the message names it, its exit code and its stderr."""

    def __init__(self, args: Sequence[str], code: int, stderr: str) -> None:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        tail = "; ".join(lines[-3:]) or "no output"
        super().__init__(
            ReasonCode.GIT_FAILED, f"git {' '.join(args[:3])} failed (exit {code}): {tail}"
        )
        self.code = code
        self.stderr = stderr


class FileChange(NamedTuple):
    """One path of a commit: new bytes (or an existing blob id), or None to delete it."""

    path: str
    data: bytes | None
    mode: str = "100644"
    """100644 (file), 100755 (executable) or 120000 (symlink: `data` is its target)."""
    blob: str | None = None
    """An existing blob id to use instead of `data`."""


class Identity(NamedTuple):
    """A commit author/committer."""

    name: str
    email: str


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    env.update(
        GIT_TERMINAL_PROMPT="0",  # never wait for a password on a terminal
        GIT_ASKPASS="true",
        SSH_ASKPASS="true",
        LC_ALL="C",
        LANGUAGE="C",
        GIT_OPTIONAL_LOCKS="0",  # `git status` must not take the index lock to refresh it
        GIT_LITERAL_PATHSPECS="1",  # a file name is a name, never a glob or magic pathspec
        GIT_CONFIG_NOSYSTEM=env.get("GIT_CONFIG_NOSYSTEM", "0"),
    )
    return env


class Git:
    """Runs `git` in one worktree."""

    def __init__(self, worktree: str, *, timeout: float = 120.0) -> None:
        self.worktree = worktree
        self.timeout = timeout
        self.env = _environment()

    def with_env(self, extra: Mapping[str, str]) -> Git:
        """Return a Git for the same worktree whose processes also get `extra` in their env.

        For example a temporary object folder (GIT_OBJECT_DIRECTORY plus the repository's
        objects as GIT_ALTERNATE_OBJECT_DIRECTORIES), so objects are written outside it.
        """
        clone = Git(self.worktree, timeout=self.timeout)
        clone.env = {**self.env, **extra}
        return clone

    def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        check: bool = True,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `git <args>` and return the finished process (stdout/stderr as bytes).

        Raises:
            GitError: the command exited non-zero and `check` is set.
            RefusalError: git is not installed or timed out.
        """
        env = self.env if extra_env is None else {**self.env, **extra_env}
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=self.worktree,
                input=stdin,
                capture_output=True,
                env=env,
                timeout=self.timeout,
                check=False,
                # Its own process group: a Ctrl-C or a SIGINT to the daemon's group must not
                # kill a push half-way; the daemon decides when to stop.
                process_group=0,
            )
        except FileNotFoundError as exc:
            raise RefusalError(ReasonCode.GIT_FAILED, "git is not installed (not on PATH)") from exc
        except subprocess.TimeoutExpired as exc:
            raise RetryableError(
                ReasonCode.GIT_FAILED, f"git {' '.join(args[:3])} timed out after {self.timeout}s"
            ) from exc
        if check and done.returncode != 0:
            raise GitError(args, done.returncode, done.stderr.decode("utf-8", "replace"))
        return done

    def text(self, *args: str) -> str:
        """Run `git <args>` and return its stdout as text, trailing newline removed."""
        return self.run(*args).stdout.decode("utf-8", "surrogateescape").rstrip("\n")

    @contextmanager
    def stream(self, *args: str) -> Iterator[IO[bytes]]:
        """Yield the stdout of `git <args>` as it is produced; stop git when the block ends.

        A reader may leave the block as soon as it has what it needs (a `git log` over a long
        history is stopped at once, not read to its end).

        Raises:
            GitError: git failed on its own (not because the reader stopped it).
        """
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                ["git", *args],
                cwd=self.worktree,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=self.env,
                process_group=0,
            )
            assert process.stdout is not None
            try:
                yield process.stdout
            finally:
                process.stdout.close()  # a git still writing gets SIGPIPE
                stopped = process.poll() is None
                if stopped:
                    process.kill()
                code = process.wait()
            if code != 0 and not stopped and code != -signal.SIGPIPE:
                errors.seek(0)
                raise GitError(args, code, errors.read().decode("utf-8", "replace"))


def quote_path(path: str) -> bytes:
    """Quote a path C-style, as git prints it, when it needs it (fast-import, --stdin-paths)."""
    raw = path.encode("utf-8", "surrogateescape")
    if not any(byte < 0x20 or byte in (0x22, 0x5C) or byte >= 0x7F for byte in raw) and not (
        raw.startswith(b'"')
    ):
        return raw
    out = bytearray(b'"')
    for byte in raw:
        if byte in (0x22, 0x5C):
            out += b"\\" + bytes([byte])
        elif byte == 0x0A:
            out += b"\\n"
        elif byte < 0x20 or byte >= 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)
