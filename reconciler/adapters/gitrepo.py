"""Git adapter: plain `git` processes with a scrubbed environment, and one fast-import stream.

GitPython is not used: importing it costs ~100 ms of start-up and every call still forks a
`git`. Each process here costs ~5 ms on the 2-core machine, so a pass runs a fixed handful of
them and streams all its commits through one `git fast-import` (~1 ms per commit).
A failing command becomes `GitError` showing the command, its exit code and its stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, NamedTuple

from reconciler.core.errors import RefusalError, RetryableError
from reconciler.core.reasons import ReasonCode

if TYPE_CHECKING:
    from reconciler.core.ssh_signatures import SigningKey

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


class FastImport:
    """One `git fast-import` process: commits streamed in, their SHAs read back.

    Objects land in the object store; refs are never touched (the caller moves the branch
    with a compare-and-swap `update-ref` once every commit of the pass is written). With a
    `signer`, `close` returns the SHAs of signed copies of the commits (`write_signed`).
    """

    def __init__(
        self, git: Git, scratch: str | None = None, *, signer: SigningKey | None = None
    ) -> None:
        """Start fast-import; its marks file goes in `scratch` (the git folder) or $TMPDIR.

        A marks file a kill leaves in the git folder is swept by `remove_stale_marks`.
        """
        self._git, self._scratch, self._signer = git, scratch, signer
        self._errors = tempfile.TemporaryFile()
        self._marks_file = tempfile.NamedTemporaryFile(
            prefix=MARKS_PREFIX, dir=scratch, delete=False
        )
        self._marks_file.close()
        self._process = subprocess.Popen(
            [
                "git",
                # Objects are written once, one pack per pass, merged when packs pile up
                # (`merge_packs_when_due`) and repacked by git gc later: cheap compression
                # keeps a pass of hundreds of commits fast (zlib dominates otherwise), and a
                # pass of one commit is not unpacked into loose objects again (its tree of
                # applied/ holds tens of thousands of entries: ~10 ms).
                "-c",
                "pack.compression=1",
                "-c",
                "fastimport.unpackLimit=0",
                "fast-import",
                "--quiet",
                "--done",
                "--force",
                "--date-format=raw",
                f"--export-marks={self._marks_file.name}",
            ],
            cwd=git.worktree,
            stdin=subprocess.PIPE,
            stderr=self._errors,
            env=git.env,
            process_group=0,
        )
        self._marks = 0

    def commit(
        self,
        *,
        parent: str,
        identity: Identity,
        when: int,
        message: str,
        changes: Sequence[FileChange],
    ) -> str:
        """Queue a commit on top of `parent` (a SHA, or the mark of a commit of this stream).

        Returns the commit's mark (`:N`); `close` maps marks to SHAs. Nothing waits for git
        here, so Python and fast-import work in parallel. `changes` (repo-relative paths)
        are applied in order.

        Raises:
            GitError: fast-import refused the stream.
        """
        self._marks += 1
        mark = self._marks
        name = identity.name.replace("<", "").replace(">", "").replace("\n", " ")
        email = identity.email.replace("<", "").replace(">", "").replace("\n", "")
        encoded = message.encode("utf-8")
        parts = [
            f"commit {SCRATCH_REF}\n".encode(),
            b"mark :%d\n" % mark,
            f"author {name} <{email}> {when} +0000\n".encode(),
            f"committer {name} <{email}> {when} +0000\n".encode(),
            b"data %d\n" % len(encoded),
            encoded,
            b"\n",
            f"from {parent}\n".encode(),
        ]
        for change in changes:
            quoted = quote_path(change.path)
            mode = change.mode.encode("ascii")
            if change.blob is not None:
                parts += [b"M ", mode, b" ", change.blob.encode("ascii"), b" ", quoted, b"\n"]
            elif change.data is None:
                parts.append(b"D " + quoted + b"\n")
            else:
                data = change.data
                parts += [b"M ", mode, b" inline ", quoted, b"\ndata %d\n" % len(data), data, b"\n"]
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(b"".join(parts))
        except BrokenPipeError:
            self._fail()
        return f":{mark}"

    def close(self) -> dict[str, str]:
        """Finish the stream, wait for git to write its objects; return {mark: SHA}.

        Raises:
            GitError: fast-import failed.
        """
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(b"done\n")
            stdin.close()
        except BrokenPipeError:
            pass
        if self._process.wait() != 0:
            self._fail()
        with open(self._marks_file.name, encoding="ascii") as handle:
            marks = dict(line.split() for line in handle if line.strip())
        self._close_pipes()
        if self._signer is not None:
            return write_signed(self._git, marks, self._signer, self._scratch)
        return marks

    def abort(self) -> None:
        """Stop the process without finishing (nothing refers to what it wrote)."""
        self._process.kill()
        self._process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass
        self._errors.close()
        if os.path.exists(self._marks_file.name):
            os.unlink(self._marks_file.name)

    def _fail(self) -> None:
        self._process.kill()
        code = self._process.wait()
        self._errors.seek(0)
        stderr = self._errors.read().decode("utf-8", "replace")
        self._close_pipes()
        raise GitError(["fast-import"], code, stderr)


def write_signed(
    git: Git, marks: Mapping[str, str], key: SigningKey, git_dir: str | None
) -> dict[str, str]:
    """Write a signed copy of each commit `marks` names; return {mark: signed SHA}.

    Three processes whatever the count: one `cat-file --batch` reads the unsigned commits,
    one `index-pack --stdin` stores the signed ones as a pack, whose index must list exactly
    the SHAs computed here, and one `update-ref -d` drops the scratch ref: the unsigned
    commits (with the trailers of the signed ones) are unreachable until git's gc removes
    them, never pushed, never listed.

    Raises:
        RefusalError: `signing_unsupported` (a SHA-256 repository), or `git_failed`.
    """
    from reconciler.core import commit_signing  # cryptography and sshsig: ~60 ms to import

    order = sorted(marks, key=lambda mark: int(mark.lstrip(":")))
    unsigned = [marks[mark] for mark in order]
    if any(len(sha) != 40 for sha in unsigned):
        raise RefusalError(
            ReasonCode.SIGNING_UNSUPPORTED,
            "signing is not supported in a SHA-256 repository (objectFormat sha256) yet; "
            "no commit was made: unset the signing key or use a SHA-1 repository",
        )
    out = git.run("cat-file", "--batch", stdin="".join(f"{sha}\n" for sha in unsigned).encode())
    try:
        bodies = commit_signing.parse_batch(out.stdout, unsigned)
    except ValueError as exc:
        raise GitError(["cat-file", "--batch"], 0, str(exc)) from exc
    signed = commit_signing.sign_commits(list(zip(unsigned, bodies, strict=True)), key)
    pack = commit_signing.pack_objects([body for _, _, body in signed])
    done = git.run("index-pack", "--stdin", stdin=pack)
    name = done.stdout.decode("ascii", "replace").split()[-1]
    folder = _objects_folder(git, git_dir)
    with open(os.path.join(folder, "pack", f"pack-{name}.idx"), "rb") as handle:
        listed = commit_signing.pack_index_names(handle.read())
    if listed != {new for _, new, _ in signed}:
        raise GitError(["index-pack", "--stdin"], 0, "the signed commits got other SHAs")
    git.run("update-ref", "-d", SCRATCH_REF, check=False)
    return {mark: new for mark, (_, new, _) in zip(order, signed, strict=True)}


def _objects_folder(git: Git, git_dir: str | None) -> str:
    if "GIT_OBJECT_DIRECTORY" in git.env:
        return git.env["GIT_OBJECT_DIRECTORY"]
    if git_dir is None:
        return git.text("rev-parse", "--path-format=absolute", "--git-path", "objects")
    return os.path.join(_common_dir(git_dir), "objects")


def _common_dir(git_dir: str) -> str:
    """The repository's own git folder, for the git folder of a linked worktree too."""
    with contextlib.suppress(OSError), open(os.path.join(git_dir, "commondir")) as handle:
        return os.path.join(git_dir, handle.read().strip())
    return git_dir


PACK_LIMIT = 50
"""More packs than this (git's own gc.autoPackLimit default) and a pass merges them."""


def merge_packs_when_due(git: Git, git_dir: str) -> None:
    """Merge the small packs fast-import leaves (one per pass) once they pile up.

    `git repack --geometric=2 -d` rolls the small packs up into one and leaves the big ones
    alone: milliseconds, no ref or reflog lock (unlike `git gc`, whose `pack-refs` could
    make the next pass's compare-and-swap fail), nothing in the background.
    """
    common = _common_dir(git_dir)
    try:
        names = set(os.listdir(os.path.join(common, "objects", "pack")))
    except OSError:
        return
    packs = [name for name in names if name.endswith(".pack")]
    if sum(name.removesuffix(".pack") + ".keep" not in names for name in packs) > PACK_LIMIT:
        git.run("repack", "--geometric=2", "-d", "-q", check=False)


def remove_stale_marks(scratch: str) -> None:
    """Delete marks files a killed fast-import stream left in `scratch` (call under the lock)."""
    try:
        names = os.listdir(scratch)
    except OSError:
        return
    for name in names:
        if name.startswith(MARKS_PREFIX):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(scratch, name))


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
