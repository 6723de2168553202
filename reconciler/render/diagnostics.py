"""The `error:` and `warning:` lines a command writes on stderr."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.errors import ReconcileError


def error_text(error: ReconcileError) -> str:
    """`error: <message>`, one ` - <problem>` line per detail, then `reason: <code>`."""
    # The optional footer repeats the bash tool's wrapper line operators grep for.
    lines = [f"error: {error.message}", *(f" - {detail}" for detail in error.details)]
    if error.footer:
        lines.append(f"error: {error.footer}")
    lines.append(f"reason: {error.reason}")
    return "\n".join(lines) + "\n"


def fleet_refusals_text(refusals: Sequence[tuple[str, ReconcileError]]) -> str:
    """Each refused fleet of a pass over several: `error: fleet <id>: <message>`, ..."""
    return "".join(
        error_text(
            ReconcileError(error.reason, f"fleet {fleet}: {error.message}", details=error.details)
        )
        for fleet, error in refusals
    )


def warning_text(message: str) -> str:
    """`warning: <message>` and its newline."""
    return f"warning: {message}\n"
