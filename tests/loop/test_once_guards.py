"""Progression guards on the loop: real git repositories, in-process passes, a fixed clock.

Issue 11: deferred intents commit nothing and stay pending; order is kept
(`queued_behind_deferred`); a rollback is never held and supersedes what waited before it;
`maxDeferral`, `maxExpandStep`, invalid settings and freeze files; the budget counts records
of every path (here `reconcile apply` and the loop).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from reconciler.core.passes import Outcome
from reconciler.daemon.metrics import Metrics
from reconciler.loop.once import PassReport
from reconciler.render.json_output import pass_summary
from reconciler.render.text import pass_text
from tests.support import gitrepos as g
from tests.support.applying import apply
from tests.support.fleet import telemetry_lines
from tests.support.gitrepos import FIXED
from tests.support.loops import paused

HOUR = timedelta(hours=1)
NO_DECISION_GUARD = "guards:\n  decisionAfterChange: false\n"


def reasons(report: PassReport, name: str) -> tuple[str, ...]:
    return next(o.reasons for o in report.outcomes if o.source.name == name)


def outcome(report: PassReport, name: str) -> Outcome:
    return next(o for o in report.outcomes if o.source.name == name)


def freeze(repo: Path, text: str) -> None:
    (repo / "policies" / "freeze.yaml").write_text(text)
    g.commit_all(repo, "freeze windows")


def test_two_expands_merged_together_the_second_waits_for_a_newer_decision(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"step": 10}})
    before = g.count_commits(repo)

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "deferred")]
    held = outcome(report, "b.yaml")
    assert held.reasons == ("guard_decision_predates_change",)
    assert held.not_before is None
    assert "waiting for a decision generated after 2026-11-24T12:00:00Z" in held.problems[0]
    assert not report.rejected
    assert g.count_commits(repo) == before + 1  # nothing for the deferred one
    assert g.pending(repo) == ["b.yaml"]
    assert [r["intent"] for r in g.records(repo)] == ["expand"]
    assert g.status(repo) == ""  # the file is committed, untouched

    # The gates job writes a decision after the change: the next pass applies it.
    g.write_decision(repo, generated_at=FIXED + HOUR, trace_id="gates-later")
    g.commit_all(repo, "gates: new decision")
    again = g.once(repo, at=FIXED + 2 * HOUR)
    assert g.statuses(again) == [("b.yaml", "applied")]
    assert g.canary(repo) == 45
    assert g.pending(repo) == []


def test_order_is_kept_every_later_expand_or_resume_queues_behind(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(
        repo,
        {"a.yaml": {"step": 10}, "b.yaml": {"step": 10}, "c.yaml": {"intent": "resume"}},
    )

    report = g.once(repo)

    assert g.statuses(report) == [
        ("a.yaml", "applied"),
        ("b.yaml", "deferred"),
        ("c.yaml", "deferred"),
    ]
    assert "queued_behind_deferred" in reasons(report, "c.yaml")
    assert "queued_behind_deferred" not in reasons(report, "b.yaml")
    assert g.pending(repo) == ["b.yaml", "c.yaml"]


SUPERSEDED: dict[str, str | dict[str, object]] = {
    "a.yaml": {"step": 10},
    "b.yaml": {"step": 10},
    "c.yaml": {"intent": "rollback"},
    "d.yaml": {"step": 10},
}
"""a applied; b deferred (the decision predates a's change), then superseded by the rollback c;
d deferred after it."""


def test_a_rollback_supersedes_the_intents_deferred_before_it(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(repo, SUPERSEDED)

    report = g.once(repo)

    # Commit order: a, the rollback, then b's rejection; d comes after the rollback and
    # waits for a decision generated after it.
    assert g.statuses(report) == [
        ("a.yaml", "applied"),
        ("b.yaml", "deferred"),
        ("c.yaml", "applied"),
        ("b.yaml", "rejected"),
        ("d.yaml", "deferred"),
    ]
    rejected = report.outcomes[3]
    assert rejected.reasons == ("superseded_by_rollback",)
    assert "c.yaml" in rejected.problems[0]
    assert paused(repo)
    assert g.processed(repo, "rejected") == ["b.yaml"]
    assert g.pending(repo) == ["d.yaml"]
    subjects = [g.subject(repo, f"HEAD~{n}") for n in (2, 1, 0)]
    assert subjects[0].startswith("expand ")
    assert subjects[1].startswith("rollback ")
    assert subjects[2].startswith("reject b: superseded by a rollback")
    assert reasons(report, "d.yaml") == ("guard_decision_predates_change",)
    # Four files: each counted once, as it ended (b was counted deferred and rejected).
    summary = pass_summary(report)
    assert [summary[key] for key in ("applied", "deferred", "rejected")] == [2, 1, 1]
    assert "2 applied, 0 replayed, 1 deferred, 1 rejected" in pass_text(report)
    metrics = Metrics()
    metrics.record_pass(report, 0.1, 0.0)
    counted = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
        if sample.name == "reconciler_intents_total"
    }
    assert (counted["applied"], counted["deferred"], counted["rejected"]) == (2, 1, 1)


def test_a_rollback_is_never_held_by_a_freeze_window(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    freeze(
        repo,
        "windows:\n"
        "  - name: incident-review\n"
        "    start: 2026-11-24T00:00:00Z\n"
        "    end: 2026-11-25T00:00:00Z\n"
        "    reason: Post-incident review\n",
    )
    g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"intent": "rollback"}})

    report = g.once(repo)

    assert g.statuses(report) == [
        ("a.yaml", "deferred"),
        ("b.yaml", "applied"),
        ("a.yaml", "rejected"),
    ]
    held = report.outcomes[0]
    assert held.reasons == ("guard_freeze_window",)
    assert "incident-review (Post-incident review) until 2026-11-25T00:00:00Z" in held.problems[0]
    assert held.not_before == datetime.fromisoformat("2026-11-25T00:00:00+00:00")
    assert paused(repo)


def test_a_freeze_window_defers_until_it_ends(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    freeze(
        repo,
        "windows:\n"
        "  - name: year-end\n"
        "    start: 2026-11-24T10:00:00Z\n"
        "    end: 2026-11-24T14:00:00Z\n"
        "    reason: Year-end change freeze (CAB-900)\n",
    )
    g.add_intents(repo, {"a.yaml": {"step": 10}})

    held = g.once(repo)
    assert g.statuses(held) == [("a.yaml", "deferred")]
    assert held.outcomes[0].record["notBefore"] == "2026-11-24T14:00:00Z"

    applied = g.once(repo, at=datetime.fromisoformat("2026-11-24T14:00:00+00:00"))
    assert g.statuses(applied) == [("a.yaml", "applied")]


def test_cooldown_defers_until_it_ends(tmp_path: Path) -> None:
    repo = g.make_policy_repo(
        tmp_path / "repo", settings=NO_DECISION_GUARD + "  expandCooldown: 1h\n"
    )
    g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"step": 10}})

    report = g.once(repo)
    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "deferred")]
    assert reasons(report, "b.yaml") == ("guard_expand_cooldown",)
    assert outcome(report, "b.yaml").not_before == FIXED + HOUR

    early = g.once(repo, at=FIXED + HOUR - timedelta(seconds=1))
    assert g.statuses(early) == [("b.yaml", "deferred")]
    later = g.once(repo, at=FIXED + HOUR)
    assert g.statuses(later) == [("b.yaml", "applied")]


def test_the_budget_counts_records_of_reconcile_apply_too(tmp_path: Path) -> None:
    settings = NO_DECISION_GUARD + "  budget:\n    window: 24h\n    maxExpands: 2\n"
    repo = g.make_policy_repo(tmp_path / "repo", settings=settings)
    for step in ("5", "5"):
        apply(repo, "expand", expand_step=step, now=FIXED - HOUR)
    g.commit_all(repo, "manual applies")
    g.add_intents(repo, {"a.yaml": {"step": 10}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "deferred")]
    assert reasons(report, "a.yaml") == ("guard_budget_expands",)
    assert outcome(report, "a.yaml").not_before == FIXED - HOUR + timedelta(hours=24)


def test_an_expand_step_over_the_limit_is_rejected_never_clamped(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings="guards:\n  maxExpandStep: 25\n")
    g.add_intents(repo, {"a.yaml": {"step": 50}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "rejected")]
    assert reasons(report, "a.yaml") == ("intent_expand_step_over_limit",)
    assert g.canary(repo) == 25
    assert report.rejected


def test_an_intent_deferred_longer_than_max_deferral_is_rejected(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings="guards:\n  maxDeferral: 1d\n")
    g.add_intents(repo, {"a.yaml": {"step": 10}})
    old = (FIXED - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    g.write_intent(repo, "b.yaml", step=10)
    g.git(repo, "add", "--", f"{g.INTENTS}/b.yaml")
    env = {**os.environ, "GIT_COMMITTER_DATE": old, "GIT_AUTHOR_DATE": old}
    subprocess.run(
        ["git", "commit", "-q", "--no-verify", "-m", "old intent"], cwd=repo, env=env, check=True
    )

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "rejected")]
    assert reasons(report, "b.yaml") == ("intent_deferral_expired",)


def test_invalid_guard_settings_hold_progression_but_not_a_rollback(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", settings="guards:\n  expandCoolDown: 1h\n")
    g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"intent": "rollback"}})

    report = g.once(repo)

    assert g.statuses(report) == [
        ("a.yaml", "deferred"),
        ("b.yaml", "applied"),
        ("a.yaml", "rejected"),
    ]
    assert "guard_settings_invalid" in report.outcomes[0].reasons
    assert paused(repo)


def test_an_invalid_freeze_file_holds_progression_but_not_a_rollback(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    bad = "windows:\n  - name: bad\n    cron: '0 25 * * *'\n    duration: 1h\n    reason: x\n"
    freeze(repo, bad)
    g.add_intents(repo, {"a.yaml": {"step": 10}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "deferred")]
    assert reasons(report, "a.yaml") == ("freeze_file_invalid",)
    assert g.pending(repo) == ["a.yaml"]

    g.add_intents(repo, {"b.yaml": {"intent": "rollback"}})
    after = g.once(repo)
    assert g.statuses(after) == [
        ("a.yaml", "deferred"),
        ("b.yaml", "applied"),
        ("a.yaml", "rejected"),
    ]
    assert paused(repo)


def test_the_superloop_layout_has_every_guard_off(tmp_path: Path) -> None:
    """`apply` stays a drop-in: two expands on one decision both apply."""
    repo = tmp_path / "repo"
    from tests.support.fleet import write_decision as bash_decision
    from tests.support.fleet import write_registry

    write_registry(repo, canary=10)
    bash_decision(repo, "promote", generated_at="2026-11-24T11:00:00Z")
    for step in ("10", "10"):
        apply(repo, "expand", expand_step=step)
    assert [(r["rollout"]["after"]["canaryPercent"]) for r in telemetry_lines(repo)] == [20, 30]


def test_outside_every_allow_window_progression_waits_for_the_next_one(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    # FIXED is Tuesday 2026-11-24 12:00Z = 07:00 in New York: before business hours.
    freeze(
        repo,
        "windows:\n"
        "  - name: business-hours\n"
        "    kind: allow\n"
        "    cron: '0 8 * * MON-FRI'\n"
        "    duration: 10h\n"
        "    timezone: America/New_York\n"
        "    reason: People at work\n",
    )
    g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"intent": "rollback"}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "deferred"), ("b.yaml", "applied"),
                                  ("a.yaml", "rejected")]  # fmt: skip
    held = report.outcomes[0]
    assert held.reasons == ("guard_outside_allow_window",)
    assert held.not_before == datetime.fromisoformat("2026-11-24T13:00:00+00:00")
    assert "outside every allow window (business-hours (People at work))" in held.problems[0]


def test_a_deny_window_inside_an_allow_window_wins(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    freeze(
        repo,
        "windows:\n"
        "  - name: always-on-weekdays\n    kind: allow\n    cron: '0 0 * * MON-FRI'\n"
        "    duration: 24h\n    reason: weekdays\n"
        "  - name: lunch\n    cron: '0 11 * * *'\n    duration: 2h\n    reason: Lunch\n",
    )
    g.add_intents(repo, {"a.yaml": {"step": 10}})

    held = g.once(repo)  # 12:00Z on a Tuesday: allowed, but lunch (11-13Z) denies
    assert held.outcomes[0].reasons == ("guard_freeze_window",)
    assert held.outcomes[0].not_before == FIXED + HOUR

    assert g.statuses(g.once(repo, at=FIXED + HOUR)) == [("a.yaml", "applied")]


def test_a_weekend_freeze_across_the_dst_change_in_berlin_ends_monday_0800_local(
    tmp_path: Path,
) -> None:
    # 2026-10-25 is the last Sunday of October: Berlin goes from +02:00 to +01:00.
    repo = g.make_policy_repo(tmp_path / "repo", settings=g.UNPACED)
    freeze(
        repo,
        "windows:\n  - name: weekends\n    cron: '0 18 * * FRI'\n    duration: 62h\n"
        "    timezone: Europe/Berlin\n    reason: No rollouts over the weekend\n",
    )
    g.write_decision(repo, generated_at=datetime.fromisoformat("2026-10-24T12:00:00+00:00"))
    g.commit_all(repo, "a weekend decision")
    g.add_intents(repo, {"a.yaml": {"step": 10}})

    saturday = datetime.fromisoformat("2026-10-24T12:00:00+00:00")
    held = g.once(repo, at=saturday)
    # Friday 18:00 CEST (16:00Z) + 62h on the wall clock = Monday 08:00 CET = 07:00Z (63h).
    assert held.outcomes[0].not_before == datetime.fromisoformat("2026-10-26T07:00:00+00:00")
    assert "until 2026-10-26T07:00:00Z" in held.outcomes[0].problems[0]
    monday = datetime.fromisoformat("2026-10-26T07:00:00+00:00")
    g.write_decision(repo, generated_at=monday - HOUR)
    g.commit_all(repo, "gates")
    assert g.statuses(g.once(repo, at=monday - timedelta(seconds=1))) == [("a.yaml", "deferred")]
    assert g.statuses(g.once(repo, at=monday)) == [("a.yaml", "applied")]


def test_the_bash_controllers_json_freeze_file_is_read_unchanged(tmp_path: Path) -> None:
    settings = "guards:\n  freezeFile: ops/freeze-windows.json\n"
    repo = g.make_policy_repo(tmp_path / "repo", settings=settings)
    (repo / "ops").mkdir()
    (repo / "ops" / "freeze-windows.json").write_text(
        '{"windows":[{"startAt":"2026-11-24T11:50:00Z","endAt":"2026-11-24T14:00:00Z",'
        '"reason":"change-freeze"}]}\n'
    )
    g.commit_all(repo, "the bash controller's freeze windows")
    g.add_intents(repo, {"a.yaml": {"step": 10}})

    held = g.once(repo).outcomes[0]

    assert held.reasons == ("guard_freeze_window",)
    assert held.problems[0] == "freeze window window-1 (change-freeze) until 2026-11-24T14:00:00Z"


def test_the_percent_budget_holds_an_expand_that_would_not_fit(tmp_path: Path) -> None:
    settings = "  budget:\n    window: 24h\n    maxExpandPercent: 30\n"
    repo = g.make_policy_repo(tmp_path / "repo", paced=False, settings=settings)
    g.add_intents(repo, {"a.yaml": {"step": 20}, "b.yaml": {"step": 20}, "c.yaml": {"step": 10}})

    report = g.once(repo)

    # a: +20 fits; b: +20 would make +40 > 30: deferred; c queues behind b (order is kept)
    # although +10 would fit.
    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "deferred"),
                                  ("c.yaml", "deferred")]  # fmt: skip
    assert reasons(report, "b.yaml") == ("guard_budget_percent",)
    assert reasons(report, "c.yaml") == ("queued_behind_deferred",)
    assert outcome(report, "b.yaml").not_before == FIXED + timedelta(hours=24)
    assert outcome(report, "c.yaml").not_before == FIXED + timedelta(hours=24)
    assert (
        "percent budget used up: +20 of +30 in 24h, this expand adds +20"
        in (outcome(report, "b.yaml").problems[0])
    )


def test_a_rollback_that_lowered_the_canary_counts_as_no_expand(tmp_path: Path) -> None:
    settings = "  budget:\n    window: 24h\n    maxExpands: 1\n"
    repo = g.make_policy_repo(tmp_path / "repo", paced=False, settings=settings)
    g.add_intents(repo, {"a.yaml": {"intent": "rollback", "toPercent": 10}})
    g.once(repo)
    g.add_intents(repo, {"b.yaml": {"intent": "resume"}, "c.yaml": {"step": 10}})

    report = g.once(repo, at=FIXED + HOUR)

    assert g.statuses(report) == [("b.yaml", "applied"), ("c.yaml", "applied")]
    assert g.canary(repo) == 20


def test_plan_and_status_predict_every_guards_deferral_and_not_before(tmp_path: Path) -> None:
    from reconciler.core.outcome_rows import outcome_row
    from reconciler.reports.plan import make_plan
    from reconciler.reports.status import repo_status

    settings = "  expandCooldown: 30m\n  budget:\n    window: 24h\n    maxExpands: 2\n"
    repo = g.make_policy_repo(tmp_path / "repo", paced=False, settings=settings)
    freeze(repo, "windows:\n  - name: ops\n    start: 2026-11-24T12:10:00Z\n"
                 "    end: 2026-11-24T12:40:00Z\n    reason: ops review\n")  # fmt: skip
    g.git(repo, "checkout", "-q", "-b", "feature")
    g.add_intents(repo, {"10.yaml": {"step": 5}, "20.yaml": {"step": 5},
                         "30.yaml": {"intent": "resume"}, "40.yaml": {"intent": "rollback"},
                         "50.yaml": {"step": 5}})  # fmt: skip
    keys = ("intentFile", "status", "reasonCodes", "problems", "notBefore", "canary")

    def rows(outcomes: list[Outcome]) -> list[dict[str, object]]:
        return [{k: outcome_row(o, None)[k] for k in keys} for o in outcomes]

    clock = lambda: FIXED  # noqa: E731
    planned = rows([item.outcome for item in make_plan(str(repo), "main", now=clock).items])
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "merge", "-q", "--ff-only", "feature")
    report = repo_status(str(repo), now=clock)
    status = [{k: row[k] for k in keys} for row in report["pending"]]
    done = rows(g.once(repo).outcomes)

    assert planned == status == done
    assert [(str(row["intentFile"]).rsplit("/")[-1], row["status"]) for row in done] == [
        ("10.yaml", "applied"), ("20.yaml", "deferred"), ("30.yaml", "deferred"),
        ("40.yaml", "applied"), ("20.yaml", "rejected"), ("30.yaml", "rejected"),
        ("50.yaml", "deferred"),
    ]  # fmt: skip
    assert done[1]["notBefore"] == "2026-11-24T12:40:00Z"  # cooldown 12:30, then the freeze
    assert done[1]["reasonCodes"] == ["guard_expand_cooldown"]
    assert done[2]["reasonCodes"] == ["queued_behind_deferred"]
    # After the rollback nothing waits ahead of it, but the cooldown still runs.
    assert (done[6]["reasonCodes"], done[6]["notBefore"]) == (
        ["guard_expand_cooldown"], "2026-11-24T12:40:00Z")  # fmt: skip


def test_a_decision_dated_in_the_future_does_not_carry_two_expands(tmp_path: Path) -> None:
    # Within the 5 minutes of clock skew a decision may be ahead; it must not pass for one
    # generated after the first expand of the pass.
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=FIXED + timedelta(minutes=4))
    g.add_intents(repo, {"a.yaml": {"step": 10}, "b.yaml": {"step": 10}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "deferred")]
    assert "dated in the future (2026-11-24T12:04:00Z)" in outcome(report, "b.yaml").problems[0]


def test_apply_on_a_far_future_decision_applies_once_then_defers(tmp_path: Path) -> None:
    import pytest

    from reconciler.core.errors import RetryableError

    repo = g.make_policy_repo(
        tmp_path / "repo", generated_at=datetime.fromisoformat("2099-01-01T00:00:00+00:00")
    )
    apply(repo, "expand", expand_step="10")
    with pytest.raises(RetryableError) as caught:
        apply(repo, "expand", expand_step="10", now=FIXED + HOUR)
    assert caught.value.reason == "guard_decision_predates_change"
    assert "dated in the future (2099-01-01T00:00:00Z)" in caught.value.details[0]
    assert g.canary(repo) == 35


def test_a_resume_after_a_second_rollback_on_a_paused_fleet_needs_a_newer_decision(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})
    g.once(repo)
    g.write_decision(repo, generated_at=FIXED + HOUR, trace_id="gates-after-the-first")
    g.commit_all(repo, "gates")
    # An incident: a second rollback while still paused changes nothing, but it is a change.
    g.add_intents(repo, {"b.yaml": {"intent": "rollback", "approval_ref": "INC-2"},
                         "c.yaml": {"intent": "resume"}})  # fmt: skip

    report = g.once(repo, at=FIXED + 2 * HOUR)

    assert g.statuses(report) == [("b.yaml", "applied"), ("c.yaml", "deferred")]
    assert paused(repo)


def test_plan_reads_the_guards_settings_as_merged_not_as_on_the_branch(tmp_path: Path) -> None:
    from reconciler.reports.plan import make_plan

    repo = g.make_policy_repo(tmp_path / "repo")
    g.git(repo, "checkout", "-q", "-b", "feature")
    g.add_intents(repo, {"a.yaml": {"step": 10}})
    g.git(repo, "checkout", "-q", "main")
    (repo / "reconciler.yaml").write_text("guards:\n  maxExpandStep: 5\n")  # main tightens
    g.commit_all(repo, "smaller steps")
    g.git(repo, "checkout", "-q", "feature")

    planned = make_plan(str(repo), "main", now=lambda: FIXED).items

    assert [(i.outcome.status, i.outcome.reasons) for i in planned] == [
        ("rejected", ("intent_expand_step_over_limit",))
    ]
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "merge", "-q", "--no-edit", "feature")
    assert g.statuses(g.once(repo)) == [("a.yaml", "rejected")]


def test_plan_refuses_a_freeze_file_behind_a_symlinked_folder_as_the_pass_does(
    tmp_path: Path,
) -> None:
    from reconciler.reports.plan import make_plan

    repo = g.make_policy_repo(tmp_path / "repo", settings="guards:\n  freezeFile: conf/f.yaml\n")
    (repo / "real").mkdir()
    (repo / "real" / "f.yaml").write_text("windows: []\n")
    (repo / "conf").symlink_to("real")
    g.commit_all(repo, "a symlinked folder")
    g.git(repo, "checkout", "-q", "-b", "feature")
    g.add_intents(repo, {"a.yaml": {"step": 10}})

    planned = make_plan(str(repo), "main", now=lambda: FIXED).items

    assert [(i.outcome.status, i.outcome.reasons) for i in planned] == [
        ("deferred", ("freeze_file_invalid",))
    ]
    assert g.statuses(g.once(repo)) == [("a.yaml", "deferred")]


def test_the_plan_counts_a_superseded_file_once(tmp_path: Path) -> None:
    # A branch of four intent files, one superseded by its rollback: it said "5 new intent(s)".
    from reconciler.render import markdown, text
    from reconciler.reports.plan import make_plan, plan_rows, plan_summary
    from reconciler.reports.status import repo_status

    repo = g.make_policy_repo(tmp_path / "repo")
    g.git(repo, "checkout", "-q", "-b", "feature")
    g.add_intents(repo, SUPERSEDED)
    # `status` in the branch: four files pending (b's two predicted rows, one file).
    report = repo_status(str(repo), now=lambda: FIXED)
    assert len(report["pending"]) == 5
    assert "pending intents (4), predicted:" in text.status_text(report)
    plan = make_plan(str(repo), "main", now=lambda: FIXED)
    rows = plan_rows(plan)
    assert len(rows) == 5  # b: deferred, then rejected (both rows are shown)
    summary = plan_summary(plan, rows)
    assert summary["new"] == 4
    assert "): 4 new intent(s), 0 already pending" in text.plan_text(rows, summary)
    assert "4 new intent(s): 2 would be applied, 0 replayed, 1 deferred, 1 rejected." in (
        markdown.plan_markdown(rows, summary)
    )


def test_validate_intents_and_intent_new_judge_the_step_as_the_pass_does(tmp_path: Path) -> None:
    # One fleet: an expand above maxExpandStep fails `validate --intents` (the pass rejects
    # it for good); a retry of a key applied before does not (the pass replays it first).
    settings = "guards:\n  decisionAfterChange: false\n  maxExpandStep: {}\n"
    repo = g.make_policy_repo(tmp_path / "repo", settings=settings.format(25))
    g.add_intents(repo, {"a.yaml": {"step": 20, "idempotencyKey": "K1"}})
    assert g.statuses(g.once(repo)) == [("a.yaml", "applied")]
    (repo / "reconciler.yaml").write_text(settings.format(10))
    g.commit_all(repo, "smaller steps")
    g.write_intent(repo, "b.yaml", step=20, idempotencyKey="K1")
    g.write_intent(repo, "c.yaml", step=20)
    done = g.reconcile(
        repo, "validate", "--intents", "--json", "policies/intents/b.yaml",
        "policies/intents/c.yaml",
    )  # fmt: skip
    rows = {
        row["path"].rsplit("/", 1)[-1]: row for row in map(json.loads, done.stdout.splitlines())
    }
    assert rows["b.yaml"]["ok"] is True
    assert rows["c.yaml"]["reasonCodes"] == ["intent_expand_step_over_limit"]
    governance = ("--by", "a", "--approval-ref", "R", "--rationale", "r", "--review-by", "7d")
    new = ("intent", "new", "expand", "--step", "20", *governance)
    assert g.reconcile(repo, *new, "--idempotency-key", "K1").returncode == 0
    refused = g.reconcile(repo, *new)
    assert (refused.returncode, "reason: intent_expand_step_over_limit") == (
        1, refused.stderr.splitlines()[-1],
    )  # fmt: skip
    g.commit_all(repo, "the intents")
    statuses = dict(g.statuses(g.once(repo)))
    assert (statuses["b.yaml"], statuses["c.yaml"]) == ("replayed", "rejected")
