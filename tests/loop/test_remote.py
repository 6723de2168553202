"""`loop.remote` and `--once --push` in-process: a bare remote with two real clones racing.

The remote's compare-and-swap on the branch is the only coordination: a loser resets to the
remote and runs its pass again. Nothing is applied twice (one applied telemetry record per
key on the remote) and nothing is lost (intents only the loser had end up applied too).
A race is made real by letting clone B run its own pass and push just before clone A's push
(a wrapper around A's `push_head` that then calls the real one). An unreachable remote's
refusal says git's reason, not its boilerplate (exit 75 of a real process:
tests/e2e/test_loop_remote.py).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from reconciler.core.errors import RefusalError, RetryableError
from reconciler.loop import checkout as checkouts
from reconciler.loop import once as once_module
from reconciler.loop import remote
from reconciler.loop.checkout import Checkout
from tests.support import gitrepos as g
from tests.support.gitrepos import INTENTS


@pytest.mark.parametrize("name", ["typo", "gone"])
def test_a_fetch_from_a_missing_remote_names_it_and_why(tmp_path: Path, name: str) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    if name == "gone":
        g.git(repo, "remote", "add", "gone", str(tmp_path / "gone.git"))
    checkout = checkouts.open_checkout(str(repo))

    with pytest.raises(RetryableError) as caught:
        remote.fetch(checkout, name, "main")

    message = caught.value.message
    # git ends with "Please make sure you have the correct access rights\nand the repository
    # exists.": the last line alone said "cannot fetch main from typo: and the repository
    # exists."
    assert "and the repository exists" not in message
    assert "does not appear to be a git repository" in message
    assert "\n" not in message


class Fleet(NamedTuple):
    seed: Path
    """The operator's clone: intents are pushed from here."""
    bare: Path
    a: Path
    b: Path


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    # Races apply several expands and resumes on one decision: pacing off.
    seed = g.make_policy_repo(tmp_path / "seed", paced=False)
    bare = g.make_remote(tmp_path, seed)
    return Fleet(seed, bare, g.clone(bare, tmp_path / "a"), g.clone(bare, tmp_path / "b"))


def push_intents(seed: Path, intents: dict[str, Any]) -> str:
    g.git(seed, "pull", "-q", "--ff-only")
    sha = g.add_intents(seed, intents)
    g.git(seed, "push", "-q", "origin", "main")
    return sha


def remote_records(bare: Path) -> list[dict[str, Any]]:
    text = g.git(bare, "show", f"main:{g.TELEMETRY}", check=False)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def applied_keys(bare: Path) -> Counter[str]:
    return Counter(r["idempotencyKey"] for r in remote_records(bare) if r["status"] == "applied")


def remote_listing(bare: Path, folder: str) -> list[str]:
    out = g.git(bare, "ls-tree", "--name-only", "main", f"{INTENTS}/{folder}/", check=False)
    return sorted(line.rsplit("/", 1)[-1] for line in out.splitlines())


def remote_canary(bare: Path) -> int:
    for line in g.git(bare, "show", f"main:{g.REGISTRY}").splitlines():
        if line.strip().startswith("canaryPercent:"):
            return int(line.split(":", 1)[1].split("#", 1)[0])
    raise AssertionError("no canaryPercent")


def race_before_push(
    monkeypatch: pytest.MonkeyPatch, loser: Path, action: Any, times: int = 1
) -> list[str]:
    """Run `action()` just before each of the first `times` pushes of `loser`.

    Returns the list of pushes `loser` attempted (the rival's own pushes are not counted).
    """
    real = remote.push_head
    calls: list[str] = []

    def push_after_rival(checkout: Checkout, remote: str, branch: str) -> bool:
        if Path(checkout.top) == loser.resolve():
            calls.append(checkout.head)
            if len(calls) <= times:
                action()
        return real(checkout, remote, branch)

    monkeypatch.setattr(once_module, "push_head", push_after_rival)
    return calls


# Plain pushes ----------------------------------------------------------------------------


def test_push_publishes_the_pass_and_a_second_run_has_nothing_to_do(fleet: Fleet) -> None:
    push_intents(fleet.seed, {"a.yaml": {"step": 10}})

    report = g.once(fleet.a, push=True)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert report.pushed and report.attempts == 1
    assert g.head(fleet.bare, "main") == g.head(fleet.a) == report.head
    assert g.head(fleet.a, "refs/remotes/origin/main") == report.head
    assert remote_listing(fleet.bare, "applied") == ["a.yaml"]
    again = g.once(fleet.a, push=True)
    assert again.outcomes == [] and not again.pushed


