"""Repositories with several fleets (`policies/fleets/<id>/`) for the tests."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.gitrepos import EXAMPLE, FIXED, commit_all, git, write_decision, write_intent

FLEETS = "policies/fleets"


def fleet_path(fleet: str, name: str) -> str:
    """A fleet's file, repo-relative: `fleet_path("staging", "registry.yaml")`."""
    return f"{FLEETS}/{fleet}/{name}"


def intents(fleet: str) -> str:
    return fleet_path(fleet, "intents")


def telemetry(fleet: str) -> str:
    return fleet_path(fleet, "telemetry/promotion-apply.jsonl")


def make_fleets_repo(
    path: Path,
    fleets: tuple[str, ...] = ("staging", "prod-eu"),
    *,
    settings: str = "guards:\n  decisionAfterChange: false\n",
    generated_at: datetime = FIXED - timedelta(hours=6),
    canary: dict[str, int] | None = None,
) -> Path:
    """A git repo (branch main) with one example fleet folder per id, committed.

    Each registry's fleetId is its folder name; `canary` sets a fleet's canaryPercent.
    `settings` becomes reconciler.yaml (every guard off by default).
    """
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Operator")
    git(path, "config", "user.email", "operator@example.com")
    for fleet in fleets:
        folder = path / FLEETS / fleet
        folder.mkdir(parents=True)
        shutil.copy(EXAMPLE / ".gitignore", folder / ".gitignore")
        text = (
            (EXAMPLE / "registry.yaml").read_text().replace("fleetId: fleet-a", f"fleetId: {fleet}")
        )
        if canary and fleet in canary:
            text = text.replace("canaryPercent: 25 ", f"canaryPercent: {canary[fleet]} ", 1)
        (folder / "registry.yaml").write_text(text)
        write_decision(
            path, generated_at=generated_at, path=fleet_path(fleet, "promotion/decision.json")
        )
    if settings:
        (path / "reconciler.yaml").write_text(settings)
    commit_all(path, "policies: fleets")
    return path


def add_fleet_intents(repo: Path, fleet: str, specs: dict[str, dict[str, Any]]) -> str:
    """Write intent files into a fleet's folder and commit them."""
    for name, spec in specs.items():
        write_intent(repo, name, folder=intents(fleet), **spec)
    git(repo, "add", "--", *(f"{intents(fleet)}/{name}" for name in specs))
    git(repo, "commit", "-q", "--no-verify", "-m", f"intents for {fleet}: {', '.join(specs)}")
    return git(repo, "rev-parse", "HEAD").strip()


def fleet_canary(repo: Path, fleet: str) -> int:
    for line in (repo / fleet_path(fleet, "registry.yaml")).read_text().splitlines():
        if line.strip().startswith("canaryPercent:"):
            return int(line.split(":", 1)[1].split("#", 1)[0])
    raise AssertionError("no canaryPercent line")
