"""`reconcile intent new`: where an intent file goes, and writing it without overwriting any.

The text comes from `core.intent_writing` (checked with the loop's parser first); here the
intents folder is resolved as the loop resolves it (`intentsDir` in reconciler.yaml, else
the layout's built-in folder) and the file is created with O_EXCL under the first free name:
`<UTC time to the second>-<intent>-<approval-ref slug>-<random suffix>.yaml`.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from typing import NamedTuple

from reconciler.core import intent_writing
from reconciler.core.errors import RefusalError
from reconciler.core.intents import Intent
from reconciler.core.reasons import ReasonCode
from reconciler.inputs import guarding, layouts


class WrittenIntent(NamedTuple):
    """A new intent file: its path relative to the repository and what the loop will read."""

    path: str
    intent: Intent


def intents_folder(repo: str, fleet: str | None = None, *, command: str = "intent new") -> str:
    """Return the absolute intents folder of `repo`'s fleet (which may not exist yet).

    Raises:
        RefusalError: invalid reconciler.yaml, an ambiguous layout, or an intentsDir outside
            the repository (`layout_path_outside_repo`); several fleets and no `fleet`
            (`fleet_required`), an unknown one (`fleet_unknown`).
    """
    return intents_layout(repo, fleet, command=command).fleet.intents


def intents_layout(
    repo: str, fleet: str | None = None, *, command: str = "intent new"
) -> layouts.Layout:
    """The layout whose intents folder gets a new file (see `intents_folder`)."""
    # The folder the loop reads (one definition); resolve_layout refuses an intents folder
    # outside the repository or in .git.
    return layouts.resolve_layout(repo, fleet=fleet, command=command)


def new_suffix() -> str:
    """A short random token that makes a default idempotency key unique (6 hex digits)."""
    return secrets.token_hex(3)


def write_intent_file(
    repo: str,
    request: intent_writing.IntentRequest,
    now: datetime,
    *,
    suffix: str | None = None,
    fleet: str | None = None,
    command: str = "intent new",
) -> WrittenIntent:
    """Check the intent, then create its file under the first free name; never overwrite.

    The name (and so the default idempotency key) ends with `suffix`, a new random one when
    not given. In a repository with several fleets the file goes to `fleet`'s intents folder
    and says `fleet: <id>`.

    Raises:
        RefusalError: the intent would be rejected (the parser's reason code, or an expand
            above the fleet's `maxExpandStep`: `intent_expand_step_over_limit`), the settings
            are invalid, the fleet is missing or unknown (`fleet_required`, `fleet_unknown`;
            `command` names the command), or the file system refused.
    """
    repo = layouts.resolve_repo(repo)
    stem = intent_writing.intent_file_stem(request, now, new_suffix() if suffix is None else suffix)
    names = intent_writing.candidate_names(stem)
    first = intent_writing.build_intent_file(request, names[0], now)  # refuse before the disk
    layout = intents_layout(repo, fleet, command=command)
    # An expand above the fleet's maxExpandStep would be rejected by every pass (never
    # clamped): refused here, not in a pull request.
    over = step_problem(layout, first.intent)
    if over is not None:
        raise over
    if layout.is_multi_fleet:
        request = request._replace(fleet=layout.fleet.id)
    folder = layout.fleet.intents
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise _file_error("create the folder", folder, exc) from exc
    for name in names:
        built = intent_writing.build_intent_file(request, name, now)
        path = os.path.join(folder, name)
        if _create_exclusive(path, built.text.encode("utf-8")):
            return WrittenIntent(os.path.relpath(path, repo), built.intent)
    raise RefusalError(
        ReasonCode.FILE_ERROR,
        f"{len(names)} intent files named {stem}*.yaml already exist in {folder}; run it again",
        path=folder,
    )


def step_problem(layout: layouts.Layout, intent: Intent) -> RefusalError | None:
    """Why the fleet's pass would reject this expand for good: above its step limit.

    As the pass checks it: a key applied before replays first, whatever the limit is now
    (a retry of an intent applied under a larger `maxExpandStep`); and only while the
    guards can be read (`guarding.step_refusal`).
    """
    from reconciler.core.errors import ReconcileError
    from reconciler.telemetry.ledger import Ledger

    over = guarding.step_refusal(layout, intent.intent, intent.expand_step)
    if over is None:
        return None
    try:
        if Ledger(layout.fleet.telemetry, layout.fleet.state).find_applied(intent.idempotency_key):
            return None
    except ReconcileError:
        pass  # records that cannot tell: the pass refuses the expand too
    return over


def _create_exclusive(path: str, data: bytes) -> bool:
    """Write a new file; False when the name is taken (O_EXCL: a racing writer loses)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise _file_error("create", path, exc) from exc
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        os.unlink(path)  # a half-written intent must not reach a pull request
        raise _file_error("write", path, exc) from exc
    os.close(fd)
    try:
        folder = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        raise _file_error("sync the folder of", path, exc) from exc
    return True


def _file_error(action: str, path: str, exc: OSError) -> RefusalError:
    return RefusalError(
        ReasonCode.FILE_ERROR,
        f"cannot {action} {path}: {exc.strerror or exc} (check permissions and disk space)",
        path=path,
    )
