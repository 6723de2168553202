"""The `Fleet` value: one registry with its decision, state, telemetry and intents folder.

Every command works on a Fleet (absolute paths from `inputs.layouts.resolve_layout`; the loop
also keeps a repo-relative copy for commits and records). Today a repository holds one fleet,
`default`; a later issue turns the one fleet into a list (`policies/fleets/<id>/`).
"""

from __future__ import annotations

from typing import NamedTuple

DEFAULT_FLEET_ID = "default"

SETTING_KEYS = {
    "registry": "registryFile",
    "decision": "promotionStateFile",
    "state": "applyStateFile",
    "telemetry": "applyTelemetryFile",
}
"""Fleet file -> its key in reconciler.yaml, in a record's `files` block and in validate's
report (the bash tool's names)."""


class PathFlags(NamedTuple):
    """Explicit path flags of a command (None: not given); they beat reconciler.yaml."""

    registry: str | None = None
    decision: str | None = None
    state: str | None = None
    telemetry: str | None = None

    def get(self, setting_key: str) -> str | None:
        """The flag for a reconciler.yaml path key (`registryFile`, ...), None when unset."""
        for name, key in SETTING_KEYS.items():
            if key == setting_key:
                value: str | None = getattr(self, name)
                return value
        return None


class Fleet(NamedTuple):
    """One fleet's files and folders (all absolute, or all repo-relative with `/`)."""

    id: str
    registry: str
    """The fleet registry (JSON or YAML by extension)."""
    decision: str
    """The promotion decision (JSON), written by the evidence evaluator."""
    state: str
    """The latest apply record (JSON)."""
    telemetry: str
    """The active telemetry segment (JSON lines); sealed segments sit beside it."""
    intents: str
    """The intents folder (pending intents; `applied/` and `rejected/` below it)."""

    def files_block(self) -> dict[str, str]:
        """The `files` block of a record (and validate's `paths`): setting key -> path."""
        return {key: getattr(self, name) for name, key in SETTING_KEYS.items()}

    def file_named(self, setting_key: str) -> str:
        """The path of a file by its reconciler.yaml key (`registryFile`, ...)."""
        return self.files_block()[setting_key]
