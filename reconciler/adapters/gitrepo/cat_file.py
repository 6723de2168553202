"""`git cat-file --batch` as a long-lived reader (the Git adapter's object reader)."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence

from reconciler.adapters.gitrepo.processes import Git
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode


class CatFile:
    """One `git cat-file --batch` process: objects read one by one, by any name git resolves.

    A context manager; `read` answers None for a name that names no object.
    """

    def __init__(self, git: Git) -> None:
        self._process = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=git.worktree,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git.env,
            process_group=0,
        )

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def read(self, name: str) -> tuple[str, bytes] | None:
        """The object `name` names (`<sha>`, `HEAD:path`): its type and bytes; None if none.

        Raises:
            RefusalError: git stopped answering.
        """
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
        stdin.flush()
        return self._answer()

    def read_all(self, names: Sequence[str]) -> list[tuple[str, bytes] | None]:
        """`read` of each name, pipelined: thousands of objects without a round trip each.

        A thread writes the names while the answers are read (neither pipe can fill up).

        Raises:
            RefusalError: git stopped answering.
        """
        stdin = self._process.stdin
        assert stdin is not None
        request = b"".join(name.encode("utf-8", "surrogateescape") + b"\n" for name in names)

        def write() -> None:
            try:
                stdin.write(request)
                stdin.flush()
            except OSError:
                pass  # git went away: the reads below say so

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            return [self._answer() for _ in names]
        finally:
            writer.join()

    def _answer(self) -> tuple[str, bytes] | None:
        stdout = self._process.stdout
        assert stdout is not None
        header = stdout.readline().split()
        if len(header) == 2 and header[1] in (b"missing", b"ambiguous"):
            return None
        if len(header) != 3:
            raise RefusalError(ReasonCode.GIT_FAILED, "git cat-file --batch stopped answering")
        data = stdout.read(int(header[2]) + 1)[:-1]
        return header[1].decode("ascii"), data

    def close(self) -> None:
        """Stop the process."""
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()
        self._process.wait()
