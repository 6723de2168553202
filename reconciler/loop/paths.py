"""The loop's files as repo-relative paths (`LoopPaths`): what its commits and records name."""

from __future__ import annotations

from typing import NamedTuple


class LoopPaths(NamedTuple):
    """The loop's files, relative to the worktree's top folder (`/` separators)."""

    registry: str
    decision: str
    state: str
    telemetry: str
    index_file: str
    segments: str
    intents: str
    settings: str
    """reconciler.yaml (read by every pass)."""
