"""Rollback to a lower canary in the loop, on real git repositories (issue 11).

A rollback intent with `toPercent` sets the canary and pauses in one commit
(`rollback fleet-a: canary 50% -> 25%, paused`, `Canary: 50 -> 25`); `previous` goes back to
the canary before the newest applied expand that raised it, from the committed records (in
the same pass, or in a sealed segment); `dispatch --to-percent` and `intent new --to-percent`
write such an intent; `plan` predicts what the pass commits.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.adapters import clock
from reconciler.cli import cli
from reconciler.core.errors import RefusalError
from reconciler.core.outcome_rows import outcome_row
from reconciler.loop.dispatch import DispatchArgs, dispatch
from reconciler.reports.plan import make_plan
from tests.support import gitrepos as g
from tests.support.gitrepos import FIXED, REGISTRY
from tests.support.loops import paused, sealed

ROLLBACK: dict[str, Any] = {"intent": "rollback", "approval_ref": "INC-9"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")  # canaryPercent 25, running


def set_canary(repo: Path, percent: int) -> None:
    path = repo / REGISTRY
    text = path.read_text()
    path.write_text(text.replace("canaryPercent: 25 ", f"canaryPercent: {percent} ", 1))
    g.commit_all(repo, f"registry: canary {percent}")


def expand_alone(repo: Path, step: int, at: datetime) -> None:
    """One expand in its own pass at `at`, on a decision generated just before it (so a
    guard waiting for a decision after the last change, `decisionAfterChange`, lets it by)."""
    g.write_decision(repo, generated_at=at - timedelta(seconds=30))
    g.commit_all(repo, "decision: a fresh one")
    g.add_intents(repo, {f"{at:%H%M}-expand.yaml": {"step": step}})
    assert g.statuses(g.once(repo, at=at))[0][1] == "applied"


def test_a_rollback_to_25_from_50_sets_the_canary_and_pauses_in_one_commit(repo: Path) -> None:
    set_canary(repo, 50)
    before = (repo / REGISTRY).read_text()
    g.add_intents(repo, {"a.yaml": {**ROLLBACK, "toPercent": 25}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    (commit,) = report.commits
    assert g.subject(repo, commit) == "rollback fleet-a: canary 50% -> 25%, paused (INC-9)"
    trailers = g.trailers(repo, commit)
    assert trailers["Canary"] == "50 -> 25"
    assert trailers["Manual-Pause"] == "false -> true"
    assert (g.canary(repo), paused(repo)) == (25, True)
    (record,) = g.records(repo)
    assert record["toPercent"] == 25
    assert record["rollout"]["changed"] == {"canaryPercent": True, "manualPause": True}
    # Only owned lines changed, byte for byte elsewhere (comments included).
    after = (repo / REGISTRY).read_text()
    changed = [b for b, a in zip(before.splitlines(), after.splitlines(), strict=True) if b != a]
    owned = ("canaryPercent:", "manual:", "actor:", "approvalRef:", "rationale:", "changedAt:",
             "reviewBy:")  # fmt: skip
    assert all(line.strip().startswith(owned) for line in changed), changed
    assert "canaryPercent: 25     # share of loops in the canary cohort" in after


def test_previous_after_expands_10_25_50_goes_back_to_25(repo: Path) -> None:
    set_canary(repo, 10)
    expand_alone(repo, 15, FIXED)
    expand_alone(repo, 25, FIXED + timedelta(minutes=2))
    assert g.canary(repo) == 50
    g.add_intents(repo, {"3.yaml": {**ROLLBACK, "toPercent": "previous"}})

    report = g.once(repo, at=FIXED + timedelta(minutes=4))

    assert (g.canary(repo), paused(repo)) == (25, True)
    record = report.outcomes[0].record
    assert record["toPercent"] == "previous"
    assert record["rollout"]["after"] == {"canaryPercent": 25, "manualPause": True}
    assert g.trailer(repo, report.commits[0], "Canary") == "50 -> 25"


def test_previous_sees_an_expand_applied_earlier_in_the_same_pass(repo: Path) -> None:
    g.add_intents(repo, {"1.yaml": {"step": 10}, "2.yaml": {**ROLLBACK, "toPercent": "previous"}})

    report = g.once(repo)

    assert [o.after["canaryPercent"] for o in report.outcomes] == [35, 25]
    assert (g.canary(repo), paused(repo)) == (25, True)


def test_previous_without_an_expand_in_the_records_pauses_and_notes_it(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {**ROLLBACK, "toPercent": "previous"}})

    report = g.once(repo)

    (outcome,) = report.outcomes
    assert outcome.status == "applied"
    assert outcome.reasons == ("rollback_target_unknown",)
    assert (g.canary(repo), paused(repo)) == (25, True)
    assert g.trailer(repo, report.commits[0], "Reason-Codes") == "rollback_target_unknown"
    assert g.subject(repo, report.commits[0]) == "rollback fleet-a: pause at canary 25% (INC-9)"


def test_a_target_above_the_current_canary_pauses_and_leaves_it(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {**ROLLBACK, "toPercent": 60}})

    report = g.once(repo)

    assert report.outcomes[0].reasons == ("rollback_target_above_current",)
    assert (g.canary(repo), paused(repo)) == (25, True)
    assert g.trailer(repo, report.commits[0], "Canary") == "25 -> 25"


def test_a_rollback_to_0_on_a_paused_fleet_still_lowers_the_canary(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": ROLLBACK})
    g.once(repo)
    g.add_intents(repo, {"b.yaml": {**ROLLBACK, "toPercent": 0}})

    report = g.once(repo)

    assert g.subject(repo, report.commits[0]) == (
        "rollback fleet-a: canary 25% -> 0%, already paused (INC-9)"
    )
    assert (g.canary(repo), paused(repo)) == (0, True)


def test_a_malformed_to_percent_never_blocks_the_rollback(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {**ROLLBACK, "toPercent": "half"}})

    report = g.once(repo)

    (outcome,) = report.outcomes
    assert outcome.status == "applied"
    assert outcome.reasons == ("intent_field_invalid",)
    assert (g.canary(repo), paused(repo)) == (25, True)
    record = outcome.record
    assert "toPercent" not in record  # nothing valid was asked: it only paused
    assert record["warnings"] == [
        "toPercent must be an integer between 0 and 100, or previous (not 'half'); the rollback "
        "only pauses"
    ]
    body = g.git(repo, "log", "-1", "--format=%b", report.commits[0])
    assert "- toPercent must be an integer between 0 and 100" in body


def test_to_percent_on_an_expand_rejects_it(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {"step": 10, "toPercent": 10}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "rejected")]
    assert report.outcomes[0].reasons == ("intent_field_invalid",)
    assert g.canary(repo) == 25


def test_previous_is_found_in_a_sealed_segment(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings="telemetryRotateBytes: 2048\n")
    g.add_intents(repo, {"0.yaml": {"step": 5}})  # 25 -> 30
    g.once(repo)
    # Rollbacks without a target (never held by a guard) push the expand out of the active file.
    pauses: dict[str, Any] = {f"{n}.yaml": ROLLBACK for n in range(1, 5)}
    g.add_intents(repo, pauses)
    g.once(repo, clock=g.ticking_clock(FIXED + timedelta(minutes=1)))
    assert sealed(repo)
    assert all(r["intent"] == "rollback" for r in g.records(repo))
    g.add_intents(repo, {"9.yaml": {**ROLLBACK, "toPercent": "previous"}})

    report = g.once(repo, at=FIXED + timedelta(minutes=10))

    assert report.outcomes[0].after == {"canaryPercent": 25, "manualPause": True}
    assert (g.canary(repo), paused(repo)) == (25, True)


def test_plan_predicts_the_pass_of_a_previous_rollback(repo: Path) -> None:
    g.add_intents(repo, {"1.yaml": {"step": 20}})
    g.once(repo)
    g.git(repo, "checkout", "-q", "-b", "feature")
    g.add_intents(repo, {"2.yaml": {**ROLLBACK, "toPercent": "previous"}})
    plan = make_plan(str(repo), "main", now=lambda: FIXED)
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "merge", "-q", "--ff-only", "feature")

    report = g.once(repo)

    (planned,) = [outcome_row(item.outcome, None) for item in plan.items]
    done = outcome_row(report.outcomes[0], None)
    assert planned["canary"] == done["canary"] == {"before": 45, "after": 25}
    assert planned["subject"] == done["subject"]


# dispatch and intent new -------------------------------------------------------------------


def dispatched(repo: Path, mode: str, to_percent: str | None) -> dict[str, Any]:
    args = DispatchArgs(
        mode=mode,
        apply_intent=None,
        expand_step=None,
        actor="bob",
        approval_ref="INC-42",
        rationale="error spike",
        review_by="7d",
        repo=str(repo),
        to_percent=to_percent,
    )
    return dispatch(args, now=lambda: FIXED)


def test_dispatch_rollback_to_percent_lowers_the_canary(repo: Path) -> None:
    result = dispatched(repo, "rollback", "10")

    assert result["status"] == "rolled_back"
    assert result["canary"] == {"before": 25, "after": 10}
    assert result["record"]["toPercent"] == 10
    assert result["subject"] == "rollback fleet-a: canary 25% -> 10%, paused (INC-42)"
    assert (g.canary(repo), paused(repo)) == (10, True)


@pytest.mark.parametrize(
    ("mode", "to_percent", "message"),
    [
        ("apply", "10", "--to-percent is only allowed with --mode rollback"),
        ("dry_run", "10", "--to-percent is only allowed with --mode rollback"),
        ("rollback", "ten", "--to-percent must be an integer between 0 and 100, or previous"),
    ],
)
def test_dispatch_refuses_a_bad_to_percent_and_writes_nothing(
    repo: Path, mode: str, to_percent: str, message: str
) -> None:
    head = g.head(repo)
    with pytest.raises(RefusalError) as caught:
        dispatched(repo, mode, to_percent)
    assert (caught.value.reason, caught.value.message) == ("to_percent_invalid", message)
    assert g.head(repo) == head and g.status(repo) == ""


def test_dispatch_cli_takes_to_percent(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "system_clock", lambda: FIXED)
    governance = ["--by", "bob", "--approval-ref", "INC-7", "--rationale", "x", "--review-by", "7d"]
    argv = ["dispatch", "--mode", "rollback", "--to-percent", "previous", *governance]

    result = CliRunner().invoke(cli, [*argv, "--repo", str(repo), "--json"])

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["record"]["toPercent"] == "previous"
    assert doc["reasonCodes"] == ["rollback_target_unknown"]  # no expand in the records yet
    assert paused(repo)


def test_intent_new_to_percent_writes_a_file_the_loop_applies(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "system_clock", lambda: FIXED)
    monkeypatch.chdir(repo)
    governance = ["--by", "bob", "--approval-ref", "INC-8", "--rationale", "x", "--review-by", "7d"]

    argv = ["intent", "new", "rollback", "--to-percent", "5", *governance]

    result = CliRunner().invoke(cli, argv)

    assert result.exit_code == 0, result.output
    path = result.stdout.strip()
    assert "toPercent: 5\n" in (repo / path).read_text()
    g.commit_all(repo, "intents: rollback to 5")
    report = g.once(repo)
    assert report.outcomes[0].after == {"canaryPercent": 5, "manualPause": True}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rollback", "--to-percent", "150"], "--to-percent must be an integer between 0 and 100"),
        (["expand", "--to-percent", "10"], "--to-percent is only allowed with rollback"),
    ],
)
def test_intent_new_refuses_a_bad_to_percent(
    repo: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    monkeypatch.chdir(repo)
    governance = ["--by", "bob", "--approval-ref", "INC-8", "--rationale", "x", "--review-by", "7d"]

    result = CliRunner().invoke(cli, ["intent", "new", *argv, *governance])

    assert result.exit_code == 1
    assert message in result.stderr
    assert "reason: to_percent_invalid" in result.stderr
    assert g.pending(repo) == []


def test_dispatch_cli_takes_an_empty_to_percent_as_none(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rollout-dispatch workflow passes its to_percent input (default "") in every mode.
    monkeypatch.setattr(clock, "system_clock", lambda: FIXED)
    governance = ["--by", "bob", "--approval-ref", "CAB-7", "--rationale", "x", "--review-by", "7d"]
    argv = ["dispatch", "--mode", "dry_run", "--to-percent", "", *governance, "--json"]

    result = CliRunner().invoke(cli, [*argv, "--repo", str(repo)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "preview"
