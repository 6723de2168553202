"""`reconciler.yaml` (core layer): the repository's own paths and settings, validated.

Parsed from the decoded YAML document; unknown keys are refused so a typo never silently
falls back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.signing_settings import SIGNING_KEY, SigningSettings, parse_signing
from reconciler.core.timestamps import parse_duration

PATH_KEYS = ("registryFile", "promotionStateFile", "applyStateFile", "applyTelemetryFile")
DURATION_KEYS = ("maxDecisionAge", "lockTimeout")
STRING_KEYS = ("intentsDir", "botName", "botEmail", "remote", "branch")
INTEGER_KEYS = {"telemetryRotateBytes": (1024, 1 << 30), "pushAttempts": (1, 50)}
BLOCK_KEYS = ("guards", "trust", "fleets")
"""Blocks validated by their own module (`core/guard_settings.py`, `core/trust.py`): a bad
`guards:` or `trust:` block holds progression (`guard_settings_invalid`,
`trust_settings_invalid`) but never a rollback, so it is not refused here. `fleets:` is
validated by `core/fleet_settings.py` when the layout is resolved (`fleets_invalid`)."""
KNOWN_KEYS = frozenset(
    {*PATH_KEYS, *DURATION_KEYS, *STRING_KEYS, *INTEGER_KEYS, *BLOCK_KEYS, SIGNING_KEY}
)
_HFS_IGNORABLE = frozenset(
    "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"
)
"""Code points HFS+ ignores in names (git's is_hfs_dotgit): `.g\u200cit` is `.git` there."""


def is_git_dir_name(name: str) -> bool:
    """Tell whether git takes a path component for `.git`, which it never tracks.

    Git's own rules (verify_path, with core.protectNTFS and core.protectHFS): any case,
    trailing dots and spaces, an NTFS stream suffix (`.git::$INDEX_ALLOCATION`), the 8.3
    short name `git~1`, and the code points HFS+ ignores.
    """
    folded = "".join(ch for ch in name if ch not in _HFS_IGNORABLE).split(":", 1)[0]
    return folded.rstrip(". ").casefold() in (".git", "git~1")


def git_dir_component(relative: str) -> str | None:
    """Return the first `.git`-like component of a `/`-separated relative path, else None."""
    if "git" not in relative.casefold() and _HFS_IGNORABLE.isdisjoint(relative):
        return None  # no component can fold to `.git` or `git~1` (most paths: one test)
    return next((part for part in relative.split("/") if is_git_dir_name(part)), None)


class RepoSettings(NamedTuple):
    """Settings read from `reconciler.yaml`; every field None when not set there."""

    paths: Mapping[str, str] = MappingProxyType({})
    """Repo-relative (or absolute) paths by key: registryFile, promotionStateFile, ..."""
    max_decision_age: str | None = None
    lock_timeout: str | None = None
    strings: Mapping[str, str] = MappingProxyType({})
    """intentsDir, botName, botEmail, remote, branch, when set."""
    integers: Mapping[str, int] = MappingProxyType({})
    """telemetryRotateBytes, pushAttempts, when set."""
    guards: object = None
    """The `guards:` block as decoded (`guard_settings.parse_guards` validates it); None: unset."""
    trust: object = None
    """The `trust:` block as decoded (`trust.parse_trust` validates it); None: unset."""
    fleets: object = None
    """The `fleets:` block as decoded (`fleet_settings.parse_fleets` validates it); None: unset."""
    signing: SigningSettings | None = None
    """The `signing:` block (`signing_settings.parse_signing`); None: unsigned unless
    RECONCILER_SIGNING_KEY_FILE names a key."""


def parse_repo_settings(doc: object, source: str) -> RepoSettings:
    """Validate a decoded `reconciler.yaml` document.

    Raises:
        RefusalError: not a mapping, an unknown key, or a value of the wrong type.
    """
    if doc is None:
        return RepoSettings()
    if not isinstance(doc, dict):
        raise _invalid(source, "the document must be a mapping")
    problems = [f'unknown setting "{key}"' for key in doc if key not in KNOWN_KEYS]
    paths: dict[str, str] = {}
    for key in PATH_KEYS:
        value = doc.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value or "\0" in value:
            problems.append(f"{key} must be a non-empty path string")
        else:
            paths[key] = value
    for key in DURATION_KEYS:
        value = doc.get(key)
        if value is None:
            continue
        try:
            parse_duration(str(value))
        except ValueError:
            problems.append(f"{key} must be a duration such as 30s, 10m or 24h")
    strings = _strings(doc, problems)
    integers = _integers(doc, problems)
    signing, signing_problems = parse_signing(doc.get(SIGNING_KEY), source)
    problems += signing_problems
    if SIGNING_KEY in doc and doc[SIGNING_KEY] is None:  # a block emptied: never unsigned quietly
        problems.append("signing is empty: remove the key to sign nothing, or give format and key")
    if problems:
        raise _invalid(source, *problems)
    age, lock = doc.get("maxDecisionAge"), doc.get("lockTimeout")
    return RepoSettings(
        paths=paths,
        max_decision_age=None if age is None else str(age),
        lock_timeout=None if lock is None else str(lock),
        strings=strings,
        integers=integers,
        guards=doc.get("guards"),
        trust=doc.get("trust"),
        fleets=doc.get("fleets"),
        signing=signing,
    )


def _strings(doc: dict[str, object], problems: list[str]) -> dict[str, str]:
    strings: dict[str, str] = {}
    for key in STRING_KEYS:
        value = doc.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or any(ord(c) < 32 for c in value):
            problems.append(f"{key} must be a non-empty one-line string")
        else:
            strings[key] = value
    return strings


def _integers(doc: dict[str, object], problems: list[str]) -> dict[str, int]:
    integers: dict[str, int] = {}
    for key, (low, high) in INTEGER_KEYS.items():
        value = doc.get(key)
        if value is None:
            continue
        if type(value) is not int or not low <= value <= high:
            problems.append(f"{key} must be an integer between {low} and {high}")
        else:
            integers[key] = value
    return integers


def _invalid(source: str, *problems: str) -> RefusalError:
    return RefusalError(
        ReasonCode.SETTINGS_INVALID,
        f"invalid settings file: {source}",
        details=problems,
        path=source,
    )