def test_push_fast_forwards_to_the_remote_before_the_pass(fleet: Fleet) -> None:
    g.once(fleet.a, push=True)  # nothing yet
    push_intents(fleet.seed, {"a.yaml": {"step": 10}})
    push_intents(fleet.seed, {"b.yaml": {"step": 10}})

    report = g.once(fleet.a, push=True)

    assert g.statuses(report) == [("a.yaml", "applied"), ("b.yaml", "applied")]
    assert remote_canary(fleet.bare) == 45
    assert g.status(fleet.a) == ""


def test_local_commits_left_by_an_offline_pass_are_published_later(fleet: Fleet) -> None:
    push_intents(fleet.seed, {"a.yaml": {"step": 10}})
    g.git(fleet.a, "pull", "-q", "--ff-only")
    offline = g.once(fleet.a)  # no --push

    report = g.once(fleet.a, push=True)

    assert report.outcomes == [] and report.pushed
    assert g.head(fleet.bare, "main") == offline.head
    assert applied_keys(fleet.bare) == Counter({"a": 1})


# Races -----------------------------------------------------------------------------------


def test_the_loser_of_a_push_race_resets_and_applies_nothing_twice(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_intents(fleet.seed, {"x.yaml": {"step": 10}, "y.yaml": {"intent": "rollback"}})
    # An intent only clone A has: committed locally, never pushed.
    g.git(fleet.a, "pull", "-q", "--ff-only")
    g.add_intents(fleet.a, {"a-local.yaml": {"step": 5, "idempotencyKey": "local"}})
    # And one dropped into A's intents folder, not even committed.
    g.write_intent(fleet.a, "a-dropped.yaml", intent="resume", idempotencyKey="dropped")
    rival: list[Any] = []
    calls = race_before_push(monkeypatch, fleet.a, lambda: rival.append(g.once(fleet.b, push=True)))

    report = g.once(fleet.a, push=True)

    # B won the first race with the shared intents; A lost, reset, ran again, pushed.
    assert g.statuses(rival[0]) == [("x.yaml", "applied"), ("y.yaml", "applied")]
    assert rival[0].pushed
    assert len(calls) == 2 and report.attempts == 2 and report.pushed
    assert g.statuses(report) == [("a-dropped.yaml", "applied"), ("a-local.yaml", "applied")]
    assert g.head(fleet.bare, "main") == g.head(fleet.a) == report.head
    # No double apply, no lost intent.
    assert applied_keys(fleet.bare) == Counter({"x": 1, "y": 1, "local": 1, "dropped": 1})
    assert remote_listing(fleet.bare, "applied") == [
        "a-dropped.yaml",
        "a-local.yaml",
        "x.yaml",
        "y.yaml",
    ]
    assert remote_canary(fleet.bare) == 40  # 25 + 10 (x, once) + 5 (local)
    assert g.git(fleet.bare, "ls-tree", "--name-only", "main", f"{INTENTS}/") == "\n".join(
        [f"{INTENTS}/applied"]
    )
    # B's commits are in A's history unchanged (never rewritten), then A's two.
    assert g.git(fleet.a, "merge-base", "--is-ancestor", rival[0].head, "HEAD") == ""
    assert g.count_commits(fleet.a, f"{rival[0].head}..HEAD") == 2
    assert g.status(fleet.a) == ""
    # B catches up with nothing left to do.
    assert g.once(fleet.b, push=True).outcomes == []


def test_a_loser_that_processed_the_same_intents_offline_drops_its_copies(
    fleet: Fleet,
) -> None:
    push_intents(fleet.seed, {"x.yaml": {"step": 10}, "y.yaml": {"step": 10}})
    for clone in (fleet.a, fleet.b):
        g.git(clone, "pull", "-q", "--ff-only")
    g.add_intents(fleet.a, {"only-a.yaml": {"intent": "rollback"}})
    local = g.once(fleet.a)  # A processes x, y and only-a, but cannot push now
    assert len(local.commits) == 3
    won = g.once(fleet.b, push=True)

    report = g.once(fleet.a, push=True)

    assert g.statuses(won) == [("x.yaml", "applied"), ("y.yaml", "applied")]
    assert g.statuses(report) == [("only-a.yaml", "applied")]
    assert report.pushed
    assert applied_keys(fleet.bare) == Counter({"x": 1, "y": 1, "only-a": 1})
    assert remote_canary(fleet.bare) == 45
    # A's own offline commits are gone from its branch (the reflog still has them).
    assert g.git(fleet.a, "merge-base", "--is-ancestor", local.head, "HEAD", check=False) == ""
    assert g.status(fleet.a) == ""


def test_a_loser_that_rejected_an_intent_offline_does_not_reject_it_twice(
    fleet: Fleet,
) -> None:
    push_intents(fleet.seed, {"bad.yaml": "intent: expand\n"})
    g.git(fleet.a, "pull", "-q", "--ff-only")
    g.once(fleet.a)
    g.once(fleet.b, push=True)

    report = g.once(fleet.a, push=True)

    assert report.outcomes == []
    rejected = [r for r in remote_records(fleet.bare) if r["status"] == "rejected"]
    assert len(rejected) == 1
    assert remote_listing(fleet.bare, "rejected") == ["bad.yaml"]


def test_every_push_attempt_lost_is_a_retryable_push_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = g.make_policy_repo(tmp_path / "seed", settings="pushAttempts: 2\n")
    bare = g.make_remote(tmp_path, seed)
    a = g.clone(bare, tmp_path / "a")
    g.add_intents(a, {"mine.yaml": {"step": 5}})
    counter = iter(range(100))

    def rival_pushes() -> None:
        push_intents(seed, {f"rival-{next(counter)}.yaml": {"intent": "rollback"}})

    calls = race_before_push(monkeypatch, a, rival_pushes, times=2)

    with pytest.raises(RetryableError) as caught:
        g.once(a, push=True)

    assert caught.value.reason == "push_conflict"
    assert len(calls) == 2
    # Nothing lost: A's intent is pending again (or committed locally) and a calm run applies
    # it together with the rivals' intents, each once.
    monkeypatch.undo()
    report = g.once(a, push=True)
    assert report.pushed
    assert applied_keys(bare) == Counter({"mine": 1, "rival-0": 1, "rival-1": 1})


# An unreachable remote -------------------------------------------------------------------


def test_a_remote_lost_between_pass_and_push_keeps_the_commits_for_the_next_run(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_intents(fleet.seed, {"a.yaml": {"step": 10}})
    away = fleet.bare.with_name("moved-away.git")
    race_before_push(monkeypatch, fleet.a, lambda: shutil.move(fleet.bare, away))

    with pytest.raises(RetryableError) as caught:
        g.once(fleet.a, push=True)

    assert caught.value.reason == "remote_unavailable"
    assert g.processed(fleet.a, "applied") == ["a.yaml"]  # committed locally
    shutil.move(away, fleet.bare)
    monkeypatch.undo()
    report = g.once(fleet.a, push=True)
    assert report.outcomes == [] and report.pushed
    assert applied_keys(fleet.bare) == Counter({"a": 1})


def test_an_operators_unpushed_commit_is_never_dropped_by_the_reset(fleet: Fleet) -> None:
    registry = fleet.a / g.REGISTRY
    registry.write_text(registry.read_text().replace("loop-c\n", "loop-c\n    # operator note\n"))
    operator = g.commit_all(fleet.a, "operator: a note in the registry")
    g.add_intents(fleet.a, {"mine.yaml": {"step": 5}})
    push_intents(fleet.seed, {"x.yaml": {"step": 10}})
    before = g.head(fleet.a)

    with pytest.raises(RefusalError) as caught:
        g.once(fleet.a, push=True)

    assert caught.value.reason == "branch_diverged"
    assert operator[:12] in caught.value.message
    assert g.head(fleet.a) == before
    assert "# operator note" in (fleet.a / g.REGISTRY).read_text()
    assert g.pending(fleet.a) == ["mine.yaml"]
    # Once the operator rebased their commit, the pass runs and publishes it.
    g.git(fleet.a, "pull", "-q", "--rebase")
    report = g.once(fleet.a, push=True)
    assert g.statuses(report) == [("mine.yaml", "applied"), ("x.yaml", "applied")]
    assert "# operator note" in g.git(fleet.bare, "show", f"main:{g.REGISTRY}")
