"""What the reconciler owns, so `plan` can flag a pull request that edits it (core layer).

Only intents may change the owned registry fields, and only the reconciler (or the gates job,
for the decision) writes the decision, telemetry, state and the processed intents. A pull
request that edits them by hand makes the plan wrong (it evaluates the intents on values
nobody approved through an intent), so every such edit is one problem line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import NamedTuple

from reconciler.core.applying import CANARY_PATH, GOVERNANCE_PATH, MANUAL_PAUSE_PATH
from reconciler.core.passes import as_text
from reconciler.core.splicing import is_same

GOVERNANCE_KEYS = ("actor", "approvalRef", "rationale", "changedAt", "reviewBy")
OWNED_REGISTRY_FIELDS: tuple[tuple[str, ...], ...] = (
    CANARY_PATH,
    MANUAL_PAUSE_PATH,
    *((*GOVERNANCE_PATH, key) for key in GOVERNANCE_KEYS),
)
_ABSENT = object()
_SHOWN_LIMIT = 60


class OwnedFiles(NamedTuple):
    """The repo-relative paths whose every change is a reconciler's (or the gates job's)."""

    decision: str
    state_files: Sequence[str]
    """The apply-state file and the two key indexes."""
    telemetry: str
    """The active telemetry segment; sealed segments beside it match `segments`."""
    segments: re.Pattern[str]
    """Names of the sealed telemetry segments."""
    processed: Sequence[str]
    """The applied/ and rejected/ folders."""


def changed_owned_fields(before: object, after: object) -> list[str]:
    """One line per owned registry field whose value differs between two documents.

    Values are compared parsed (types included), so comments, formatting and every other
    field may change freely.
    """
    lines = []
    for path in OWNED_REGISTRY_FIELDS:
        old, new = _at(before, path), _at(after, path)
        if old is _ABSENT and new is _ABSENT:
            continue
        if old is _ABSENT or new is _ABSENT or not is_same(old, new):
            lines.append(f"{'.'.join(path)} changed ({_shown(old)} -> {_shown(new)})")
    return lines


def owned_file_problem(path: str, owned: OwnedFiles) -> str | None:
    """Why a change to `path` is not a pull request's to make; None when it may change."""
    folder, _, name = path.rpartition("/")
    if path == owned.decision:
        return "the promotion decision is written by the gates job, not by hand"
    if path in owned.state_files:
        return "apply state and key indexes are written only by the reconciler"
    telemetry_folder = owned.telemetry.rpartition("/")[0]
    if path == owned.telemetry or (folder == telemetry_folder and owned.segments.fullmatch(name)):
        return "telemetry is written only by the reconciler"
    if any(path.startswith(f"{processed}/") for processed in owned.processed):
        return (
            "processed intents are moved here only by the reconciler (to re-submit one, add "
            "it again as a new file in the intents folder)"
        )
    return None


def _at(doc: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return _ABSENT
        doc = doc[key]
    return doc


def _shown(value: object) -> str:
    if value is _ABSENT:
        return "absent"
    text = as_text(json.dumps(value, ensure_ascii=False, default=str))
    return text if len(text) <= _SHOWN_LIMIT else text[: _SHOWN_LIMIT - 3] + "..."
