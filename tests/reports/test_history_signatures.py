"""`reconcile history`'s verification states against real keys and real signed commits.

`reports.history.read_history` in-process over tests/support/signed_histories.py; the command
as a real process: tests/e2e/test_history.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters import gitrepo
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.reports import history_signatures
from reconciler.reports.history import HistoryQuery, entry_json, read_history
from tests.support import gitrepos as g
from tests.support.signed_histories import (
    ALLOWED,
    SignedHistory,
    forged_message,
    make_signed_history,
)


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> SignedHistory:
    """Read-only: tests that change the repository make their own."""
    return make_signed_history(tmp_path_factory.mktemp("signed"))


def states(repo: Path, **query: object) -> list[tuple[str, str | None]]:
    entries = read_history(str(repo), HistoryQuery(**query))  # type: ignore[arg-type]
    return [(entry.commit, entry.verification) for entry in entries]


def test_each_entry_has_its_verification_state(signed):
    assert states(signed.repo) == [
        (signed.unknown, "forged"),  # signed by a key no allowed-signers line lists
        (signed.forged, "forged"),  # a good signature, but alice is no bot signer
        (signed.verified, "verified"),  # the loop's commit, signed by the bot
        (signed.unsigned, "unsigned"),  # the loop's commit as it writes it today
    ]


def test_json_carries_the_verification_author_and_committer(signed):
    entries = read_history(str(signed.repo), HistoryQuery(limit=2))
    docs = [entry_json(entry) for entry in entries]
    assert [doc["verification"] for doc in docs] == ["forged", "forged"]
    assert docs[1]["author"] == {"name": "alice", "email": "alice@example.com"}
    assert docs[1]["committer"] == {"name": "alice", "email": "alice@example.com"}


def test_verified_only_shows_only_verified_entries(signed):
    assert states(signed.repo, verified_only=True) == [(signed.verified, "verified")]


def test_verified_only_keeps_walking_past_the_limit_to_find_verified_entries(tmp_path):
    repo = make_signed_history(tmp_path).repo
    verified = g.git(repo, "rev-parse", "HEAD~2")
    for n in range(30):  # 30 newer unsigned reconcile commits
        g.git(repo, "commit", "-q", "--allow-empty", "-m", forged_message(f"actor-{n}"))
    assert states(repo, limit=1, verified_only=True) == [(verified, "verified")]
    assert states(repo, limit=3, verified_only=True) == [(verified, "verified")]
    assert [state for _, state in states(repo, limit=1)] == ["unsigned"]


def test_verified_only_combines_with_the_other_filters(signed):
    assert states(signed.repo, verified_only=True, actor="alice") == [(signed.verified, "verified")]
    assert states(signed.repo, verified_only=True, status="rejected") == []


def test_the_commit_objects_are_read_by_one_cat_file_process(signed, monkeypatch):
    started: list[object] = []
    real = gitrepo.CatFile

    def counting(git):
        started.append(git)
        return real(git)

    monkeypatch.setattr(history_signatures, "CatFile", counting)
    assert len(states(signed.repo)) == 4
    assert len(started) == 1


def test_without_trust_signed_commits_are_forged_and_nothing_is_verified(tmp_path):
    history = make_signed_history(tmp_path)
    (history.repo / "reconciler.yaml").write_text("")
    g.commit_all(history.repo, "trust off")
    assert states(history.repo) == [
        (history.unknown, "forged"),
        (history.forged, "forged"),
        (history.verified, "forged"),  # no botSigners: no signature can be the bot's
        (history.unsigned, "unsigned"),
    ]
    assert states(history.repo, verified_only=True) == []


def test_a_bot_key_outside_its_validity_is_forged(tmp_path):
    history = make_signed_history(tmp_path)
    allowed = history.repo / ALLOWED
    lines = allowed.read_text().splitlines()
    lines[0] = lines[0].replace(" ssh-ed25519", ' valid-before="20000101" ssh-ed25519', 1)
    allowed.write_text("\n".join(lines) + "\n")
    assert states(history.repo, limit=3)[2] == (history.verified, "forged")


def test_a_broken_allowed_signers_file_is_refused(tmp_path):
    history = make_signed_history(tmp_path)
    (history.repo / ALLOWED).unlink()
    with pytest.raises(RefusalError) as caught:
        read_history(str(history.repo), HistoryQuery())
    assert caught.value.reason is ReasonCode.TRUST_SETTINGS_INVALID
