"""`reconcile intent new` as a real process: the path it prints, its JSON, its refusals.

What the file holds, its name and that it never overwrites one: in-process in
tests/loop/test_intent_files.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from reconciler.core.intents import parse_intent

NOW = datetime(2026, 11, 24, 9, 30, 42, tzinfo=UTC)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "intent", "new", *args],
        capture_output=True,
        text=True,
        check=False,
    )


GOVERNANCE = [
    "--by", "alice", "--approval-ref", "CAB-123", "--rationale", "gates: green # ok",
    "--review-by", "2099-01-01T00:00:00Z",
]  # fmt: skip


def test_cli_prints_the_path_and_the_next_step(tmp_path):
    done = run_cli("expand", "--step", "10", *GOVERNANCE, "--repo", str(tmp_path))
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip()
    assert path.startswith("policies/intents/")
    assert re.fullmatch(r"policies/intents/\d{8}T\d{6}Z-expand-cab-123-[0-9a-f]{6}\.yaml", path)
    assert done.stderr == (
        f"next: git add {path} && git commit, open a pull request; CI runs reconcile plan\n"
    )
    text = (tmp_path / path).read_text(encoding="utf-8")
    intent = parse_intent(text, os.path.basename(path), NOW)
    assert (intent.expand_step, intent.rationale) == (10, "gates: green # ok")


def test_cli_json_prints_path_and_intent(tmp_path):
    evidence = ["--evidence-ref", "a", "--evidence-ref", "b"]
    done = run_cli("rollback", *GOVERNANCE, *evidence, "--repo", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert sorted(doc) == ["intent", "path"]
    assert doc["intent"]["intent"] == "rollback"
    assert doc["intent"]["governance"]["reviewBy"] == "2099-01-01T00:00:00Z"
    assert doc["intent"]["evidenceRefs"] == ["a", "b"]
    assert doc["intent"]["idempotencyKey"] == Path(doc["path"]).stem
    assert (tmp_path / doc["path"]).is_file()


def test_cli_refuses_with_the_parsers_reason_code(tmp_path):
    done = run_cli("resume", "--step", "5", *GOVERNANCE, "--repo", str(tmp_path))
    assert done.returncode == 1
    assert "expandStep is only allowed with intent expand" in done.stderr
    assert done.stderr.endswith("reason: intent_field_invalid\n")
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_an_unknown_intent_as_a_usage_error(tmp_path):
    done = run_cli("grow", *GOVERNANCE, "--repo", str(tmp_path))
    assert done.returncode == 2
    assert list(tmp_path.iterdir()) == []
