"""The `--once` pass's queue, in-process on real git repos: order, poison files, replays,
limits, what each commit holds, the refusals that consume nothing, and how many ignored
entries are listed (two real processes at once: tests/e2e/test_loop_queue.py).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from tests.support import fleet
from tests.support import gitrepos as g
from tests.support.gitrepos import INTENTS


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # The queue's tests apply several expands and resumes on one decision: pacing off.
    return g.make_policy_repo(tmp_path / "repo", paced=False)


# Order and chaining ----------------------------------------------------------------------


def test_intents_run_in_file_name_order_and_each_sees_the_one_before(repo: Path) -> None:
    g.add_intents(
        repo,
        {
            "b.yaml": {"intent": "rollback"},
            "9.yaml": {"step": 25},
            "10.yaml": {"step": 25},
            "a.yml": {"intent": "resume"},
        },
    )

    report = g.once(repo)

    assert g.statuses(report) == [
        ("10.yaml", "applied"),
        ("9.yaml", "applied"),
        ("a.yml", "applied"),
        ("b.yaml", "applied"),
    ]
    first, second, third, fourth = report.commits
    assert g.trailer(repo, first, "Canary") == "25 -> 50"
    assert g.trailer(repo, second, "Canary") == "50 -> 75"
    assert g.trailer(repo, third, "Manual-Pause") == "false -> false"
    assert g.trailer(repo, fourth, "Manual-Pause") == "false -> true"
    assert g.canary(repo) == 75
    # One commit per intent, chained; every record names the commit the pass started from.
    chain = [g.git(repo, "rev-parse", f"{sha}^") for sha in report.commits]
    assert chain[1:] == report.commits[:-1]
    assert [r["git"]["baseCommit"] for r in g.records(repo)] == [chain[0]] * len(chain)
    assert g.bot_commits(repo) == report.commits
    assert g.processed(repo, "applied") == ["10.yaml", "9.yaml", "a.yml", "b.yaml"]


def test_files_that_are_not_intents_stay_where_they_are(repo: Path) -> None:
    g.write_intent(repo, "README.md", "how to write intents\n")
    g.write_intent(repo, ".hidden.yaml", g.intent_text())
    g.write_intent(repo, "notes.txt", "x\n")
    g.write_intent(repo, "applied/old.yaml", g.intent_text())
    g.write_intent(repo, "drafts/x.yaml", g.intent_text())
    g.commit_all(repo, "not intents")
    g.add_intents(repo, {"a.yaml": {}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    for name in ("README.md", ".hidden.yaml", "notes.txt", "drafts/x.yaml"):
        assert (repo / INTENTS / name).exists(), name
    assert g.processed(repo, "applied") == ["a.yaml", "old.yaml"]
    assert g.status(repo) == ""


def test_one_poison_file_among_good_ones_does_not_stop_the_good_ones(repo: Path) -> None:
    g.add_intents(
        repo,
        {
            "a.yaml": {"step": 10},
            "b.yaml": "a: &a [1]\nb: [*a, *a]\n",
            "c.yaml": b"\xff\xfe\x00garbage",  # type: ignore[dict-item]
            "d.yaml": "{{{{",
            "e.yaml": {"step": 10},
        },
    )
    os.mkfifo(repo / INTENTS / "c2.yaml")

    report = g.once(repo)

    assert g.statuses(report) == [
        ("a.yaml", "applied"),
        ("b.yaml", "rejected"),
        ("c.yaml", "rejected"),
        ("c2.yaml", "rejected"),
        ("d.yaml", "rejected"),
        ("e.yaml", "applied"),
    ]
    assert g.canary(repo) == 45
    assert g.processed(repo, "rejected") == ["b.yaml", "c.yaml", "c2.yaml", "d.yaml"]
    assert g.pending(repo) == []
    assert g.status(repo) == ""


# Replays ---------------------------------------------------------------------------------


def test_a_key_applied_in_an_earlier_pass_is_replayed_even_under_hold(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {"step": 10, "idempotencyKey": "rollout-7"}})
    first = g.once(repo)
    registry_before = (repo / g.REGISTRY).read_text()
    g.write_decision(repo, "hold")
    g.commit_all(repo, "gates: hold")
    g.add_intents(repo, {"b.yaml": {"step": 10, "idempotencyKey": "rollout-7"}})

    report = g.once(repo)

    assert g.statuses(report) == [("b.yaml", "replayed")]
    assert (repo / g.REGISTRY).read_text() == registry_before
    applied = [r for r in g.records(repo) if r["idempotencyKey"] == "rollout-7"]
    assert len(applied) == 1
    replayed = g.state(repo)
    assert replayed["replayed"] is True
    assert replayed["git"]["intentFile"] == f"{INTENTS}/a.yaml"
    assert g.trailer(repo, report.commits[0], "Trace-Id") == first.outcomes[0].trace_id
    assert g.trailer(repo, report.commits[0], "Canary") == "35 -> 35"


def test_default_key_is_the_file_stem_so_the_same_name_again_replays(repo: Path) -> None:
    g.add_intents(repo, {"cab-123.yaml": {}})
    g.once(repo)
    g.add_intents(repo, {"cab-123.yaml": {}})

    report = g.once(repo)

    assert g.statuses(report) == [("cab-123.yaml", "replayed")]
    assert g.processed(repo, "applied") == ["cab-123.2.yaml", "cab-123.yaml"]
    assert g.canary(repo) == 50


# Commit contents -------------------------------------------------------------------------


def test_each_commit_holds_exactly_its_files(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {}, "b.yaml": {"intent": "rollback"}})

    report = g.once(repo)

    first, second = report.commits
    assert g.name_status(repo, first) == {
        ("M", g.REGISTRY),
        ("A", g.STATE),
        ("A", g.INDEX),
        ("A", g.TELEMETRY),
        ("D", f"{INTENTS}/a.yaml"),
        ("A", f"{INTENTS}/applied/a.yaml"),
    }
    assert g.name_status(repo, second) == {
        ("M", g.REGISTRY),
        ("M", g.STATE),
        ("M", g.INDEX),
        ("M", g.TELEMETRY),
        ("D", f"{INTENTS}/b.yaml"),
        ("A", f"{INTENTS}/applied/b.yaml"),
    }
    # The moved file is the operator's file byte for byte.
    moved = g.show_file(repo, second, f"{INTENTS}/applied/b.yaml")
    assert moved + "\n" == g.intent_text("rollback")
    # The telemetry file grows by one line per commit.
    assert len(g.records(repo, first)) == 1
    assert len(g.records(repo, second)) == 2
    # The key index points at each applied record's line in the telemetry file.
    index = json.loads((repo / g.INDEX).read_text())
    telemetry = (repo / g.TELEMETRY).read_bytes()
    assert [(s["name"], s["size"]) for s in index["segments"]] == [
        ("promotion-apply.jsonl", len(telemetry))
    ]
    for key, (segment, offset, length) in index["keys"].items():
        assert segment == 0
        assert json.loads(telemetry[offset : offset + length])["idempotencyKey"] == key
    assert set(index["keys"]) == {"a", "b"}
    # Inside commits, records use repo-relative paths.
    for record in g.records(repo, second):
        assert not any(os.path.isabs(v) for v in record["files"].values())


def test_the_apply_commit_of_an_intent_commit_is_found_by_its_trace_id(repo: Path) -> None:
    intent_commit = g.add_intents(repo, {"a.yaml": {}, "b.yaml": {"intent": "rollback"}})
    g.add_intents(repo, {"c.yaml": {"traceId": "req-42"}})

    report = g.once(repo)

    lines = g.git(repo, "log", "--format=%H %(trailers:key=Trace-Id,valueonly)").splitlines()
    by_trace: dict[str, list[str]] = {}
    for line in lines:
        sha, _, trace = line.partition(" ")
        if trace.strip():
            by_trace.setdefault(trace.strip(), []).append(sha)
    assert sorted(by_trace[intent_commit]) == sorted(report.commits[:2])
    assert by_trace["req-42"] == [report.commits[2]]
    assert g.trailer(repo, report.commits[2], "Intent-Commit") == g.head(repo, "HEAD~3")
    assert g.records(repo)[2]["traceId"] == "req-42"
    # git log --grep on the trailer works too.
    found = g.git(repo, "log", "--format=%H", f"--grep=Trace-Id: {intent_commit}")
    assert sorted(found.split()) == sorted(report.commits[:2])


def test_trace_id_defaults_to_the_commit_that_added_the_file_not_a_later_edit(
    repo: Path,
) -> None:
    added = g.add_intents(repo, {"a.yaml": {"step": 5}})
    g.write_intent(repo, "a.yaml", step=10)
    g.commit_all(repo, "edit the intent")

    report = g.once(repo)

    assert report.outcomes[0].record["traceId"] == added
    assert report.outcomes[0].record["expandStep"] == 10


def test_an_untracked_intent_is_processed_and_added_straight_into_applied(repo: Path) -> None:
    path = g.write_intent(repo, "drop.yaml", intent="rollback")
    blob = g.git(repo, "hash-object", str(path))

    report = g.once(repo)

    assert g.statuses(report) == [("drop.yaml", "applied")]
    sha = report.commits[0]
    changes = g.name_status(repo, sha)
    assert ("A", f"{INTENTS}/applied/drop.yaml") in changes
    assert not any(p == f"{INTENTS}/drop.yaml" for _, p in changes)
    assert g.trailer(repo, sha, "Trace-Id") == blob
    assert g.trailer(repo, sha, "Intent-Commit") == ""
    record = g.state(repo)
    assert record["traceId"] == blob
    assert record["git"]["intentCommit"] is None
    assert not path.exists()
    assert g.status(repo) == ""


def test_the_superloop_layout_works_with_zero_config(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    g.git(repo, "init", "-q", "-b", "main")
    fleet.write_registry(repo, canary=25, manual=False)
    fleet.write_decision(repo, "promote", generated_at="2026-11-24T11:00:00Z", trace_id="t-1")
    g.commit_all(repo, "bash tool layout")
    folder = ".superloop/ops-manager/fleet"
    g.write_intent(repo, "a.yaml", g.intent_text(step=50), folder=f"{folder}/intents")
    g.commit_all(repo, "intent")

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert g.name_status(repo, report.commits[0]) == {
        ("M", f"{folder}/registry.v1.json"),
        ("A", f"{folder}/promotion-apply-state.json"),
        ("A", f"{folder}/promotion-apply-index.json"),
        ("A", f"{folder}/telemetry/promotion-apply.jsonl"),
        ("D", f"{folder}/intents/a.yaml"),
        ("A", f"{folder}/intents/applied/a.yaml"),
    }
    doc = json.loads((repo / folder / "registry.v1.json").read_text())
    assert doc["policy"]["autonomous"]["rollout"]["canaryPercent"] == 75
    record = g.state(repo, f"{folder}/promotion-apply-state.json")
    assert record["files"]["registryFile"] == f"{folder}/registry.v1.json"
    assert g.subject(repo, "HEAD") == "expand fleet-phase11 canary 25% -> 75% (CAB-123)"


def test_bot_identity_and_intents_folder_come_from_reconciler_yaml(tmp_path: Path) -> None:
    settings = "botName: Fleet Bot\nbotEmail: fleet-bot@example.com\nintentsDir: requests\n"
    repo = g.make_policy_repo(tmp_path / "repo", settings=settings)
    g.write_intent(repo, "a.yaml", g.intent_text(), folder="requests")
    g.write_intent(repo, "ignored.yaml", g.intent_text())  # the default folder is not read
    g.commit_all(repo, "intents")

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert (
        g.git(repo, "log", "-1", "--format=%an <%ae> %cn <%ce>")
        == "Fleet Bot <fleet-bot@example.com> Fleet Bot <fleet-bot@example.com>"
    )
    assert g.processed(repo, "applied", folder="requests") == ["a.yaml"]
    assert g.pending(repo) == ["ignored.yaml"]


# Limits and dry runs ---------------------------------------------------------------------


def test_max_intents_takes_the_first_n_and_leaves_the_rest_pending(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {"step": 5}, "b.yaml": {"step": 5}, "c.yaml": {"step": 5}})

    report = g.once(repo, max_intents=2)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "applied")]
    assert report.pending_left == 1
    assert g.pending(repo) == ["c.yaml"]
    assert g.status(repo) == ""
    again = g.once(repo, max_intents=2)
    assert g.statuses(again) == [("c.yaml", "applied")]
    assert again.pending_left == 0
    assert g.canary(repo) == 40


def test_dry_run_evaluates_the_chain_and_commits_nothing(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {}, "b.yaml": {}, "c.yaml": {"idempotencyKey": "a"}})
    g.write_intent(repo, "d.yaml", "nope: 1\n")
    before = g.head(repo)

    report = g.once(repo, dry_run=True)

    assert report.dry_run
    assert [o.status for o in report.outcomes] == ["applied", "applied", "replayed", "rejected"]
    assert [o.after["canaryPercent"] for o in report.outcomes[:2]] == [50, 75]
    assert report.commits == ["", "", "", ""]
    assert report.head == before == g.head(repo)
    assert g.status(repo) == f"?? {INTENTS}/d.yaml"
    assert g.pending(repo) == ["a.yaml", "b.yaml", "c.yaml", "d.yaml"]
    assert not (repo / g.TELEMETRY).exists()
    assert g.canary(repo) == 25


def test_nothing_pending_makes_no_commit(repo: Path) -> None:
    before = g.head(repo)
    (repo / "scratch.txt").write_text("dirty but irrelevant\n")

    report = g.once(repo)

    assert report.outcomes == [] and report.commits == []
    assert g.head(repo) == before


def test_changes_inside_applied_and_rejected_neither_stop_a_pass_nor_enter_its_commits(
    repo: Path,
) -> None:
    g.add_intents(repo, {"a.yaml": {"step": 5}, "b.yaml": {"step": 500}})
    g.once(repo)
    applied, rejected = repo / INTENTS / "applied", repo / INTENTS / "rejected"
    (applied / "a.yaml").write_text("edited by hand\n")
    (rejected / "b.yaml").unlink()
    (rejected / "junk.txt").write_text("dropped here\n")
    g.add_intents(repo, {"c.yaml": {"step": 5}})

    report = g.once(repo)

    assert g.statuses(report) == [("c.yaml", "applied")]
    changed = g.git(repo, "show", "--name-only", "--format=", report.commits[0]).split()
    assert not [path for path in changed if path.endswith(("a.yaml", "b.yaml", "junk.txt"))]
    assert g.status(repo).splitlines() == [
        f" M {INTENTS}/applied/a.yaml",
        f" D {INTENTS}/rejected/b.yaml",
        f"?? {INTENTS}/rejected/junk.txt",
    ]


def test_a_processed_file_deleted_on_disk_is_never_replaced_in_history(repo: Path) -> None:
    g.add_intents(repo, {"a.yaml": {"step": 5}})
    g.once(repo)
    before = g.git(repo, "rev-parse", f"HEAD:{INTENTS}/applied/a.yaml").strip()
    (repo / INTENTS / "applied" / "a.yaml").unlink()
    g.add_intents(repo, {"a.yaml": {"step": 10, "idempotencyKey": "a-again"}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert g.git(repo, "rev-parse", f"HEAD:{INTENTS}/applied/a.yaml").strip() == before
    assert "expandStep: 10" in g.show_file(repo, "HEAD", f"{INTENTS}/applied/a.2.yaml")


# Refusals: nothing consumed --------------------------------------------------------------


@pytest.mark.parametrize(
    "dirty",
    ["modified-registry", "untracked-outside", "staged", "modified-pending-intent", "subfolder"],
)
def test_a_dirty_worktree_is_refused_and_nothing_is_consumed(repo: Path, dirty: str) -> None:
    g.add_intents(repo, {"a.yaml": {}})
    if dirty == "modified-registry":
        registry = repo / g.REGISTRY
        registry.write_text(registry.read_text() + "# note\n")
    elif dirty == "untracked-outside":
        (repo / "notes.txt").write_text("x\n")
    elif dirty == "staged":
        (repo / "policies" / "extra.yaml").write_text("x: 1\n")
        g.git(repo, "add", "policies/extra.yaml")
    elif dirty == "modified-pending-intent":
        g.write_intent(repo, "a.yaml", step=50)
    else:
        g.write_intent(repo, "drafts/b.yaml", g.intent_text())
    before, status_before = g.head(repo), g.status(repo)

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "worktree_dirty"
    assert g.head(repo) == before
    assert g.status(repo) == status_before
    assert g.pending(repo)[0] == "a.yaml"


def test_an_uncommitted_decision_is_read_but_never_committed(repo: Path) -> None:
    g.write_decision(repo, "hold")
    g.add_intents(repo, {"a.yaml": {}})

    report = g.once(repo)

    assert report.outcomes[0].reasons == ("promotion_decision_not_promote",)
    assert g.status(repo) == f" M {g.DECISION}"
    assert g.DECISION not in {p for _, p in g.name_status(repo, report.commits[0])}


def test_an_invalid_registry_consumes_nothing(repo: Path) -> None:
    registry = repo / g.REGISTRY
    registry.write_text(registry.read_text().replace("canaryPercent: 25", "canaryPercent: 250"))
    g.commit_all(repo, "typo")
    g.add_intents(repo, {"a.yaml": {}, "b.yaml": {"intent": "rollback"}})
    before = g.head(repo)

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "registry_invalid"
    assert caught.value.details
    assert g.head(repo) == before
    assert g.pending(repo) == ["a.yaml", "b.yaml"]
    assert g.status(repo) == ""


def test_an_unparseable_registry_consumes_nothing(repo: Path) -> None:
    (repo / g.REGISTRY).write_text("policy: [unclosed\n")
    g.commit_all(repo, "broken")
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "registry_parse_error"
    assert g.pending(repo) == ["a.yaml"]


def test_a_folder_that_is_not_a_git_repo_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    (folder / "policies").mkdir(parents=True)
    with pytest.raises(RefusalError) as caught:
        g.once(folder)
    assert caught.value.reason == "not_a_git_repo"


def test_a_repo_without_commits_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    g.git(folder, "init", "-q", "-b", "main")
    with pytest.raises(RefusalError) as caught:
        g.once(folder)
    assert caught.value.reason == "git_no_commits"


def test_rejected_names_never_overwrite_earlier_ones(repo: Path) -> None:
    g.write_decision(repo, "hold")
    g.commit_all(repo, "hold")
    for _ in range(3):
        g.add_intents(repo, {"a.yaml": {}})
        report = g.once(repo)

    assert g.processed(repo, "rejected") == ["a.2.yaml", "a.3.yaml", "a.yaml"]
    assert ("A", f"{INTENTS}/rejected/a.3.yaml") in g.name_status(repo, report.commits[0])
    assert g.status(repo) == ""


def test_a_processed_file_already_in_applied_is_not_overwritten(repo: Path) -> None:
    g.write_intent(repo, "applied/a.yaml", "# kept\n")
    g.write_intent(repo, "applied/a.2.yaml", "# kept too\n")
    g.commit_all(repo, "history")
    g.add_intents(repo, {"a.yaml": {"idempotencyKey": "fresh"}})

    g.once(repo)

    assert (repo / INTENTS / "applied" / "a.yaml").read_text() == "# kept\n"
    assert (repo / INTENTS / "applied" / "a.2.yaml").read_text() == "# kept too\n"
    assert (repo / INTENTS / "applied" / "a.3.yaml").read_text() == g.intent_text(
        idempotencyKey="fresh"
    )


# Waiting for the lock ----------------------------------------------------------------------


def test_a_commit_made_while_the_pass_waits_for_the_lock_is_built_upon(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.adapters import locking

    g.add_intents(repo, {"a.yaml": {}})
    real = locking.hold_locks

    @contextlib.contextmanager
    def held_by_someone_else_first(*args: Any, **kwargs: Any) -> Iterator[Any]:
        # Whoever held the lock (a `reconcile apply`, a sync job) committed meanwhile.
        g.add_intents(repo, {"b.yaml": {"intent": "rollback"}})
        with real(*args, **kwargs) as held:
            yield held

    monkeypatch.setattr(locking, "hold_locks", held_by_someone_else_first)
    operator = g.head(repo, "HEAD")

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "applied")]
    assert g.git(repo, "rev-parse", f"{report.commits[0]}^") != operator
    assert g.status(repo) == ""


def test_a_subfolder_with_many_files_is_listed_up_to_the_limit_then_as_one_line(
    tmp_path: Path,
) -> None:
    from reconciler.core.queueing import IGNORED_LIMIT
    from reconciler.loop import checkout, queue
    from reconciler.reports import merging

    repo = g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())
    for number in range(IGNORED_LIMIT + 5):
        g.write_intent(repo, f"archive/{number:04}.yaml", step=5)
    g.commit_all(repo, "an archive in the wrong place")
    opened = checkout.open_checkout(str(repo))

    on_disk = queue.scan_queue(opened, str(repo / INTENTS)).ignored
    in_git = merging.tree_queue(opened, opened.head, INTENTS)[1]

    for listed in (on_disk, in_git):
        assert len(listed) == IGNORED_LIMIT + 1
        assert listed[0].path == f"{INTENTS}/archive/"  # path order: the folder first
        assert "more files than the 100 listed" in listed[0].why
        assert listed[1].path == f"{INTENTS}/archive/0000.yaml"
        assert listed[-1].path == f"{INTENTS}/archive/{IGNORED_LIMIT - 1:04}.yaml"
