"""One `git fast-import` stream per pass, signed copies of its commits, pack upkeep."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from reconciler.adapters.gitrepo.processes import (
    MARKS_PREFIX,
    SCRATCH_REF,
    FileChange,
    Git,
    GitError,
    Identity,
    quote_path,
)
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

if TYPE_CHECKING:
    from reconciler.core.ssh_signatures import SigningKey


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
