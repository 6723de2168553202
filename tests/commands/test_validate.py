"""`reconcile validate` and the decision's age: older than maxDecisionAge is a warning.

A stale decision is not invalid (a rollback needs none), so validate still exits 0, but it
says so on a `warning:` line and in `--json` (`decision.stale`, `decision.maxAge`), with the
loop's limit: `maxDecisionAge` of reconciler.yaml, else 24h.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.adapters import clock
from reconciler.cli import cli
from tests.support import gitrepos as g

GENERATED = g.FIXED - timedelta(hours=6)  # the example decision's time in these repos


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(clock, "system_clock", lambda: moment)


def validate(repo: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["validate", "--repo", str(repo), *extra])


def report(repo: Path) -> dict[str, Any]:
    result = validate(repo, "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def warning_lines(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("warning: ")]


def test_a_decision_older_than_max_decision_age_is_a_warning_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    at(monkeypatch, GENERATED + timedelta(hours=30))

    result = validate(repo)

    assert result.exit_code == 0, result.output
    assert warning_lines(result) == [
        "warning: promotion decision is stale: generated 30h ago (max 24h); expand and resume "
        "will be rejected until the gates job writes a fresh one"
    ]
    assert result.stdout.endswith("\nok\n")
    doc = report(repo)
    assert doc["ok"] is True
    assert doc["decision"]["ok"] is True
    assert (doc["decision"]["stale"], doc["decision"]["maxAge"]) == (True, "24h")
    assert doc["warnings"] == [warning_lines(result)[0].removeprefix("warning: ")]


def test_a_fresh_decision_gives_no_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    at(monkeypatch, GENERATED + timedelta(hours=23, minutes=59))

    result = validate(repo)

    assert result.exit_code == 0, result.output
    assert warning_lines(result) == []
    doc = report(repo)
    assert (doc["decision"]["stale"], doc["decision"]["maxAge"], doc["warnings"]) == (
        False,
        "24h",
        [],
    )


def test_the_limit_is_max_decision_age_of_reconciler_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings="maxDecisionAge: 48h\n")
    at(monkeypatch, GENERATED + timedelta(hours=30))
    assert report(repo)["decision"]["stale"] is False

    at(monkeypatch, GENERATED + timedelta(hours=49))
    doc = report(repo)
    assert (doc["decision"]["stale"], doc["decision"]["maxAge"]) == (True, "48h")
    assert doc["warnings"][0].startswith("promotion decision is stale: generated 49h ago (max 48h)")


def test_a_decision_without_generated_at_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=None)
    at(monkeypatch, g.FIXED)

    doc = report(repo)

    assert doc["decision"]["stale"] is True
    assert doc["warnings"] == [
        "promotion decision is stale: generatedAt is missing or not a timestamp (max 24h); "
        "expand and resume will be rejected"
    ]


def test_a_decision_from_the_future_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    at(monkeypatch, GENERATED - timedelta(minutes=6))

    doc = report(repo)

    assert doc["decision"]["stale"] is True
    assert doc["warnings"] == [
        "promotion decision is from the future (2026-11-24T06:00:00Z, more than 5m ahead); "
        "expand and resume will be rejected"
    ]
