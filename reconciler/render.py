"""The only user-facing printing: records and reports on stdout, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from reconciler.core.errors import ReconcileError


def print_json(value: object, *, pretty: bool = False) -> None:
    """Print a JSON value on stdout: compact like `jq -c`, or indented with --pretty."""
    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent=2)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write(text + "\n")


def print_error(error: ReconcileError) -> None:
    """Print `error: <message>`, one ` - <problem>` line per detail, then the reason code."""
    # The optional footer repeats the bash tool's wrapper line operators grep for.
    lines = [f"error: {error.message}", *(f" - {detail}" for detail in error.details)]
    if error.footer:
        lines.append(f"error: {error.footer}")
    lines.append(f"reason: {error.reason}")
    sys.stderr.write("\n".join(lines) + "\n")


def print_warning(message: str) -> None:
    """Print `warning: <message>` on stderr."""
    sys.stderr.write(f"warning: {message}\n")


def print_validation(report: Mapping[str, Any]) -> None:
    """Print a `reconcile validate` report for people (stdout), problems as ` - ` lines."""
    layout = report["layout"]
    out = [f"layout: {layout['name']} ({layout['reason']})"]
    labels = {
        "registryFile": "registry",
        "promotionStateFile": "decision",
        "applyStateFile": "apply state",
        "applyTelemetryFile": "telemetry",
    }
    for key, label in labels.items():
        out.append(f"  {label + ':':<13}{layout['paths'][key]}  [{layout['sources'][key]}]")
    for section in ("registry", "decision", "telemetry"):
        part = report[section]
        out.append(f"{section}: {part['summary']}")
        out.extend(f" - {problem}" for problem in part.get("problems", []))
    out.extend(f"warning: {warning}" for warning in report["warnings"])
    out.append("ok" if report["ok"] else "invalid")
    sys.stdout.write("\n".join(out) + "\n")
