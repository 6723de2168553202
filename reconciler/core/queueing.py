"""Which entries of the intents folder are intents, and why the others are not (core layer).

The one rule behind every listing of the queue: the pass (`--once`, the daemon) and `status`
list the worktree, `plan` lists the merged tree. Anything that is not taken as an intent is
reported as ignored with its reason, so a misplaced intent is never lost silently.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from reconciler.core.passes import as_text
from reconciler.core.reasons import ReasonCode

INTENT_SUFFIXES = (".yaml", ".yml")
PROCESSED_FOLDERS = ("applied", "rejected")
PLACEHOLDERS = frozenset({".gitkeep"})
"""Files `reconcile init` creates so git keeps the folders; never reported."""
IGNORED_LIMIT = 100
"""At most this many files are listed from the subfolders (a stray tree stays one line)."""

Kind = Literal["intent", "expected", "walk", "ignored"]


class Ignored(NamedTuple):
    """An entry of the intents folder that is not an intent, and why."""

    path: str
    """Repo-relative; a folder ends with `/`."""
    reason: ReasonCode
    why: str


class Verdict(NamedTuple):
    """What an entry of the intents folder is.

    `intent`: a pending intent; `expected`: applied/, rejected/ or a placeholder, not reported;
    `walk`: a subfolder whose files are each reported as ignored; `ignored`: see `reason`.
    """

    kind: Kind
    reason: ReasonCode | None = None
    why: str = ""


def classify_entry(intents: str, relative: str, *, is_folder: bool) -> Verdict:
    """Classify `relative` (a path below the intents folder `intents`, `/` separators).

    Only files directly in the folder whose names end in .yaml or .yml and do not start
    with a dot are intents (symlinks and FIFOs included: reading them rejects them).
    """
    parts = relative.split("/")
    name = parts[-1]
    if len(parts) > 1:
        if is_folder:
            return Verdict("walk")
        return Verdict(
            "ignored",
            ReasonCode.IGNORED_IN_SUBFOLDER,
            f"in a subfolder: only files directly in {intents}/ are intents",
        )
    if is_folder and name in PROCESSED_FOLDERS:
        return Verdict("expected")
    if not is_folder and name in PLACEHOLDERS:
        return Verdict("expected")
    if name.startswith("."):
        return Verdict(
            "ignored",
            ReasonCode.IGNORED_HIDDEN,
            "hidden: a name starting with a dot is never an intent",
        )
    named_like_intent = name.lower().endswith(INTENT_SUFFIXES)
    if is_folder:
        if named_like_intent:
            return Verdict(
                "ignored", ReasonCode.IGNORED_FOLDER, "a folder, not a file: only files are intents"
            )
        return Verdict("walk")
    if not named_like_intent:
        return Verdict(
            "ignored",
            ReasonCode.IGNORED_NOT_YAML_NAME,
            "not a .yaml or .yml name: only those files are intents",
        )
    return Verdict("intent")


def ignored_entry(intents: str, relative: str, verdict: Verdict, *, is_folder: bool) -> Ignored:
    """The Ignored report of an entry whose verdict is `ignored`."""
    assert verdict.reason is not None
    return Ignored(f"{intents}/{relative}{'/' if is_folder else ''}", verdict.reason, verdict.why)


def truncated_entry(intents: str, folder: str) -> Ignored:
    """The last report when a subfolder holds more than IGNORED_LIMIT files."""
    return Ignored(
        f"{intents}/{folder}/",
        ReasonCode.IGNORED_IN_SUBFOLDER,
        f"a subfolder with more files than the {IGNORED_LIMIT} listed: none of them are intents",
    )


def ignored_json(item: Ignored) -> dict[str, str]:
    """One ignored entry as JSON (`status`, `plan` and `--once --json` print these)."""
    return {"path": as_text(item.path), "reason": str(item.reason), "why": item.why}
