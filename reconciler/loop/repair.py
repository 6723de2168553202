"""`reconcile repair-index`: rebuild the telemetry key indexes from the records themselves.

The indexes are caches: a pass finds a key they lack in the records and rewrites them with
its next record. But telemetry that lost records an index covers (a truncated active file,
a deleted or changed segment) is `telemetry_corrupt` until this command, run on purpose,
accepts the files as they are: it rebuilds both indexes from the records, writes them, and
in a git checkout commits them as the bot.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from reconciler import journal
from reconciler.adapters import files, locking
from reconciler.adapters.gitrepo import FastImport, FileChange
from reconciler.loop import checkout as checkouts
from reconciler.loop import head_move
from reconciler.loop.config import load_config, load_signer
from reconciler.telemetry import index as telemetry_index
from reconciler.telemetry.ledger import Ledger


def repair_index(
    repo: str, *, commit: bool, now: Callable[[], datetime], lock_timeout: str | None = None
) -> dict[str, Any]:
    """Rebuild both indexes; return what changed (and the commit, when one was made).

    Raises:
        RefusalError: a telemetry line is not JSON (the records themselves need repair),
            or the index files have uncommitted changes of someone else's.
        RetryableError: the repository lock stayed busy.
    """
    config = load_config(repo, lock_timeout=lock_timeout)
    with locking.hold_locks(config.lock_folders(), config.lock_timeout.total_seconds()):
        # What a crashed apply or pass left is finished first, as every run does.
        journal.recover(
            os.path.dirname(config.fleet.registry),
            allowed=[config.fleet.registry, config.fleet.state, config.fleet.telemetry],
        )
        if _in_git(config.layout.repo):
            checkout = checkouts.open_checkout(config.layout.repo)
            head_move.recover(checkout, config.relative_paths(checkout).intents)
        ledger = Ledger(
            config.fleet.telemetry, config.fleet.state, config.rotate_bytes, trust_indexes=False
        )
        wanted = {
            ledger.index_file: ledger.active_index_bytes(),
            ledger.segments_file: ledger.segments_index_bytes(),
        }
        if not ledger.sealed and not files.exists(ledger.segments_file):
            del wanted[ledger.segments_file]
        if not files.exists(config.fleet.telemetry) and not files.exists(ledger.index_file):
            del wanted[ledger.index_file]  # nothing recorded yet: no index to repair
        changed = [
            path
            for path, data in wanted.items()
            if telemetry_index.read_raw(path, "telemetry index") != data
        ]
        result: dict[str, Any] = {
            "changed": changed,
            "keys": len(ledger.active_keys) + len(ledger.sealed_keys),
            "segments": len(ledger.sealed) + 1,
            "commit": None,
        }
        if not changed:
            return result
        if commit and _in_git(config.layout.repo):
            result["commit"] = _commit(config.layout.repo, {p: wanted[p] for p in changed}, now)
        else:
            for path in changed:
                files.atomic_write(path, wanted[path])
        return result


def _in_git(repo: str) -> bool:
    try:
        checkouts.open_checkout(repo)
    except Exception:  # noqa: BLE001 - not a worktree (or no commit): plain files then
        return False
    return True


def _commit(repo: str, changes: dict[str, bytes], now: Callable[[], datetime]) -> str | None:
    """Commit the rebuilt indexes; None when restoring HEAD's copies was all it took."""
    checkout = checkouts.open_checkout(repo)
    config = load_config(repo)
    relative = {checkout.relative(path): data for path, data in changes.items()}
    dirty = [path for _, path in checkouts.changed_paths(checkout) if path in relative]
    if dirty:
        checkouts.restore_managed(checkout, dirty)  # our own derived files: HEAD's, then ours
    relative = {path: data for path, data in relative.items() if _at_head(checkout, path) != data}
    if not relative:
        return None  # only the worktree copy was damaged: no empty commit
    stream = FastImport(checkout.git, checkout.git_dir, signer=load_signer(config, checkout))
    try:
        mark = stream.commit(
            parent=checkout.head,
            identity=config.identity,
            when=int(now().timestamp()),
            message=f"repair telemetry index ({', '.join(map(os.path.basename, relative))})\n",
            changes=[FileChange(path, data) for path, data in relative.items()],
        )
        sha = stream.close()[mark]
    except BaseException:
        stream.abort()
        raise
    intents = config.relative_paths(checkout).intents
    head_move.move_head(checkout, sha, reason="repair-index", intents=intents)
    return sha


def _at_head(checkout: checkouts.Checkout, path: str) -> bytes | None:
    done = checkout.git.run("cat-file", "blob", f"{checkout.head}:{path}", check=False)
    return done.stdout if done.returncode == 0 else None
