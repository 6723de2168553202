"""`--review-by 7d` on every flag path (apply, intent new, dispatch), with an injected clock.

The relative time is resolved once, where the review-by is checked, against the command's
clock; the registry, the record and the intent file hold the absolute canonical UTC time.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.adapters import clock
from reconciler.cli import cli
from reconciler.core import yamltext
from tests.support import fleet
from tests.support import gitrepos as g

NOW = g.FIXED  # 2026-11-24T12:00:00Z; the example decision is 6 h older
SEVEN_DAYS_ON = "2026-12-01T12:00:00Z"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # Commands read the clock through `reconciler.adapters.clock.system_clock` at call time.
    monkeypatch.setattr(clock, "system_clock", lambda: NOW + timedelta(microseconds=250))


def run(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv), catch_exceptions=False)


def governance(review_by: str) -> list[str]:
    return [
        "--by",
        "alice",
        "--approval-ref",
        "CAB-7",
        "--rationale",
        "why",
        "--review-by",
        review_by,
    ]


def registry_review_by(path: Path) -> str:
    doc: Any = (
        fleet.read_json(path) if path.suffix == ".json" else yamltext.load_yaml(path.read_text())
    )
    value: str = doc["policy"]["autonomous"]["governance"]["reviewBy"]
    return value


# apply ------------------------------------------------------------------------------------


def test_apply_resolves_a_relative_review_by_against_its_clock(repo: Path) -> None:
    result = run("apply", "--repo", str(repo), "--intent", "expand", *governance("7d"))

    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["governance"]["reviewBy"] == SEVEN_DAYS_ON
    assert record["governance"]["changedAt"] == "2026-11-24T12:00:00Z"
    assert registry_review_by(repo / fleet.SUPERLOOP / "registry.v1.json") == SEVEN_DAYS_ON
    assert fleet.telemetry_lines(repo)[-1]["governance"]["reviewBy"] == SEVEN_DAYS_ON


def test_apply_accepts_a_compound_duration(repo: Path) -> None:
    result = run("apply", "--repo", str(repo), "--intent", "rollback", *governance("1d12h"))

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["governance"]["reviewBy"] == "2026-11-26T00:00:00Z"


@pytest.mark.parametrize(
    ("review_by", "message", "reason"),
    [
        ("0d", "error: --review-by must be in the future", "review_by_past"),
        ("7", "error: --review-by must be an ISO-8601 timestamp", "review_by_invalid"),
        ("-7d", "error: --review-by must be an ISO-8601 timestamp", "review_by_invalid"),
    ],
)
def test_apply_refuses_a_relative_review_by_that_is_not_ahead(
    repo: Path, review_by: str, message: str, reason: str
) -> None:
    before = (repo / fleet.SUPERLOOP / "registry.v1.json").read_bytes()

    result = run("apply", "--repo", str(repo), "--intent", "expand", *governance(review_by))

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [message, f"reason: {reason}"]
    assert (repo / fleet.SUPERLOOP / "registry.v1.json").read_bytes() == before


# intent new -------------------------------------------------------------------------------


def test_intent_new_writes_the_absolute_time_into_the_file(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")

    result = run("intent", "new", "expand", "--repo", str(repo), *governance("7d"), "--json")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["intent"]["governance"]["reviewBy"] == SEVEN_DAYS_ON
    text = (repo / printed["path"]).read_text()
    assert f'  reviewBy: "{SEVEN_DAYS_ON}"\n' in text
    assert "7d" not in text


def test_an_intent_written_with_a_relative_review_by_is_applied_by_the_loop(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    written = run("intent", "new", "rollback", "--repo", str(repo), *governance("7d"))
    assert written.exit_code == 0, written.output
    g.commit_all(repo, "intent")

    # Two days later the file still means the same moment (it is not re-resolved); a
    # rollback, as the example decision is stale by then.
    report = g.once(repo, at=NOW + timedelta(days=2))

    (outcome,) = report.outcomes
    assert outcome.status == "applied"
    assert outcome.record["governance"]["reviewBy"] == SEVEN_DAYS_ON
    assert registry_review_by(repo / g.REGISTRY) == SEVEN_DAYS_ON


# dispatch ---------------------------------------------------------------------------------


def test_dispatch_apply_resolves_it_the_same_way(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")

    result = run("dispatch", "--mode", "apply", "--repo", str(repo), *governance("7d"), "--json")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["status"] == "applied"
    assert printed["record"]["governance"]["reviewBy"] == SEVEN_DAYS_ON
    assert registry_review_by(repo / g.REGISTRY) == SEVEN_DAYS_ON
    (applied,) = g.processed(repo, "applied")
    text = (repo / g.INTENTS / "applied" / applied).read_text()
    assert f'  reviewBy: "{SEVEN_DAYS_ON}"\n' in text


def test_dispatch_dry_run_previews_with_the_resolved_time(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    before = g.head(repo)

    result = run("dispatch", "--mode", "dry_run", "--repo", str(repo), *governance("36h"), "--json")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["record"]["governance"]["reviewBy"] == "2026-11-26T00:00:00Z"
    assert g.head(repo) == before and g.status(repo) == ""


def test_dispatch_rollback_refuses_a_relative_review_by_that_is_not_ahead(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    before = g.head(repo)

    result = run("dispatch", "--mode", "rollback", "--repo", str(repo), *governance("0s"))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "reason: intent_review_by_past"
    assert g.head(repo) == before and g.status(repo) == ""


@pytest.mark.parametrize(
    "command", [["intent", "new", "rollback"], ["dispatch", "--mode", "rollback"]]
)
def test_a_relative_review_by_beyond_year_9999_is_refused_as_such(
    tmp_path: Path, command: list[str]
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    before = g.head(repo)

    result = run(*command, "--repo", str(repo), *governance("99999999d"))

    assert result.exit_code == 1
    assert "beyond year 9999" in result.stderr
    assert "intent new --review-by" not in result.stderr
    assert result.stderr.splitlines()[-1] == "reason: intent_field_invalid"
    assert g.head(repo) == before and g.status(repo) == ""
