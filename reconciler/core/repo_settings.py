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
from reconciler.core.timestamps import parse_duration

PATH_KEYS = ("registryFile", "promotionStateFile", "applyStateFile", "applyTelemetryFile")
DURATION_KEYS = ("maxDecisionAge", "lockTimeout")


class RepoSettings(NamedTuple):
    """Settings read from `reconciler.yaml`; every field None when not set there."""

    paths: Mapping[str, str] = MappingProxyType({})
    """Repo-relative (or absolute) paths by key: registryFile, promotionStateFile, ..."""
    max_decision_age: str | None = None
    lock_timeout: str | None = None


def parse_repo_settings(doc: object, source: str) -> RepoSettings:
    """Validate a decoded `reconciler.yaml` document.

    Raises:
        RefusalError: not a mapping, an unknown key, or a value of the wrong type.
    """
    if doc is None:
        return RepoSettings()
    if not isinstance(doc, dict):
        raise _invalid(source, "the document must be a mapping")
    problems = [
        f'unknown setting "{key}"' for key in doc if key not in (*PATH_KEYS, *DURATION_KEYS)
    ]
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
    if problems:
        raise _invalid(source, *problems)
    age, lock = doc.get("maxDecisionAge"), doc.get("lockTimeout")
    return RepoSettings(
        paths=paths,
        max_decision_age=None if age is None else str(age),
        lock_timeout=None if lock is None else str(lock),
    )


def _invalid(source: str, *problems: str) -> RefusalError:
    return RefusalError(
        ReasonCode.SETTINGS_INVALID,
        f"invalid settings file: {source}",
        details=problems,
        path=source,
    )
