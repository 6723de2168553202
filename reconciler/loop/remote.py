"""The remote: fetch and fast-forward before a pass, push after it, never force.

The remote's compare-and-swap on the branch (a rejected non-fast-forward push) is the only
coordination between reconcilers. The loser resets to the remote and runs the pass again;
before the reset, intent files that exist only in its dropped commits (or only as local
commits) are written back as pending files, so nothing is ever lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.adapters.gitrepo import GitError
from reconciler.core.errors import RefusalError, RetryableError
from reconciler.core.reasons import ReasonCode
from reconciler.core.trailers import parse_trailers
from reconciler.loop import checkout as checkouts
from reconciler.loop import head_move
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig
from reconciler.loop.head_move import Consumed

_CONFLICT_MARKERS = (
    "[rejected]",
    "non-fast-forward",
    "fetch first",
    "stale info",
    # Two pushes at the same instant: the remote's own compare-and-swap lost the race.
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
)
"""A push refused because the branch moved: fetch, reset, run again."""
_REFUSED_MARKER = "[remote rejected]"
"""A push refused by a hook or branch protection: retrying would change nothing."""


class PushConflict(Exception):
    """The remote branch moved since our fetch; fetch, reset and run the pass again."""


def remote_ref(remote: str, branch: str) -> str:
    """The remote-tracking ref the loop fetches into."""
    return f"refs/remotes/{remote}/{branch}"


def fetch(checkout: Checkout, remote: str, branch: str) -> str | None:
    """Fetch the remote branch; return its SHA, None when the remote has no such branch.

    Raises:
        RetryableError: the remote cannot be reached (`remote_unavailable`).
    """
    spec = f"+refs/heads/{branch}:{remote_ref(remote, branch)}"
    done = checkout.git.run("fetch", "--quiet", "--no-tags", "--", remote, spec, check=False)
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace")
        if "couldn't find remote ref" in stderr:
            return None
        raise RetryableError(
            ReasonCode.REMOTE_UNAVAILABLE,
            f"cannot fetch {branch} from {remote}: {_last_line(stderr)}",
        )
    return checkout.git.text("rev-parse", "--verify", remote_ref(remote, branch))


_BOILERPLATE = ("Please make sure you have the correct access rights", "and the repository exists.")
"""The two lines git ends an unreachable remote with: they say nothing about why."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if line not in _BOILERPLATE] or lines
    if len(lines) >= 2 and lines[-1] == "fatal: Could not read from remote repository.":
        return f"{lines[-2]}; {lines[-1]}"  # the line before says why (no such repo, ssh)
    return lines[-1] if lines else "no output"


def sync_with_remote(
    checkout: Checkout, configs: Sequence[LoopConfig], remote: str, branch: str
) -> Checkout:
    """Fetch; fast-forward when behind; reset to the remote (rescuing intents) when diverged.

    Raises:
        RetryableError: the remote cannot be reached.
        RefusalError: the checkout cannot be moved (files in the way).
    """
    upstream = fetch(checkout, remote, branch)
    if upstream is None or upstream == checkout.head:
        return checkout
    intents = [config.relative_intents(checkout) for config in configs]
    ahead, behind = checkouts.ahead_behind(checkout, upstream)
    if behind == 0:
        return checkout  # only local commits: the push publishes them
    if ahead == 0:
        return head_move.move_head(
            checkout, upstream, reason=f"fast-forward to {remote}/{branch}", intents=intents
        )
    foreign = foreign_commits(checkout, upstream, intents, configs[0].identity.email)
    if foreign:
        # A reset would drop them: only our own commits and intent files are ever redone.
        raise RefusalError(
            ReasonCode.BRANCH_DIVERGED,
            f"{checkout.head_ref} and {remote}/{branch} diverged, and {len(foreign)} local "
            f"commit(s) the reconciler did not make change more than intent files (first: "
            f"{foreign[0][:12]}); push or rebase them onto {remote}/{branch}, then run again",
        )
    restored = rescue_intents(checkout, upstream, intents)
    return head_move.move_head(
        checkout,
        upstream,
        reason=f"reset to {remote}/{branch}",
        intents=intents,
        restored=restored,
    )


def foreign_commits(
    checkout: Checkout, upstream: str, intents: str | Sequence[str], bot_email: str
) -> list[str]:
    """Return the local-only commits a reset would lose that are neither ours nor intents.

    Ours are made by the bot identity and carry a Reconcile-Intent trailer; an operator's
    commit that only adds or edits files in the intents folder is rescued by
    `rescue_intents`. A merge counts with the changes it brings to its first parent.
    """
    out = checkout.git.run(
        "-c", "core.quotePath=false", "log", "-m", "--first-parent", "--no-renames",
        "--name-only",
        "--format=%x01%H%x02%ae%x02%(trailers:key=Reconcile-Intent,valueonly,unfold)%x03",
        f"{upstream}..{checkout.head}",
    ).stdout.decode("utf-8", "surrogateescape")  # fmt: skip
    prefixes = tuple(f"{folder}/" for folder in head_move.intent_folders(intents))
    foreign = []
    for chunk in out.split("\x01")[1:]:
        sha, _, rest = chunk.partition("\x02")
        author, _, rest = rest.partition("\x02")
        trailer, _, paths = rest.partition("\x03")
        if trailer.strip() and author == bot_email:
            continue
        if any(not path.startswith(prefixes) for path in paths.split("\n") if path):
            foreign.append(sha)
    return foreign


