"""`reconcile repair-index`: rebuild the telemetry key indexes from the records themselves.

The indexes are caches: a pass finds a key they lack in the records and rewrites them with
its next record. But telemetry that lost records an index covers (a truncated active file,
a deleted or changed segment) is `telemetry_corrupt` until this command, run on purpose,
accepts the files as they are: it rebuilds both indexes from the records, writes them, and
in a git checkout commits them as the bot.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from reconciler import journal
from reconciler.adapters import files, locking
from reconciler.adapters.gitrepo import FastImport, FileChange
from reconciler.loop import checkout as checkouts
from reconciler.loop import head_move
from reconciler.loop.config import LoopConfig, load_configs, load_signer
from reconciler.loop.once import every_fleet, repository_lock_folders
from reconciler.telemetry import index as telemetry_index
from reconciler.telemetry.ledger import Ledger


def repair_index(
    repo: str,
    *,
    commit: bool,
    now: Callable[[], datetime],
    lock_timeout: str | None = None,
    fleet: str | None = None,
) -> dict[str, Any]:
    """Rebuild both indexes; return what changed (and the commit, when one was made).

    With several fleets every fleet's indexes (or `fleet`'s only), under one lock and in one
    commit; the result adds a `fleets` list, one entry per fleet.

    Raises:
        RefusalError: a telemetry line is not JSON (the records themselves need repair),
            or the index files have uncommitted changes of someone else's; `fleet_unknown`.
        RetryableError: the repository lock stayed busy.
    """
    configs = load_configs(repo, lock_timeout=lock_timeout, fleets=() if fleet is None else [fleet])
    config = configs[0]  # the repository's settings: identity, signing, lock timeout
    # The lock and a crashed pass's recovery cover every fleet (one HEAD, index and marker).
    every = every_fleet(repo) if fleet is not None else configs
    folders = repository_lock_folders(every)
    with locking.hold_locks(folders, config.lock_timeout.total_seconds()):
        # What a crashed apply or pass left is finished first, as every run does.
        for each in configs:
            journal.recover(
                os.path.dirname(each.fleet.registry),
                allowed=[each.fleet.registry, each.fleet.state, each.fleet.telemetry],
            )
        if _in_git(config.layout.repo):
            checkout = checkouts.open_checkout(config.layout.repo)
            head_move.recover(checkout, [each.relative_intents(checkout) for each in every])
        rebuilt = [_rebuild(each) for each in configs]
        wanted = {path: data for one in rebuilt for path, data in one.wanted.items()}
        changed = [path for one in rebuilt for path in one.changed]
        result: dict[str, Any] = {
            "changed": changed,
            "keys": sum(one.keys for one in rebuilt),
            "segments": sum(one.segments for one in rebuilt),
            "commit": None,
        }
        if config.layout.is_multi_fleet:
            result["fleets"] = [
                {"fleet": one.fleet, "changed": one.changed, "keys": one.keys,
                 "segments": one.segments}
                for one in rebuilt
            ]  # fmt: skip
        if not changed:
            return result
        if commit and _in_git(config.layout.repo):
            names = _changed_names(rebuilt, multi=config.layout.is_multi_fleet)
            changes = {path: wanted[path] for path in changed}
            result["commit"] = _commit(configs, changes, names, now)
        else:
            for path in changed:
                files.atomic_write(path, wanted[path])
        return result


class _Rebuilt(NamedTuple):
    """One fleet's indexes rebuilt from its records, and which differ from the files."""

    fleet: str
    wanted: dict[str, bytes]
    changed: list[str]
    keys: int
    segments: int


def _rebuild(config: LoopConfig) -> _Rebuilt:
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
    keys = len(ledger.active_keys) + len(ledger.sealed_keys)
    return _Rebuilt(config.fleet.id, wanted, changed, keys, len(ledger.sealed) + 1)


def _changed_names(rebuilt: list[_Rebuilt], *, multi: bool) -> str:
    """The commit subject's list: file names, prefixed by their fleet when there are several."""
    return "; ".join(
        f"{one.fleet}: {', '.join(map(os.path.basename, one.changed))}"
        if multi
        else ", ".join(map(os.path.basename, one.changed))
        for one in rebuilt
        if one.changed
    )


def _in_git(repo: str) -> bool:
    try:
        checkouts.open_checkout(repo)
    except Exception:  # noqa: BLE001 - not a worktree (or no commit): plain files then
        return False
    return True


def _commit(
    configs: Sequence[LoopConfig],
    changes: dict[str, bytes],
    names: str,
    now: Callable[[], datetime],
) -> str | None:
    """Commit the rebuilt indexes; None when restoring HEAD's copies was all it took."""
    config = configs[0]
    checkout = checkouts.open_checkout(config.layout.repo)
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
            message=f"repair telemetry index ({names})\n",
            changes=[FileChange(path, data) for path, data in relative.items()],
        )
        sha = stream.close()[mark]
    except BaseException:
        stream.abort()
        raise
    intents = [each.relative_paths(checkout).intents for each in configs]
    head_move.move_head(checkout, sha, reason="repair-index", intents=intents)
    return sha


def _at_head(checkout: checkouts.Checkout, path: str) -> bytes | None:
    done = checkout.git.run("cat-file", "blob", f"{checkout.head}:{path}", check=False)
    return done.stdout if done.returncode == 0 else None
