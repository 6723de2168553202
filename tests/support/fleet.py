"""Fixture builders for fleet registries and decisions (the bash tool's REG/PSTATE/GOV)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXED_NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
SUPERLOOP = Path(".superloop/ops-manager/fleet")
REVIEW_BY = "2099-01-01T00:00:00Z"


def registry_doc(
    canary: object = 25, manual: object = False, mode: str = "guarded_auto"
) -> dict[str, Any]:
    """REG(c, p) from the bash tool's test suite."""
    rollout: dict[str, Any] = {}
    if canary is not None:
        rollout["canaryPercent"] = canary
    if manual is not None:
        rollout["pause"] = {"manual": manual}
    return {
        "schemaVersion": "v1",
        "fleetId": "fleet-phase11",
        "loops": [
            {"loopId": "loop-a", "transport": "local"},
            {"loopId": "loop-b", "transport": "local"},
        ],
        "policy": {
            "mode": mode,
            "autonomous": {
                "governance": {
                    "actor": "ops-initial",
                    "approvalRef": "CAB-0",
                    "rationale": "initial",
                    "changedAt": "2026-02-23T00:00:00Z",
                    "reviewBy": REVIEW_BY,
                },
                "rollout": rollout,
            },
        },
    }


def write_registry(repo: Path, canary: object = 25, manual: object = False, **kw: Any) -> Path:
    """Write REG(c, p) as `.superloop/ops-manager/fleet/registry.v1.json` (2-space JSON)."""
    return write_json(repo / SUPERLOOP / "registry.v1.json", registry_doc(canary, manual, **kw))


def write_decision(
    repo: Path,
    decision: str | None,
    *,
    generated_at: str | None = None,
    trace_id: str | None = None,
    path: Path | None = None,
) -> Path:
    """Write PSTATE(d), optionally with generatedAt and traceId."""
    doc: dict[str, Any] = {"schemaVersion": "v1", "summary": {"reasonCodes": []}}
    if decision is not None:
        doc["summary"]["decision"] = decision
    if generated_at is not None:
        doc["generatedAt"] = generated_at
    if trace_id is not None:
        doc["traceId"] = trace_id
    return write_json(path or repo / SUPERLOOP / "promotion-state.json", doc)


def write_json(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def telemetry_lines(repo: Path) -> list[dict[str, Any]]:
    path = repo / SUPERLOOP / "telemetry" / "promotion-apply.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def gov(ref: str = "CAB-111", why: str = "phase11") -> list[str]:
    """GOV(ref, why) as CLI flags."""
    return ["--by", "ops-user", "--approval-ref", ref, "--rationale", why, "--review-by", REVIEW_BY]
