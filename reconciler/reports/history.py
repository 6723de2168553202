"""`reconcile history`: reconcile commits read back from their trailers, newest first.

One `git log` process, streamed and stopped once `limit` entries are found. git's `--grep`
narrows the walk cheaply (a line match, so substrings too); every filter is then checked
exactly here against the parsed trailers. Each entry's signature state comes from one
`git cat-file --batch` beside the walk (reports/history_signatures.py), so `--verified-only`
filters before the limit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from reconciler.adapters.gitrepo import Git, GitError
from reconciler.core.commit_verification import Verification
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp
from reconciler.core.trailers import parse_trailers
from reconciler.inputs import layouts
from reconciler.loop import checkout as checkouts
from reconciler.reports.history_signatures import Signatures, load_bot_trust

DEFAULT_LIMIT = 20
LOG_FIELDS = ("%H", "%h", "%ct", "%an", "%ae", "%cn", "%ce", "%(trailers:unfold,only)", "%s")
"""Commit, short commit, committer time (Unix seconds), author, committer, trailers, subject."""
_CHUNK = 1 << 16
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ERE_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}])")
_INT = re.compile(r"-?[0-9]+", re.ASCII)
# git's messages for a repository whose branch has no commit yet (LC_ALL=C: English).
_NO_COMMITS = ("does not have any commits yet", "bad default revision")


class HistoryQuery(NamedTuple):
    """Which reconcile commits to show; None filters match everything."""

    limit: int = DEFAULT_LIMIT
    since: str | None = None
    """Anything `git log --since` accepts (`2 weeks ago`, `2026-11-01`)."""
    actor: str | None = None
    status: str | None = None
    intent: str | None = None
    """An intent file's path, base name or stem, or an idempotency key."""
    verified_only: bool = False
    """Only `verified` entries: up to `limit` of them, however many others come between."""
    fleets: tuple[str, ...] = ()
    """Only the commits of these fleets (`--fleet`, their `Fleet:` trailer); empty: all."""

    @property
    def is_filtered(self) -> bool:
        """True when any filter besides the limit is set."""
        return (
            self.verified_only
            or bool(self.fleets)
            or any(
                value is not None for value in (self.since, self.actor, self.status, self.intent)
            )
        )


class Person(NamedTuple):
    """A commit's author or committer, as git recorded them."""

    name: str
    email: str


class HistoryEntry(NamedTuple):
    """One reconcile commit as its trailers describe it (None: trailer absent)."""

    commit: str
    short_commit: str
    time: str
    """Committer date in UTC, `YYYY-MM-DDTHH:MM:SSZ` (as every time the reconciler writes)."""
    subject: str
    status: str
    action: str | None
    intent_file: str | None
    idempotency_key: str | None
    trace_id: str | None
    decision: str | None
    decision_trace_id: str | None
    actor: str | None
    approval_ref: str | None
    canary: str | None
    """As written, e.g. `25 -> 50`."""
    manual_pause: str | None
    """As written, e.g. `false -> true`."""
    reason_codes: tuple[str, ...]
    intent_commit: str | None
    author: Person = Person("", "")
    """Who wrote the commit (the bot, or a person who committed a reconcile commit by hand)."""
    committer: Person = Person("", "")
    verification: Verification | None = None
    """`verified`, `unsigned` or `forged` (docs/output.md); None until read."""
    fleet: str | None = None
    """The `Fleet:` trailer: the fleet of a repository with several; None with one."""


def check_since(value: str) -> str:
    """Return `value` when it is safe to pass as `--since=<value>`.

    Raises:
        ValueError: empty, starting with `-` (an option, not a date) or holding control
            characters.
    """
    if not value.strip():
        raise ValueError("--since needs a date, e.g. 2026-11-01 or '2 weeks ago'")
    if value.startswith("-"):
        raise ValueError(f"--since must be a date, not an option: {value[:40]!r}")
    if _CONTROL.search(value):
        raise ValueError("--since must be one line of text")
    return value


