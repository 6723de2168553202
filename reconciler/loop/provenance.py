"""Where pending intents and the decision came from, read from git (loop layer).

For each pending intent: the commit that last wrote it (every parent followed: the
requester's commit on its branch) and the first-parent commit of the branch that brought that
content in (the merge: the approver's); for the decision, the commit that last changed it.

"Last" is exact: the writer walk follows every parent (`--full-history`, git's history
simplification would skip a side a merge ignores), in topological order (no commit before
its descendants), and counts deletions; a merge shows no change of its own. So the first
commit found is one no later commit on any path to HEAD changed the file after, and its
content must be HEAD's: a file re-added, reverted or kept by a merge (`-s ours`, a conflict
resolution) reads as "changed in a merge" (`intent_signature_invalid`, an untrusted
decision). A shallow clone cannot tell who wrote anything: trust refuses it.
Three `git log` streams, each stopped once everything asked for is found, and one
`git cat-file --batch` for the commit objects, whose SSH signatures are checked in process:
a pass over 500 intents starts the same five processes as a pass over one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from reconciler.core import trust
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.inputs.trusting import TrustFiles
from reconciler.loop.checkout import Checkout, cat_blobs

if TYPE_CHECKING:
    from reconciler.core.ssh_signatures import AllowedSigners


class Writer(NamedTuple):
    """A commit that wrote a path, and the blob it wrote there."""

    commit: str
    blob: str


def pass_trust(
    checkout: Checkout, found: TrustFiles | RefusalError | None, decision_path: str
) -> trust.Trust | RefusalError | None:
    """The pass's trust: the files, and the signature of the decision's last change."""
    if found is None or isinstance(found, RefusalError):
        return found
    if is_shallow(checkout):
        return RefusalError(
            ReasonCode.TRUST_HISTORY_SHALLOW,
            "the clone is shallow: who wrote and who approved each intent cannot be told; "
            "fetch the whole history (actions/checkout: fetch-depth: 0)",
        )
    if found.settings.decision_signers is None:
        return trust.Trust(found.settings, found.signers, found.access)
    from reconciler.core import ssh_signatures  # noqa: PLC0415 - cryptography, only with trust:

    writer = last_writers(checkout, [decision_path]).get(decision_path)
    check = None
    if writer is not None:
        raw = cat_blobs(checkout, [writer.commit])[writer.commit]
        check = ssh_signatures.check_commit(raw, found.signers)
        if writer.blob != _head_blob(checkout, decision_path):
            check = ssh_signatures.SignatureCheck(
                "invalid", detail="the decision's content was changed in a merge"
            )
    return trust.Trust(found.settings, found.signers, found.access, check)


def intent_provenance(
    checkout: Checkout,
    blobs: Mapping[str, str],
    signers: AllowedSigners,
) -> dict[str, trust.Provenance]:
    """The provenance of each committed pending intent ({path: HEAD's blob id}).

    A path missing from the answer is not committed.
    """
    if not blobs:
        return {}
    from reconciler.core import ssh_signatures  # noqa: PLC0415 - cryptography, only with trust:

    writers = last_writers(checkout, list(blobs))
    bringers = last_writers(checkout, list(blobs), first_parent=True)
    wanted = {writer.commit for writer in (*writers.values(), *bringers.values())}
    raw = cat_blobs(checkout, sorted(wanted))  # any object: commits here
    checks = {sha: ssh_signatures.check_commit(data, signers) for sha, data in raw.items()}
    found: dict[str, trust.Provenance] = {}
    for path, blob in blobs.items():
        writer, bringer = writers.get(path), bringers.get(path)
        if writer is None:
            continue
        found[path] = trust.Provenance(
            committed=True,
            writer=checks[writer.commit],
            writer_matches=writer.blob == blob,
            approval=checks[bringer.commit] if bringer is not None else None,
        )
    return found


def last_writers(
    checkout: Checkout, paths: Sequence[str], *, first_parent: bool = False
) -> dict[str, Writer]:
    """{path: the newest commit that added or changed it}, one `git log` stopped early.

    `first_parent`: only the branch's own commits, a merge compared with its first parent
    (the commit that brought the change into the branch).
    """
    wanted = set(paths)
    found: dict[str, Writer] = {}
    if not wanted:
        return found
    args = ["log", "--no-renames", "--diff-filter=AMD", "--raw", "-z", "--no-abbrev"]
    if first_parent:
        args += ["--first-parent", "--diff-merges=first-parent"]
    else:
        args += ["--full-history", "--topo-order"]
    folders = sorted({path.rsplit("/", 1)[0] if "/" in path else path for path in wanted})
    # Plain names: the Git adapter sets GIT_LITERAL_PATHSPECS, and runs at the top folder.
    with checkout.git.stream(*args, "--format=%x01%H", checkout.head, "--", *folders) as out:
        reader = _Tokens()
        while wanted - found.keys():
            chunk = out.read1(65536) if hasattr(out, "read1") else out.read(65536)
            if not chunk:
                reader.finish(wanted, found)
                break
            reader.feed(chunk, wanted, found)
    return found


class _Tokens:
    """The NUL-separated output of `git log --raw -z`: commit headers, raw lines, paths."""

    def __init__(self) -> None:
        self.buffer = b""
        self.commit = ""
        self.blob: str | None = None

    def feed(self, chunk: bytes, wanted: set[str], found: dict[str, Writer]) -> None:
        self.buffer += chunk
        *tokens, self.buffer = self.buffer.split(b"\0")
        self._scan(tokens, wanted, found)

    def finish(self, wanted: set[str], found: dict[str, Writer]) -> None:
        if self.buffer:
            self._scan([self.buffer], wanted, found)
            self.buffer = b""

    def _scan(self, tokens: Iterable[bytes], wanted: set[str], found: dict[str, Writer]) -> None:
        for token in tokens:
            text = token.lstrip(b"\n")
            if text.startswith(b"\x01"):
                self.commit, self.blob = text[1:].decode("ascii").strip(), None
            elif text.startswith(b":"):
                fields = text.split(b" ")
                self.blob = fields[3].decode("ascii") if len(fields) > 4 else None
            elif self.blob is not None:
                path = text.decode("utf-8", "surrogateescape")
                if path in wanted and path not in found:
                    found[path] = Writer(self.commit, self.blob)
                self.blob = None


def is_shallow(checkout: Checkout) -> bool:
    """Whether the clone is shallow (its history cut off: provenance cannot be read)."""
    return checkout.git.text("rev-parse", "--is-shallow-repository") == "true"


def _head_blob(checkout: Checkout, path: str) -> str | None:
    done = checkout.git.run("rev-parse", "--verify", "-q", f"{checkout.head}:{path}", check=False)
    return done.stdout.decode().strip() or None
