"""Inputs mean exactly one thing (issue 9, items 10-12) on real git repos and real processes.

- registry YAML that other tools read differently at an owned field is refused on every path
  (`--once`, `apply`, `status`, `plan`, `validate`), rollback included;
- blank governance is missing governance (`apply --by ' '`, intent files, `intent new`);
- a `promote` decision that contradicts itself refuses expand and resume, never rollback.

The `--once` pass's own checks of intent files and decisions run in-process in
tests/loop/test_once_inputs.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from tests.support import gitrepos as g
from tests.support.gitrepos import INTENTS, REVIEW_BY, ROOT
from tests.support.loops import CONTRADICTIONS, edit_decision

MERGED_PAUSE = "      pause: {<<: {manual: true}}\n"
PAUSE = "      pause:\n        manual: false       # true stops autonomous actions fleet-wide\n"
GOVERNANCE = ["--approval-ref", "CAB-9", "--rationale", "why", "--review-by", REVIEW_BY]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # A decision the real clock of a subprocess finds fresh (the loop's default max age 24h).
    return g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())


def edit_registry(repo: Path, old: str, new: str) -> str:
    path = repo / g.REGISTRY
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    g.commit_all(repo, "operator edit")
    return path.read_text()


def apply(repo: Path, intent: str, *governance: str) -> subprocess.CompletedProcess[str]:
    return g.reconcile(repo, "apply", "--repo", ".", "--intent", intent, *governance)


def reason(done: subprocess.CompletedProcess[str]) -> str:
    return done.stderr.splitlines()[-1]


# Item 10: registry YAML other tools read differently ------------------------------------------


def test_a_merged_pause_with_a_resume_is_refused_by_the_loop_and_nothing_is_consumed(
    repo: Path,
) -> None:
    # PyYAML and ruamel read this registry as paused; we would read "not paused" and record
    # the resume as rollout_unchanged while every other tool still sees a paused fleet.
    edit_registry(repo, PAUSE, MERGED_PAUSE)
    g.add_intents(repo, {"a-resume.yaml": {"intent": "resume"}})
    before = g.head(repo)

    done = g.run_cli(repo)

    assert done.returncode == 1, done.stdout
    assert reason(done) == "reason: registry_yaml_ambiguous"
    assert done.stderr.startswith(
        "error: ambiguous fleet registry YAML at fields the reconciler owns: "
    )
    assert "policy.autonomous.rollout.pause has a merge key (<<)" in done.stderr
    assert g.head(repo) == before
    assert g.pending(repo) == ["a-resume.yaml"]
    assert g.status(repo) == ""


def test_a_merged_pause_with_a_resume_is_refused_by_apply_and_nothing_is_written(
    repo: Path,
) -> None:
    text = edit_registry(repo, PAUSE, MERGED_PAUSE)

    done = apply(repo, "resume", "--by", "alice", *GOVERNANCE)

    assert done.returncode == 1, done.stdout
    assert reason(done) == "reason: registry_yaml_ambiguous"
    assert "error: failed to read/validate fleet registry" in done.stderr
    assert (repo / g.REGISTRY).read_text() == text
    assert g.status(repo) == ""


def test_a_rollback_through_a_merge_key_is_refused_too(repo: Path) -> None:
    # The rollback could not set pause.manual unambiguously: the merge sits on its path.
    edit_registry(repo, PAUSE, MERGED_PAUSE)
    g.add_intents(repo, {"a-rollback.yaml": {"intent": "rollback"}})

    with pytest.raises(RefusalError) as caught:
        g.once(repo, at=g.recent())
    assert caught.value.reason == "registry_yaml_ambiguous"
    assert g.pending(repo) == ["a-rollback.yaml"]

    done = apply(repo, "rollback", "--by", "alice", *GOVERNANCE)
    assert reason(done) == "reason: registry_yaml_ambiguous"


def test_a_leading_zero_canary_is_refused_by_the_loop_and_by_apply(repo: Path) -> None:
    # `025` is 21 to YAML 1.1 readers and 25 to us.
    text = edit_registry(repo, "canaryPercent: 25 ", "canaryPercent: 025")
    g.add_intents(repo, {"a-expand.yaml": {}})

    with pytest.raises(RefusalError) as caught:
        g.once(repo, at=g.recent())
    assert caught.value.reason == "registry_yaml_ambiguous"
    [detail] = caught.value.details
    assert detail.startswith("line 30, column 22: policy.autonomous.rollout.canaryPercent")
    assert "reads as 25 and YAML 1.1 tools such as PyYAML as 21" in detail
    assert g.pending(repo) == ["a-expand.yaml"]

    done = apply(repo, "expand", "--by", "alice", *GOVERNANCE)
    assert done.returncode == 1
    assert reason(done) == "reason: registry_yaml_ambiguous"
    assert (repo / g.REGISTRY).read_text() == text


def test_status_plan_and_validate_refuse_an_ambiguous_owned_field(repo: Path) -> None:
    edit_registry(repo, "canaryPercent: 25 ", "canaryPercent: 025")
    g.add_intents(repo, {"a-expand.yaml": {}})

    status = g.reconcile(repo, "status")
    plan = g.reconcile(repo, "plan", "--base", "HEAD")
    validate = g.reconcile(repo, "validate", "--repo", ".", "--json")

    assert reason(status) == "reason: registry_yaml_ambiguous", status.stderr
    assert reason(plan) == "reason: registry_yaml_ambiguous", plan.stderr
    assert validate.returncode == 1
    report = json.loads(validate.stdout)["registry"]
    assert report["reasonCode"] == "registry_yaml_ambiguous"
    assert report["problems"][0].startswith(
        "line 30, column 22: policy.autonomous.rollout.canaryPercent is written `025`"
    )


def test_the_same_constructs_elsewhere_are_validate_warnings_and_apply_proceeds(
    repo: Path,
) -> None:
    edit_registry(
        repo,
        "  - loopId: loop-a\n    transport: local\n",
        "  - loopId: loop-a\n    transport: local\n    metadata: {<<: {zone: a}, shard: 025}\n",
    )

    validate = g.reconcile(repo, "validate", "--repo", ".", "--json")
    done = apply(repo, "expand", "--by", "alice", *GOVERNANCE)

    assert validate.returncode == 0, validate.stdout
    warnings = json.loads(validate.stdout)["warnings"]
    assert [line.split(": ", 1)[0] for line in warnings] == [
        "registry YAML line 12, column 16",
        "registry YAML line 12, column 38",
    ]
    assert "loops[0].metadata has a merge key (<<)" in warnings[0]
    assert "loops[0].metadata.shard is written `025`" in warnings[1]
    assert done.returncode == 0, done.stderr
    assert "canaryPercent: 50" in (repo / g.REGISTRY).read_text()


# Item 11: blank governance -----------------------------------------------------------------


@pytest.mark.parametrize("blank", [" ", "\u200b", "\u00a0", "\t"], ids=repr)
def test_apply_refuses_a_blank_by_as_missing(repo: Path, blank: str) -> None:
    text = (repo / g.REGISTRY).read_text()

    done = apply(repo, "rollback", "--by", blank, *GOVERNANCE)

    assert done.returncode == 1
    assert done.stderr == "error: --by is required\nreason: governance_missing\n"
    assert (repo / g.REGISTRY).read_text() == text
    assert g.status(repo) == ""


def test_intent_new_refuses_a_blank_by_and_writes_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "intent", "new", "expand", "--by", " "]
        + [*GOVERNANCE, "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
        check=False,
    )

    assert done.returncode == 1
    assert reason(done) == "reason: intent_governance_missing"
    assert " - governance.actor is required" in done.stderr
    assert not (tmp_path / INTENTS).exists()


# Item 12: a decision that contradicts itself ------------------------------------------------


@pytest.mark.parametrize(("summary", "found"), CONTRADICTIONS)
def test_apply_refuses_expand_under_a_contradicting_promote_and_applies_the_rollback(
    repo: Path, summary: dict[str, Any], found: str
) -> None:
    edit_decision(repo, **summary)
    text = (repo / g.REGISTRY).read_text()

    refused = apply(repo, "expand", "--by", "alice", *GOVERNANCE)
    resumed = apply(repo, "resume", "--by", "alice", *GOVERNANCE)

    for done, intent in ((refused, "expand"), (resumed, "resume")):
        assert done.returncode == 1
        assert done.stderr == (
            f"error: intent {intent} refused: the promotion decision says promote but {found}; "
            "regenerate it\nreason: promotion_decision_inconsistent\n"
        )
    assert (repo / g.REGISTRY).read_text() == text

    rolled_back = apply(repo, "rollback", "--by", "alice", *GOVERNANCE)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert json.loads(rolled_back.stdout)["rollout"]["after"]["manualPause"] is True


def test_validate_and_status_report_a_contradicting_promote(repo: Path) -> None:
    edit_decision(repo, promote=False)

    validate = g.reconcile(repo, "validate", "--repo", ".", "--json")
    status = g.reconcile(repo, "status", "--json")

    assert validate.returncode == 1
    report = json.loads(validate.stdout)["decision"]
    assert report["reasonCode"] == "promotion_decision_inconsistent"
    assert report["problems"] == ["summary.promote is false"]
    assert status.returncode == 0, status.stderr
    assert (
        "the promotion decision says promote but summary.promote is false; expand and resume "
        "will be rejected"
    ) in json.loads(status.stdout)["warnings"]
