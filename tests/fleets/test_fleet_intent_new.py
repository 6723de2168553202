"""`reconcile intent new --fleet ID` on a repository with several fleets, as a real process.

The file goes to the fleet's intents folder and says `fleet: <id>`; the loop then applies it
to that fleet, and rejects it (`intent_fleet_mismatch`) once moved to another fleet's folder.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support import gitrepos as g
from tests.support.fleets import fleet_canary, intents, make_fleets_repo

GOVERNANCE = ("--by", "alice", "--approval-ref", "CAB-7", "--rationale", "gates green")


def intent_new(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return g.reconcile(
        repo, "intent", "new", "expand", "--step", "5", *GOVERNANCE, "--review-by", "7d", *args
    )


def fleets_repo(tmp_path: Path) -> Path:
    return make_fleets_repo(tmp_path / "r", generated_at=g.recent())


def test_intent_new_writes_into_the_fleets_folder_and_the_loop_applies_it_there(
    tmp_path: Path,
) -> None:
    repo = fleets_repo(tmp_path)
    result = intent_new(repo, "--fleet", "prod-eu", "--json")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    path = Path(written["path"])
    assert path.parent == Path(intents("prod-eu"))
    assert written["intent"]["fleet"] == "prod-eu"
    assert 'intent: "expand"\nfleet: "prod-eu"\n' in (repo / path).read_text()
    assert f"next: git add {path} && git commit" in result.stderr
    g.git(repo, "add", str(path))
    g.git(repo, "commit", "-q", "-m", "expand prod-eu")

    done = g.run_cli(repo, "--json")
    assert done.returncode == 0, done.stderr
    assert [(row["fleet"], row["status"]) for row in g.json_lines(done.stdout)[:-1]] == [
        ("prod-eu", "applied")
    ]
    assert (fleet_canary(repo, "prod-eu"), fleet_canary(repo, "staging")) == (30, 25)
    assert g.processed(repo, "applied", intents("prod-eu")) == [path.name]
    assert g.trailer(repo, "HEAD", "Fleet") == "prod-eu"


def test_an_intent_new_file_moved_to_another_fleets_folder_is_rejected(tmp_path: Path) -> None:
    repo = fleets_repo(tmp_path)
    result = intent_new(repo, "--fleet", "prod-eu")
    assert result.returncode == 0, result.stderr
    written = Path(result.stdout.strip())
    moved = Path(intents("staging")) / written.name
    (repo / moved).parent.mkdir(parents=True)
    (repo / moved).write_bytes((repo / written).read_bytes())
    (repo / written).unlink()
    g.git(repo, "add", "-A")
    g.git(repo, "commit", "-q", "-m", "expand, in the wrong folder")

    done = g.run_cli(repo, "--json")
    assert done.returncode == 3, done.stderr
    [row, _summary] = g.json_lines(done.stdout)
    assert (row["fleet"], row["status"], row["reasonCodes"]) == (
        "staging",
        "rejected",
        ["intent_fleet_mismatch"],
    )
    assert (fleet_canary(repo, "prod-eu"), fleet_canary(repo, "staging")) == (25, 25)


def test_intent_new_without_fleet_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    repo = fleets_repo(tmp_path)
    result = intent_new(repo)
    assert result.returncode == 1
    assert result.stderr == (
        "error: intent new works on one fleet; pass --fleet (one of: prod-eu, staging)\n"
        "reason: fleet_required\n"
    )
    assert g.status(repo) == ""


def test_intent_new_with_an_unknown_fleet_is_refused(tmp_path: Path) -> None:
    repo = fleets_repo(tmp_path)
    result = intent_new(repo, "--fleet", "prod-us")
    assert result.returncode == 1
    assert "reason: fleet_unknown" in result.stderr
    assert g.status(repo) == ""


def test_intent_new_in_a_single_fleet_repository_refuses_fleet_and_writes_no_fleet_field(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "r", paced=False)
    refused = intent_new(repo, "--fleet", "default")
    assert refused.returncode == 1
    assert "this repository holds one fleet" in refused.stderr
    assert "reason: fleet_unknown" in refused.stderr
    assert g.status(repo) == ""
    result = intent_new(repo)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).parent == Path(g.INTENTS)
    assert "fleet" not in (repo / result.stdout.strip()).read_text()


def test_an_expand_above_the_fleets_max_step_is_refused_by_intent_new_and_validate(
    tmp_path: Path,
) -> None:
    # prod-eu allows steps of 10: a step of 20 was written (exit 0) and `validate --intents`
    # passed it, then every pass rejected it (never clamped). staging keeps the top's 25.
    settings = (
        "guards:\n  decisionAfterChange: false\n  maxExpandStep: 25\n"
        "fleets:\n  prod-eu:\n    guards: {maxExpandStep: 10}\n"
    )
    repo = make_fleets_repo(tmp_path / "r", settings=settings)
    refused = g.reconcile(
        repo, "intent", "new", "expand", "--step", "20", *GOVERNANCE, "--review-by", "7d",
        "--fleet", "prod-eu",
    )  # fmt: skip
    assert refused.returncode == 1
    assert "reason: intent_expand_step_over_limit" in refused.stderr
    assert "guards.maxExpandStep (10)" in refused.stderr
    assert g.status(repo) == ""
    fine = g.reconcile(
        repo, "intent", "new", "expand", "--step", "20", *GOVERNANCE, "--review-by", "7d",
        "--fleet", "staging",
    )  # fmt: skip
    assert fine.returncode == 0, fine.stderr
    # The same file in prod-eu's folder: the pre-commit check says what the pass would.
    written = repo / fine.stdout.strip()
    moved = repo / intents("prod-eu") / written.name
    moved.parent.mkdir(parents=True, exist_ok=True)
    text = written.read_text()
    assert text.count("staging") == 1  # its fleet: line
    moved.write_text(text.replace("staging", "prod-eu"))
    rows = g.reconcile(
        repo, "validate", "--intents", "--json", str(written), str(moved)
    ).stdout.splitlines()
    found = {Path(row["path"]).parent.parent.name: row for row in map(json.loads, rows)}
    assert found["staging"]["ok"] is True
    assert found["prod-eu"]["reasonCodes"] == ["intent_expand_step_over_limit"]
    g.commit_all(repo, "the intents")
    report = g.once(repo)
    assert sorted((o.state.fleet_id, o.status, o.reasons) for o in report.outcomes) == [
        ("prod-eu", "rejected", ("intent_expand_step_over_limit",)),
        ("staging", "applied", ()),
    ]
    assert fleet_canary(repo, "staging") == 45