def read_history(repo: str, query: HistoryQuery) -> list[HistoryEntry]:
    """Return up to `query.limit` reconcile commits reachable from HEAD, newest first.

    Raises:
        RefusalError: the folder is missing (repo_not_found) or not a git work tree
            (not_a_git_repo), git failed (git_failed), reconciler.yaml or the trust
            files it names are invalid (`trust_settings_invalid`, `fleets_invalid`, ...),
            or `query.fleets` names a fleet the repository does not have (`fleet_unknown`).
        ValueError: limit below 1 or an unsafe --since (see `check_since`).
    """
    if query.limit < 1:
        raise ValueError("--limit must be at least 1")
    if query.since is not None:
        check_since(query.since)
    repo = layouts.resolve_repo(repo)
    # Every fleet shares reconciler.yaml's `trust:`: the first layout's trust is the
    # repository's. Resolving them also refuses an unknown --fleet before git runs.
    layout = layouts.resolve_layouts(repo, query.fleets)[0]
    checkout = _open_checkout(repo)
    if checkout is None:
        return []  # no commit yet
    folder = _folder_in(checkout.top, repo)
    filters = (query.actor, query.status, query.intent, *query.fleets)
    if any(value is not None and _CONTROL.search(value) for value in filters):
        return []  # trailer values are single lines: nothing can match
    trust = load_bot_trust(layout)
    entries: list[HistoryEntry] = []
    # A fresh separator per run: no commit message or name can hold it, so a field with a
    # \x1f of its own (a foreign commit's) never shifts the next one.
    separator = f"\x1f{os.urandom(8).hex()}\x1f"
    git = Git(checkout.top)
    try:
        with (
            git.stream(*_log_args(query, separator, folder)) as out,
            Signatures(git, trust) as signatures,
        ):
            for entry in _entries(out.fileno(), separator):
                if not _matches(entry, query):
                    continue
                state = signatures.state(entry.commit)
                if query.verified_only and state != "verified":
                    continue  # keep walking: the limit counts verified entries
                entries.append(entry._replace(verification=state))
                if len(entries) >= query.limit:
                    break  # Git.stream stops git at once
    except GitError as exc:
        if "not a git repository" in exc.stderr:
            raise _not_a_repo(repo) from exc
        if any(text in exc.stderr for text in _NO_COMMITS):
            return []
        raise
    return entries


def _open_checkout(repo: str) -> checkouts.Checkout | None:
    """The git worktree holding `repo`, found as every command finds it; None: no commit yet."""
    try:
        # The policy repository is the folder given, in the worktree that holds it: a
        # subfolder of a larger repository works as it does for --once and status.
        return checkouts.open_checkout(repo)
    except RefusalError as exc:
        if exc.reason is ReasonCode.GIT_NO_COMMITS:
            return None
        if exc.reason is ReasonCode.NOT_A_GIT_REPO:
            raise _not_a_repo(repo) from exc
        raise


def _not_a_repo(repo: str) -> RefusalError:
    return RefusalError(
        ReasonCode.NOT_A_GIT_REPO,
        f"not a git repository: {repo} (history reads the reconcile commits of the git "
        "repository holding --repo)",
        path=repo,
    )


def _folder_in(top: str, repo: str) -> str:
    """`repo` relative to the worktree's top folder, `/`-separated; '' for the top itself."""
    relative = os.path.relpath(os.path.realpath(repo), os.path.realpath(top))
    return "" if relative == os.curdir else relative.replace(os.sep, "/")


def _log_args(query: HistoryQuery, separator: str, folder: str) -> list[str]:
    greps = ["^Reconcile-Status: "]
    if query.status is not None:
        greps = [f"^Reconcile-Status: {_ere_literal(query.status)}$"]
    if query.actor is not None:
        greps.append(f"^Actor: {_ere_literal(query.actor)}$")
    if query.intent is not None:
        greps.append(f"^(Reconcile-Intent|Idempotency-Key): .*{_ere_literal(query.intent)}")
    if query.fleets:
        wanted = "|".join(_ere_literal(fleet) for fleet in query.fleets)
        greps.append(f"^Fleet: ({wanted})$")
    args = [
        "log",
        "-z",
        "--no-show-signature",
        "--encoding=UTF-8",
        f"--format={separator.join(LOG_FIELDS)}",
        "--extended-regexp",
        *(f"--grep={pattern}" for pattern in greps),
    ]
    if len(greps) > 1:
        args.append("--all-match")
    if query.since is not None:
        args.append(f"--since={query.since}")
    if folder:
        # Only the commits that change the policy repository's folder: a worktree holding
        # two policy repositories shows each one its own. --full-history: a merge that
        # leaves the folder as one parent had it must not hide the other parent's commits.
        # The folder is a name, never a glob: Git sets GIT_LITERAL_PATHSPECS.
        args += ["--full-history", "--", folder]
    return args


