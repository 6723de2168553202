"""Reading the registry and the decision (every command reads them here) and duration flags."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, NamedTuple

from reconciler.adapters import files
from reconciler.core import decision, editing, jsontext
from reconciler.core.errors import DocumentError, RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import parse_duration

REGISTRY_LIMIT = 4 * 1024 * 1024
DECISION_LIMIT = 16 * 1024 * 1024


class LoadedRegistry(NamedTuple):
    """A registry file, parsed once: its document, and its text ready for a minimal edit."""

    path: str
    parsed: editing.RegistryText

    @property
    def doc(self) -> object:
        """The decoded document."""
        return self.parsed.document


def registry_format(path: str) -> Literal["json", "yaml"]:
    """Return `json` for a `.json` registry, `yaml` for anything else (YAML 1.2 reads both)."""
    return "json" if path.lower().endswith(".json") else "yaml"


def load_registry(path: str) -> LoadedRegistry:
    """Read and decode the registry.

    Raises:
        RefusalError: missing, not a regular file, too large, not UTF-8 or not parseable, or
            YAML that other tools read differently at a field the reconciler owns
            (`registry_yaml_ambiguous`).
    """
    data = files.read_bounded(path, REGISTRY_LIMIT, what="fleet registry")
    if data is None:
        raise RefusalError(
            ReasonCode.REGISTRY_MISSING, f"fleet registry file not found: {path}", path=path
        )
    text = files.decode_utf8(data, path, what="fleet registry")
    fmt = registry_format(path)
    try:
        parsed = editing.RegistryText(text, fmt)
    except DocumentError as exc:
        raise RefusalError(
            ReasonCode.REGISTRY_PARSE_ERROR,
            f"invalid fleet registry {fmt.upper()}: {path}",
            details=[exc.message],
            path=path,
        ) from exc
    if fmt == "yaml":
        # Imported here: a JSON registry (the bash tool's layout) never loads PyYAML (~12 ms).
        from reconciler.core import registry_yaml

        registry_yaml.check_owned_fields(parsed, path)
    return LoadedRegistry(path, parsed)


def load_decision(path: str) -> decision.Decision:
    """Read the promotion decision.

    Raises:
        RefusalError: with the bash tool's messages for a missing, invalid or empty decision.
    """
    # Read-only input: a symlink (e.g. to the gates job's output) is followed.
    data = files.read_bounded(
        path, DECISION_LIMIT, what="promotion state file", follow_symlinks=True
    )
    if data is None:
        raise RefusalError(
            ReasonCode.PROMOTION_STATE_MISSING,
            f"promotion state file not found: {path}",
            path=path,
        )
    try:
        doc = jsontext.load_json(files.decode_utf8(data, path).removeprefix("\ufeff"))
    except (DocumentError, RefusalError) as exc:
        raise RefusalError(
            ReasonCode.PROMOTION_STATE_INVALID, f"invalid promotion state JSON: {path}", path=path
        ) from exc
    return decision.read_decision(doc)


def parse_duration_option(flag: str, value: str | None) -> timedelta | None:
    """Parse a duration flag, None when unset.

    Raises:
        RefusalError: the value is not a duration.
    """
    if value is None or value == "":
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise RefusalError(
            ReasonCode.DURATION_INVALID,
            f"{flag} must be a duration such as 30s, 10m or 24h (got {value!r})",
        ) from None
