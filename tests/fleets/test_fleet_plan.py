"""`reconcile plan` in a repository with several fleets: the loop's order, the upstream gate.

A branch adds intents to two fleets; the plan of its merge is compared with what `--once`
commits after the merge, row by row. prod-eu waits for staging at 50% (`requires`): only
staging's expand in the same pass lets prod-eu's expand through, so the plan must see
staging's predicted registry and records when it evaluates prod-eu, as the loop does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.outcome_rows import outcome_row
from reconciler.core.reasons import ReasonCode
from reconciler.render import markdown, text
from reconciler.reports.plan import make_plan, plan_rows, plan_summary
from tests.support import gitrepos as g
from tests.support.fleets import add_fleet_intents, intents, make_fleets_repo

ORDERED = """\
guards:
  decisionAfterChange: false
fleets:
  staging: {}
  prod-eu:
    after: staging
    requires: {minCanary: 50}
"""
COMPARED = (
    "fleet", "intentFile", "action", "status", "reasonCodes", "problems", "idempotencyKey",
    "canary", "manualPause", "actor", "decision", "subject", "trailers",
)  # fmt: skip


def rows(outcomes: list[Any]) -> list[dict[str, Any]]:
    return [{key: outcome_row(o, None)[key] for key in COMPARED} for o in outcomes]


def make_branch(path: Path, **options: Any) -> Path:
    """Branch `feature` of a two-fleet repository adds an expand to each fleet."""
    repo = make_fleets_repo(path, settings=ORDERED, **options)
    g.git(repo, "checkout", "-q", "-b", "feature")
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, "staging", {"001-expand.yaml": {"step": 25}})
    return repo


@pytest.fixture
def branch(tmp_path: Path) -> Path:
    return make_branch(tmp_path / "r")


def test_the_plan_of_two_fleets_is_what_the_pass_after_the_merge_commits(branch: Path) -> None:
    plan = make_plan(str(branch), "main", now=lambda: g.FIXED)
    planned = rows([item.outcome for item in plan.items])
    assert all(item.new for item in plan.items)
    g.git(branch, "checkout", "-q", "main")
    g.git(branch, "merge", "-q", "--ff-only", "feature")

    report = g.once(branch)

    done = rows(report.outcomes)
    assert [(row["fleet"], row["status"]) for row in done] == [
        ("staging", "applied"),
        ("prod-eu", "applied"),  # staging's expand, in the same pass, opened prod-eu's gate
    ]
    assert planned == done


def test_without_the_upstream_in_the_branch_the_downstream_waits(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=ORDERED)
    g.git(repo, "checkout", "-q", "-b", "feature")
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    plan = make_plan(str(repo), "main", now=lambda: g.FIXED)
    (item,) = plan.items
    assert item.outcome.state.fleet_id == "prod-eu"
    assert item.outcome.status != "applied"
    assert "guard_upstream_not_ready" in item.outcome.reasons
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "merge", "-q", "--ff-only", "feature")
    assert rows(g.once(repo).outcomes) == rows([item.outcome])


def test_fleet_plans_only_the_fleets_named_and_reads_the_merged_upstream(branch: Path) -> None:
    plan = make_plan(str(branch), "main", now=lambda: g.FIXED, fleets=("prod-eu",))
    (item,) = plan.items
    # staging is not planned: its expand is not predicted, so prod-eu's gate stays shut, as
    # `--once --fleet prod-eu` after the merge would find it.
    assert item.outcome.source.path == f"{intents('prod-eu')}/001-expand.yaml"
    assert "guard_upstream_not_ready" in item.outcome.reasons
    with pytest.raises(RefusalError) as caught:
        make_plan(str(branch), "main", now=lambda: g.FIXED, fleets=("prod-us",))
    assert caught.value.reason is ReasonCode.FLEET_UNKNOWN


def test_the_text_and_markdown_have_a_fleet_column(branch: Path) -> None:
    plan = make_plan(str(branch), "main", now=lambda: g.FIXED)
    found = plan_rows(plan)
    summary = plan_summary(plan, found)
    table = text.plan_text(found, summary).splitlines()
    assert table[1].split()[:2] == ["fleet", "intent"]
    assert [line.split()[0] for line in table[2:4]] == ["staging", "prod-eu"]
    document = markdown.plan_markdown(found, summary)
    assert "| fleet | intent | new | status |" in document
    assert "| staging | `001-expand.yaml` | yes |" in document


def test_the_cli_plans_two_fleets_and_a_single_fleet_plan_has_no_fleet_column(
    tmp_path: Path,
) -> None:
    branch = make_branch(tmp_path / "r", generated_at=g.recent())  # the process's real clock
    done = g.reconcile(branch, "plan", "--base", "main", "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(row["fleet"], row["status"]) for row in lines[:-1]] == [
        ("staging", "applied"),
        ("prod-eu", "applied"),
    ]
    done = g.reconcile(branch, "plan", "--base", "main", "--fleet", "staging")
    assert done.returncode == 0, done.stderr
    assert "prod-eu" not in done.stdout
    single = g.make_policy_repo(tmp_path / "single", paced=False, generated_at=g.recent())
    g.git(single, "checkout", "-q", "-b", "feature")
    g.add_intents(single, {"001-expand.yaml": {"step": 5}})
    done = g.reconcile(single, "plan", "--base", "main")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[0] == "intent"


def test_a_branch_with_a_typo_in_a_fleets_entry_is_planned_as_the_pass_after_it_holds(
    tmp_path: Path,
) -> None:
    # The branch adds an unknown key to prod-eu's entry, and an expand to prod-eu: after the
    # merge the pass holds it (fleets_invalid), so the plan must say so.
    repo = make_fleets_repo(tmp_path / "r", settings=ORDERED, canary={"staging": 50})
    g.git(repo, "checkout", "-q", "-b", "feature")
    (repo / "reconciler.yaml").write_text(ORDERED + "    afer: staging\n")
    g.commit_all(repo, "a typo in prod-eu's entry")
    add_fleet_intents(repo, "prod-eu", {"001-expand.yaml": {"step": 5}})
    plan = make_plan(str(repo), "main", now=lambda: g.FIXED)
    (item,) = plan.items
    assert (item.outcome.status, list(item.outcome.reasons)) == ("deferred", ["fleets_invalid"])
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "merge", "-q", "--ff-only", "feature")
    assert rows(g.once(repo).outcomes) == rows([item.outcome])