def _ere_literal(text: str) -> str:
    """Escape `text` for a POSIX extended regular expression (git's --extended-regexp)."""
    return _ERE_SPECIAL.sub(r"\\\1", text)


def _entries(fd: int, separator: str) -> Iterator[HistoryEntry]:
    """Parse NUL-terminated log records as they arrive on `fd`."""
    pending = b""
    while True:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            break
        records = (pending + chunk).split(b"\0")
        pending = records.pop()
        for record in records:
            entry = _parse_record(record.decode("utf-8", "replace"), separator)
            if entry is not None:
                yield entry
    if pending.strip():
        entry = _parse_record(pending.decode("utf-8", "replace"), separator)
        if entry is not None:
            yield entry


def _parse_record(record: str, separator: str) -> HistoryEntry | None:
    fields = record.lstrip("\n").split(separator)
    if len(fields) != len(LOG_FIELDS) or not fields[2].isdigit():
        return None
    commit, short, seconds, author, author_email, committer, committer_email = fields[:7]
    trailer_text, subject = fields[7:]
    trailers = parse_trailers(trailer_text)
    status = trailers.get("Reconcile-Status")
    if not status:
        return None  # "Reconcile-Status:" in a message body, not in its trailers
    codes = trailers.get("Reason-Codes", "")
    return HistoryEntry(
        commit=commit,
        short_commit=short,
        time=_utc(seconds),
        subject=subject,
        status=status,
        action=trailers.get("Reconcile-Action"),
        intent_file=trailers.get("Reconcile-Intent"),
        idempotency_key=trailers.get("Idempotency-Key"),
        trace_id=trailers.get("Trace-Id"),
        decision=trailers.get("Decision"),
        decision_trace_id=trailers.get("Decision-Trace-Id"),
        actor=trailers.get("Actor"),
        approval_ref=trailers.get("Approval-Ref"),
        canary=trailers.get("Canary"),
        manual_pause=trailers.get("Manual-Pause"),
        reason_codes=tuple(code.strip() for code in codes.split(",") if code.strip()),
        intent_commit=trailers.get("Intent-Commit"),
        fleet=trailers.get("Fleet"),
        author=Person(author, author_email),
        committer=Person(committer, committer_email),
    )


def _utc(seconds: str) -> str:
    try:
        return format_timestamp(datetime.fromtimestamp(int(seconds), UTC))
    except (OverflowError, ValueError, OSError):  # a date past year 9999 (fast-import allows it)
        return seconds


def _matches(entry: HistoryEntry, query: HistoryQuery) -> bool:
    if query.status is not None and entry.status != query.status:
        return False
    if query.actor is not None and entry.actor != query.actor:
        return False
    if query.fleets and entry.fleet not in query.fleets:
        return False
    if query.intent is not None:
        path = entry.intent_file or ""
        name = path.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0] if "." in name else name
        if not query.intent or query.intent not in {path, name, stem, entry.idempotency_key}:
            return False
    return True


def entry_json(entry: HistoryEntry) -> dict[str, object]:
    """Return the `--json` object of one entry (canary as ints, pause as bools, when parseable)."""
    return {
        "commit": entry.commit,
        "time": entry.time,
        "author": entry.author._asdict(),
        "committer": entry.committer._asdict(),
        "verification": entry.verification,
        "subject": entry.subject,
        "status": entry.status,
        "action": entry.action,
        "intentFile": entry.intent_file,
        "idempotencyKey": entry.idempotency_key,
        "traceId": entry.trace_id,
        "decision": entry.decision,
        "decisionTraceId": entry.decision_trace_id,
        "actor": entry.actor,
        "approvalRef": entry.approval_ref,
        "canary": _transition(entry.canary, _as_int),
        "manualPause": _transition(entry.manual_pause, _as_bool),
        "reasonCodes": list(entry.reason_codes),
        "intentCommit": entry.intent_commit,
        "fleet": entry.fleet,
    }


def _transition(text: str | None, convert: Callable[[str], object]) -> Mapping[str, object] | None:
    if text is None:
        return None
    before, sep, after = text.partition(" -> ")
    if not sep:
        return {"before": convert(text.strip()), "after": None}
    return {"before": convert(before.strip()), "after": convert(after.strip())}


def _as_int(text: str) -> object:
    return int(text) if _INT.fullmatch(text) else text


def _as_bool(text: str) -> object:
    return {"true": True, "false": False}.get(text, text)
