"""A rejected intent keeps what could be read of it: the action and the actor, everywhere.

The file says `intent: expand` and `actor: bob` but has an invalid `expandStep`: it is
rejected, and the `--once` table and JSON row, the commit's trailers, its telemetry record and
`reconcile history` (table and JSON) all show `expand` and `bob`, not `invalid` and a blank.
In-process (CliRunner) on a real git repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.support import gitrepos as g

NAME = "30-expand-typo.yaml"
TYPO = g.intent_text("expand", step=500, actor="bob", approval_ref="CAB-7")


def invoke(*argv: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(argv), catch_exceptions=False)
    return result.exit_code, result.stdout


def cells(stdout: str, marker: str) -> set[str]:
    """The words of the one table line that holds `marker` (any box characters)."""
    (line,) = [line for line in stdout.splitlines() if marker in line]
    return set(re.split(r"[\s│┃|]+", line))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())
    g.add_intents(path, {NAME: TYPO})
    return path


def once_json(repo: Path) -> dict[str, Any]:
    code, out = invoke("--once", "--repo", str(repo), "--json")
    assert code == 3
    (row,) = [row for row in g.json_lines(out) if row["type"] == "intent"]
    return row


def test_the_once_json_row_and_the_trailers_keep_action_and_actor(repo: Path) -> None:
    row = once_json(repo)

    assert (row["status"], row["reasonCodes"]) == ("rejected", ["intent_field_invalid"])
    assert (row["action"], row["actor"], row["approvalRef"]) == ("expand", "bob", "CAB-7")
    trailers = g.trailers(repo, row["commit"])
    assert trailers["Reconcile-Action"] == "expand"
    assert (trailers["Actor"], trailers["Approval-Ref"]) == ("bob", "CAB-7")
    assert row["trailers"] == trailers
    (record,) = g.records(repo)
    assert (record["status"], record["intent"], record["expandStep"]) == (
        "rejected",
        "expand",
        None,
    )
    assert record["governance"] == {
        "actor": "bob",
        "approvalRef": "CAB-7",
        "rationale": "gates green for 7 days",
        "reviewBy": g.REVIEW_BY,
    }


def test_a_partly_read_record_matches_the_record_schema(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator

    repo = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())
    text = TYPO.replace("  approvalRef: CAB-7\n", "").replace(g.REVIEW_BY, "soon")
    g.add_intents(repo, {NAME: text})
    row = once_json(repo)
    (record,) = g.records(repo)
    assert row["actor"] == "bob"
    assert record["governance"] == {
        "actor": "bob",
        "approvalRef": None,
        "rationale": "gates green for 7 days",
        "reviewBy": None,  # not a timestamp: none is named
    }
    code, schema = invoke("schema", "record")
    assert code == 0
    Draft202012Validator(json.loads(schema)).validate(record)


def test_the_once_table_keeps_action_and_actor(repo: Path) -> None:
    code, out = invoke("--once", "--repo", str(repo))

    assert code == 3
    assert {"expand", "rejected", "bob"} <= cells(out, NAME)
    assert "invalid" not in cells(out, NAME)


def test_history_keeps_action_and_actor(repo: Path) -> None:
    commit = once_json(repo)["commit"]

    code, out = invoke("history", "--repo", str(repo), "--json")
    assert code == 0
    (entry,) = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert (entry["commit"], entry["status"]) == (commit, "rejected")
    assert (entry["action"], entry["actor"], entry["approvalRef"]) == ("expand", "bob", "CAB-7")
    code, out = invoke("history", "--repo", str(repo))
    assert code == 0
    assert {"expand", "rejected", "bob", "CAB-7"} <= cells(out, commit[:7])


def test_a_file_that_names_no_intent_stays_invalid(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())
    g.add_intents(repo, {"40-grow.yaml": TYPO.replace("intent: expand", "intent: grow")})

    code, out = invoke("--once", "--repo", str(repo), "--json")

    assert code == 3
    (row,) = [row for row in g.json_lines(out) if row["type"] == "intent"]
    assert (row["action"], row["actor"]) == ("invalid", "bob")
    assert g.trailers(repo, row["commit"])["Reconcile-Action"] == "invalid"
