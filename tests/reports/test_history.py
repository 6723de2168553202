"""`reconcile history`: reconcile commits read back from real git commits' trailers.

`reports.history.read_history` in-process (the command as a real process:
tests/e2e/test_history.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.reports.history import (
    HistoryEntry,
    HistoryQuery,
    Person,
    check_since,
    entry_json,
    read_history,
)
from tests.support.histories import (
    BOT_EMAIL,
    BOT_NAME,
    JSON_KEYS,
    applied_message,
    commit,
    git,
    make_history_repo,
)


@pytest.fixture
def history_repo(tmp_path: Path) -> dict[str, str]:
    """A repository: operator commits and reconcile commits, one a day from 2026-11-01."""
    return make_history_repo(tmp_path)


def commits(entries: list[HistoryEntry]) -> list[str]:
    return [entry.commit for entry in entries]


def test_reconcile_commits_are_listed_newest_first_and_others_are_skipped(history_repo):
    entries = read_history(history_repo["repo"], HistoryQuery())
    expected = [history_repo[name] for name in ("replay", "two", "rejected", "one")]
    assert commits(entries) == expected
    assert [entry.status for entry in entries] == ["replayed", "applied", "rejected", "applied"]


def test_an_entry_carries_every_trailer(history_repo):
    entry = read_history(history_repo["repo"], HistoryQuery())[-1]
    assert entry.commit == history_repo["one"]
    assert history_repo["one"].startswith(entry.short_commit)
    assert entry.time == "2026-11-02T09:30:00Z"
    assert entry.subject == "expand fleet-a canary 25% -> 50% (CAB-1)"
    assert entry.action == "expand"
    assert entry.intent_file == "policies/intents/20261124T0930Z-expand-cab-1.yaml"
    assert entry.idempotency_key == "cab-1-expand"
    assert entry.trace_id == "trace-1"
    assert (entry.decision, entry.decision_trace_id) == ("promote", "gates-2026-11-24-0600")
    assert (entry.actor, entry.approval_ref) == ("alice", "CAB-1")
    assert (entry.canary, entry.manual_pause) == ("25 -> 50", "true -> false")
    assert entry.reason_codes == ()
    assert entry.intent_commit == f"{1:040x}"


def test_author_and_committer_are_read_from_the_commit_not_the_trailers(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    path = repo.parent / "message.txt"
    path.write_text(applied_message(1, actor="carol"), encoding="utf-8")
    people = {
        "GIT_AUTHOR_NAME": "Dana Operator",
        "GIT_AUTHOR_EMAIL": "dana@example.com",
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }
    git(repo, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", str(path), env=people)

    (entry,) = read_history(str(repo), HistoryQuery())
    doc = entry_json(entry)

    assert entry.author == Person("Dana Operator", "dana@example.com")
    assert entry.committer == Person(BOT_NAME, BOT_EMAIL)
    assert doc["author"] == {"name": "Dana Operator", "email": "dana@example.com"}
    assert doc["committer"] == {"name": BOT_NAME, "email": BOT_EMAIL}
    assert doc["actor"] == "carol"  # the intent's actor is the trailer, not a commit identity


def test_the_time_is_the_committer_date_in_utc_with_z(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    path = repo.parent / "message.txt"
    path.write_text(applied_message(1), encoding="utf-8")
    dates = {
        "GIT_AUTHOR_DATE": "2026-11-01T08:00:00+05:00",
        "GIT_COMMITTER_DATE": "2026-11-02T11:30:00+02:00",
    }
    git(repo, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", str(path), env=dates)

    (entry,) = read_history(str(repo), HistoryQuery())

    assert entry.time == "2026-11-02T09:30:00Z"


def test_a_field_separator_in_a_name_a_trailer_or_the_subject_shifts_nothing(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    message = applied_message(1, actor="a\x1fb").replace("(CAB-1)", "(CAB\x1f1)", 1)
    path = repo.parent / "message.txt"
    path.write_text(message, encoding="utf-8")
    odd = {"GIT_AUTHOR_NAME": "ev\x1fil", "GIT_COMMITTER_NAME": "bo\x1ft"}
    git(repo, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", str(path), env=odd)

    (entry,) = read_history(str(repo), HistoryQuery())

    assert (entry.author.name, entry.committer.name) == ("ev\x1fil", "bo\x1ft")
    assert entry.author.email == "author@example.com"
    assert entry.actor == "a\x1fb"
    assert entry.subject == "expand fleet-a canary 25% -> 50% (CAB\x1f1)"
    assert entry.status == "applied"


def test_json_has_the_documented_keys_and_typed_transitions(history_repo):
    entries = read_history(history_repo["repo"], HistoryQuery(status="rejected"))
    doc = entry_json(entries[0])
    assert list(doc) == JSON_KEYS
    assert doc["canary"] == {"before": 50, "after": 50}
    assert doc["manualPause"] == {"before": False, "after": False}
    assert doc["reasonCodes"] == ["promotion_decision_not_promote", "intent_review_by_past"]
    assert doc["decisionTraceId"] is None
    assert doc["intentCommit"] is None


def test_unparseable_transitions_are_kept_as_text(history_repo):
    entry = read_history(history_repo["repo"], HistoryQuery(limit=1))[0]
    doc = entry_json(entry._replace(canary="25 -> ?", manual_pause="maybe"))
    assert doc["canary"] == {"before": 25, "after": "?"}
    assert doc["manualPause"] == {"before": "maybe", "after": None}


@pytest.mark.parametrize(
    ("query", "names"),
    [
        (HistoryQuery(status="applied"), ["two", "one"]),
        (HistoryQuery(status="replayed"), ["replay"]),
        (HistoryQuery(status="appl"), []),
        (HistoryQuery(actor="carol"), ["replay", "two"]),
        (HistoryQuery(actor="caro"), []),
        (HistoryQuery(actor="Carol"), []),
        (HistoryQuery(actor="carol", status="applied"), ["two"]),
        (HistoryQuery(intent="policies/intents/20261124T0930Z-expand-cab-1.yaml"), ["one"]),
        (HistoryQuery(intent="20261124T0930Z-expand-cab-1.yaml"), ["one"]),
        (HistoryQuery(intent="20261124T0930Z-expand-cab-1"), ["one"]),
        (HistoryQuery(intent="cab-2-expand"), ["replay", "two"]),
        (HistoryQuery(intent="cab-2"), []),
        (HistoryQuery(intent="20261124T0930Z-expand"), ["rejected"]),
        (HistoryQuery(intent=""), []),
        (HistoryQuery(actor="alice\nActor: carol"), []),
        (HistoryQuery(since="2026-11-05"), ["replay", "two"]),
        (HistoryQuery(since="2026-11-05", actor="alice"), []),
        (HistoryQuery(limit=2), ["replay", "two"]),
        (HistoryQuery(limit=1, status="applied"), ["two"]),
    ],
    ids=lambda value: repr(value) if isinstance(value, HistoryQuery) else "",
)
def test_filters_match_exactly(history_repo, query, names):
    entries = read_history(history_repo["repo"], query)
    assert commits(entries) == [history_repo[name] for name in names]


def test_a_body_line_does_not_pass_for_the_actor_trailer(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    sha = commit(repo, applied_message(1, actor="bob").replace("gates green", "Actor: eve"), 1)
    assert read_history(str(repo), HistoryQuery(actor="eve")) == []
    assert commits(read_history(str(repo), HistoryQuery(actor="bob"))) == [sha]


@pytest.mark.parametrize("actor", ["a.b+c", "x(y)*[z]{1}|^$?\\", "日本 語"])
def test_regex_characters_in_a_filter_are_literal(tmp_path, actor):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    sha = commit(repo, applied_message(1, actor=actor), 1)
    commit(repo, applied_message(2, actor="aXb+c"), 2)
    assert commits(read_history(str(repo), HistoryQuery(actor=actor))) == [sha]


def test_limit_stops_at_n_on_a_longer_history(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    parts = []
    for n in range(300):
        message = applied_message(n).encode()
        parts.append(
            b"commit refs/heads/main\ncommitter bot <bot@x> %d +0000\n" % (1_764_000_000 + n)
        )
        parts.append(b"data %d\n%s\n" % (len(message), message))
    stream = b"".join(parts)
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=stream, check=True)
    entries = read_history(str(repo), HistoryQuery(limit=7))
    assert [entry.approval_ref for entry in entries] == [f"CAB-{n}" for n in range(299, 292, -1)]
    assert len(read_history(str(repo), HistoryQuery(limit=1000))) == 300


def test_limit_below_one_is_refused(history_repo):
    with pytest.raises(ValueError, match="at least 1"):
        read_history(history_repo["repo"], HistoryQuery(limit=0))


@pytest.mark.parametrize("since", ["-1", "--all", "--output=/tmp/x", "", "  ", "a\nb"])
def test_since_that_is_not_a_date_is_refused(history_repo, since):
    with pytest.raises(ValueError, match="--since"):
        check_since(since)
    with pytest.raises(ValueError, match="--since"):
        read_history(history_repo["repo"], HistoryQuery(since=since))


def test_a_repository_without_commits_has_no_history(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    assert read_history(str(repo), HistoryQuery()) == []
    commit(repo, "operator: first commit\n", 1, bot=False)
    assert read_history(str(repo), HistoryQuery()) == []


def test_a_folder_that_is_not_a_repository_is_refused(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(RefusalError) as caught:
        read_history(str(folder), HistoryQuery())
    assert caught.value.reason == ReasonCode.NOT_A_GIT_REPO


def test_a_subfolder_shows_only_the_commits_that_change_it(tmp_path):
    # A sub-folder is a policy repository inside a larger worktree (as --once and status take
    # it): it never shows the enclosing repository's other reconcile commits.
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    shas = {}
    for day, fleet in enumerate(["fleet-a", "fleet-b"], start=1):
        (repo / fleet).mkdir()
        (repo / fleet / "telemetry.jsonl").write_text(f"{day}\n")
        git(repo, "add", "-A")
        shas[fleet] = commit(repo, applied_message(day), day)
    (repo / "quiet").mkdir()

    assert commits(read_history(str(repo / "fleet-a"), HistoryQuery())) == [shas["fleet-a"]]
    assert commits(read_history(str(repo / "fleet-b"), HistoryQuery())) == [shas["fleet-b"]]
    assert read_history(str(repo / "quiet"), HistoryQuery()) == []
    assert commits(read_history(str(repo), HistoryQuery())) == [shas["fleet-b"], shas["fleet-a"]]
