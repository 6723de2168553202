"""`reconcile status` as a real process on real git repositories: its output, read-only.

The JSON and the text printed on the real clock, nothing written (not a file, not a ref), and
the exit code and error lines of a refusal (the report in-process: tests/reports/test_status.py).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import REGISTRY, reconcile
from tests.support.statuses import set_review_by, stamp


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")


def snapshot(repo: Path) -> dict[str, Any]:
    return {
        "files": {
            str(path.relative_to(repo)): path.read_bytes()
            for path in sorted(repo.rglob("*"))
            if path.is_file() and ".git" not in path.relative_to(repo).parts
        },
        "git": sorted(str(p.relative_to(repo)) for p in (repo / ".git").rglob("*")),
        "refs": g.git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "status": g.git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all"),
    }


def test_status_json_and_text_from_a_real_process(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=now - timedelta(minutes=30))
    set_review_by(repo, stamp(now + timedelta(days=3, hours=1)))
    g.add_intents(repo, {"10-expand.yaml": {"step": 10, "approval_ref": "CAB-1"}})

    as_json = reconcile(repo, "status", "--json")
    text = reconcile(tmp_path, "status", "--repo", "repo")

    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert as_json.stdout.startswith("{\n  ")  # indented
    assert report["governance"]["daysLeft"] in (3.0, 3.1)
    assert report["decision"]["stale"] is False
    assert 30 * 60 <= report["decision"]["ageSeconds"] < 40 * 60
    assert [row["status"] for row in report["pending"]] == ["applied"]
    assert len(report["warnings"]) == 1
    assert re.fullmatch(r"governance review due in 7[23]h\S* \(\S+Z\)", report["warnings"][0])
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "fleet fleet-a: canary 25%, running, mode guarded_auto"
    assert lines[1].startswith("governance: ops-initial (CAB-100), changed 2026-11-01T09:00:00Z")
    assert "days left)" in lines[1]
    assert lines[2].startswith("decision: promote (gates-2026-11-24-0600), age 30m")
    assert lines[2].endswith("(max 24h); failed gates: none")
    assert "pending intents (1), predicted:" in text.stdout
    assert "10-expand.yaml" in text.stdout
    assert text.stderr.startswith("warning: governance review due in 7")


def test_status_writes_nothing(repo: Path) -> None:
    g.add_intents(repo, {"10-expand.yaml": {"step": 10}})
    g.write_intent(repo, "20-rollback.yaml", intent="rollback")  # an uncommitted one too
    before = snapshot(repo)

    for args in (["status"], ["status", "--json"]):
        done = reconcile(repo, *args)
        assert done.returncode == 0, done.stderr

    assert snapshot(repo) == before


def test_status_refuses_an_invalid_registry(repo: Path) -> None:
    path = repo / REGISTRY
    path.write_text(path.read_text().replace("canaryPercent: 25 ", "canaryPercent: 250 ", 1))

    done = reconcile(repo, "status")

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "reason: registry_invalid"


def test_status_outside_a_git_repository_fails_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()

    done = reconcile(tmp_path / "plain", "status")

    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert done.stderr.splitlines()[-1].startswith("reason: ")
    assert "Traceback" not in done.stderr
