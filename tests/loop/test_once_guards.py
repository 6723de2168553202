"""Progression guards on the loop: real git repositories, in-process passes, a fixed clock.

Issue 11: deferred intents commit nothing and stay pending; order is kept
(`queued_behind_deferred`); a rollback is never held and supersedes what waited before it;
`maxDeferral`, `maxExpandStep`, invalid settings and freeze files; the budget counts records
of every path (here `reconcile apply` and the loop).
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from reconciler.core.passes import Outcome
from reconciler.loop.once import PassReport
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


def test_a_rollback_supersedes_the_intents_deferred_before_it(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(
        repo,
        {
            "a.yaml": {"step": 10},
            "b.yaml": {"step": 10},
            "c.yaml": {"intent": "rollback"},
            "d.yaml": {"step": 10},
        },
    )

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