def rescue_intents(
    checkout: Checkout, upstream: str, intents: str | Sequence[str]
) -> list[Consumed]:
    """Return the intent files a reset from HEAD to `upstream` would lose, as (path, blob).

    They are the intents pending at HEAD or consumed by local-only commits, unless the
    upstream history since the fork processed the same file or still has it pending.
    """
    git = checkout.git
    base = git.text("merge-base", checkout.head, upstream)
    processed = _processed_paths(checkout, f"{base}..{upstream}")
    pending_upstream = _pending_blobs(checkout, upstream, intents)
    candidates: dict[str, str] = dict(_pending_blobs(checkout, checkout.head, intents))
    for path, blob in _consumed_locally(checkout, f"{base}..{checkout.head}", intents).items():
        candidates.setdefault(path, blob)
    return [
        Consumed(path, blob)
        for path, blob in sorted(candidates.items())
        if path not in processed and path not in pending_upstream and _is_pending(path, intents)
    ]


def _is_pending(path: str, intents: str | Sequence[str]) -> bool:
    """Whether a path (from a trailer: not trusted) names a file directly in the intents folder."""
    try:
        head_move.check_pending_path(path, intents)
    except RefusalError:
        return False
    return True


def _processed_paths(checkout: Checkout, revisions: str) -> set[str]:
    out = checkout.git.run(
        "log", "-z", "--format=%(trailers:key=Reconcile-Intent,valueonly,unfold)", revisions
    ).stdout
    return {item.decode("utf-8", "surrogateescape").strip() for item in out.split(b"\0")} - {""}


def _pending_blobs(checkout: Checkout, commit: str, intents: str | Sequence[str]) -> dict[str, str]:
    entries = checkouts.tree_blobs(
        checkout, commit, *(f"{each}/" for each in head_move.intent_folders(intents))
    )
    return {path: blob for path, (_, blob) in entries.items()}


def _consumed_locally(
    checkout: Checkout, revisions: str, intents: str | Sequence[str]
) -> dict[str, str]:
    """{original intent path: blob} for the intents processed by the commits in `revisions`."""
    folders = head_move.intent_folders(intents)
    out = checkout.git.run(
        "log", "-z", "--no-renames", "--raw", "--no-abbrev",
        "--format=%x01%(trailers:key=Reconcile-Intent,valueonly,unfold)", revisions,
        "--",
        *(f"{each}/{name}/" for each in folders for name in ("applied", "rejected")),
    ).stdout  # fmt: skip
    found: dict[str, str] = {}
    source = ""
    items = out.split(b"\0")
    index = 0
    while index < len(items):
        item = items[index].lstrip(b"\n")
        index += 1
        if item.startswith(b"\x01"):
            text = item[1:].decode("utf-8", "surrogateescape").strip()
            source = parse_trailers("Reconcile-Intent: " + text).get("Reconcile-Intent", "")
            rest = item.split(b"\n", 1)
            item = rest[1].lstrip(b"\n") if len(rest) > 1 else b""
            if not item:
                continue
        if item.startswith(b":"):
            fields = item.split()
            status = fields[-1] if fields else b""
            index += 1  # the path that follows
            if status == b"A" and source and len(fields) >= 4:
                found.setdefault(source, fields[3].decode())
    return found


def push_head(checkout: Checkout, remote: str, branch: str) -> bool:
    """Push HEAD to the remote branch (never forced); verify it landed. False: nothing to push.

    Raises:
        PushConflict: the remote moved (non-fast-forward).
        RetryableError: the remote cannot be reached, or does not show our commit afterwards.
    """
    upstream = checkout.git.run(
        "rev-parse", "--verify", "-q", remote_ref(remote, branch), check=False
    )
    if upstream.stdout.decode().strip() == checkout.head:
        return False
    done = checkout.git.run(
        "push", "--porcelain", "--", remote, f"{checkout.head}:refs/heads/{branch}", check=False
    )
    if done.returncode != 0:
        text = (done.stdout + done.stderr).decode("utf-8", "replace")
        if any(marker in text for marker in _CONFLICT_MARKERS):
            raise PushConflict(_last_line(text))
        if _REFUSED_MARKER in text:
            raise RefusalError(
                ReasonCode.PUSH_REJECTED,
                f"{remote} refused the push of {checkout.head[:12]} (a hook or branch "
                f"protection): {_hook_message(text)}; the commits stay local until it is "
                "allowed",
            )
        raise RetryableError(
            ReasonCode.REMOTE_UNAVAILABLE, f"cannot push to {remote}: {_last_line(text)}"
        )
    _verify(checkout, remote, branch)
    return True


def _hook_message(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line.removeprefix("remote:").strip() for line in lines if line.startswith("remote:")]
    refused = [line for line in lines if _REFUSED_MARKER in line]
    return "; ".join([*said[-3:], *refused[-1:]]) or _last_line(text)


def _verify(checkout: Checkout, remote: str, branch: str) -> None:
    try:
        out = checkout.git.text("ls-remote", "--", remote, f"refs/heads/{branch}")
    except GitError as exc:
        raise RetryableError(
            ReasonCode.PUSH_UNVERIFIED, f"pushed, but cannot read {remote} back: {exc.message}"
        ) from exc
    wanted = f"refs/heads/{branch}"
    landed = next(
        (line.split("\t")[0] for line in out.splitlines() if line.endswith("\t" + wanted)), ""
    )
    if landed == checkout.head:
        checkout.git.run("update-ref", remote_ref(remote, branch), checkout.head)
        return
    upstream = fetch(checkout, remote, branch)
    if upstream and checkouts.ahead_behind(checkout, upstream)[0] == 0:
        return  # another writer already built on top of our commit
    raise RetryableError(
        ReasonCode.PUSH_UNVERIFIED,
        f"pushed {checkout.head[:12]}, but {remote}/{branch} points at {landed[:12] or 'nothing'}",
    )
