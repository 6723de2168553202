# ruff: noqa: F811 - the fixtures are imported from test_trust.py
"""Attacks on intent and decision provenance (found by a security review; each now fails closed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.loop.test_trust import START, _outcome, keys, repo  # noqa: F401 - fixtures
from tests.support import gitrepos as g
from tests.support import signers as s

P = f"{g.INTENTS}/001-expand.yaml"


def test_merge_hidden_readd_of_a_retracted_intent_is_attributed_to_alice(
    repo: Path, keys: s.Keys
) -> None:
    """alice wrote an expand on her branch, then deleted it (retracted). mallory (no key)
    re-adds the very same bytes inside a merge commit: the writer walk skips merges and the
    deletion (--diff-filter=AM), finds alice's old commit with the same blob, and the intent
    is applied as alice's, approved by carol's merge of mallory's branch."""
    g.git(repo, "checkout", "-q", "-b", "pr-alice")
    g.write_intent(repo, "001-expand.yaml", step=50, actor="alice")
    old = s.commit_as(repo, keys, "alice", "intent: expand 50", P)
    g.git(repo, "rm", "-q", P)
    s.commit_as(repo, keys, "alice", "retract: expand 50 was a mistake", "policies")
    # mallory: a branch from main, merge alice's (net empty) branch, re-add the file in it
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "checkout", "-q", "-b", "pr-mallory")
    g.git(repo, "merge", "-q", "--no-ff", "--no-commit", "pr-alice")
    g.git(repo, "checkout", old, "--", P)
    g.git(repo, "commit", "-q", "--no-verify", "-m", "Merge pr-alice")  # unsigned merge
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, keys, "carol", "pr-mallory")
    assert _outcome(repo, "001-expand.yaml") == ("rejected", ["intent_signature_invalid"])
    assert g.canary(repo) == START


def test_merge_hidden_readd_of_a_rejected_intent(repo: Path, keys: s.Keys) -> None:
    """alice's expand was rejected (pushed without approval) and archived by the reconciler.
    Later mallory resubmits the exact bytes inside a merge; it is applied as alice's."""
    s.pull_request(repo, keys, author="alice", approver=None, name="001-expand.yaml", step=50)
    blob_commit = g.head(repo)
    assert _outcome(repo, "001-expand.yaml")[1][:1] == ["intent_not_approved"]
    assert not (repo / P).exists()
    g.git(repo, "checkout", "-q", "-b", "pr-mallory")
    g.git(repo, "commit", "-q", "--allow-empty", "-m", "side")
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "checkout", "-q", "-b", "pr-mallory2")
    g.git(repo, "merge", "-q", "--no-ff", "--no-commit", "pr-mallory")
    g.git(repo, "checkout", blob_commit, "--", P)
    g.git(repo, "commit", "-q", "--no-verify", "-m", "Merge side")
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, keys, "carol", "pr-mallory2")
    assert _outcome(repo, "001-expand.yaml") == ("rejected", ["intent_signature_invalid"])
    assert g.canary(repo) == START


def test_shallow_clone_attributes_every_file_to_the_boundary_commit(
    repo: Path, keys: s.Keys, tmp_path: Path
) -> None:
    """CI checkouts are shallow by default (actions/checkout fetch-depth: 1). The shallow
    boundary commit "adds" every file, so it becomes the writer and bringer of every pending
    intent: mallory's unsigned rollback naming carol is accepted as carol's (signed by carol's
    merge), and alice's properly signed expand is refused as carol's."""
    g.git(repo, "checkout", "-q", "-b", "pr-mallory")
    g.write_intent(repo, "001-rollback.yaml", intent="rollback", actor="carol")
    s.commit_as(repo, None, "mallory", "rollback", f"{g.INTENTS}/001-rollback.yaml")
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, keys, "carol", "pr-mallory")
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    full = tmp_path / "full"
    subprocess.run(["git", "clone", "-q", f"file://{bare}", str(full)], check=True)
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{bare}", str(shallow)], check=True
    )
    for clone in (full, shallow):
        g.git(clone, "config", "user.name", "Operator")
        g.git(clone, "config", "user.email", "operator@example.com")
    assert _outcome(full, "001-rollback.yaml") == ("rejected", ["intent_unsigned"])
    g.write_intent(shallow, "002-expand.yaml", step=5, actor="alice")
    s.commit_as(shallow, keys, "alice", "expand", f"{g.INTENTS}/002-expand.yaml")
    report = g.once(shallow)
    rows = {row.source.name: row for row in report.outcomes}
    assert (rows["002-expand.yaml"].status, rows["002-expand.yaml"].reasons[:1]) == (
        "rejected", ("trust_history_shallow",)
    )  # fmt: skip
    # A rollback still pauses (as with any trust problem), noting it.
    assert rows["001-rollback.yaml"].status == "applied"
    assert "trust_history_shallow" in rows["001-rollback.yaml"].reasons


def test_decision_flipped_back_by_a_merge_that_keeps_an_old_side(repo: Path, keys: s.Keys) -> None:
    """gates-bot said promote (G1), then hold (G2). A branch forked before G2 merges main
    with `-s ours` (keeping its own tree, so the decision is G1's promote again) and is merged
    into main by an approver. The decision walk is path-limited, so git's history
    simplification follows only the side the merge is TREESAME to and never sees G2: the
    decision's "last writer" is G1, signed by gates-bot, and the expand goes through."""
    fork = g.head(repo)  # G1: promote, signed by gates-bot (trusted_repo)
    s.signed_decision(repo, keys, "gates-bot", decision="hold", trace="0800")  # G2
    g.git(repo, "checkout", "-q", "-b", "pr-alice", fork)
    g.write_intent(repo, "001-expand.yaml", step=10, actor="alice")
    s.commit_as(repo, keys, "alice", "intent", P)
    g.git(repo, "merge", "-q", "-s", "ours", "-m", "Merge main", "main")  # unsigned
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, keys, "carol", "pr-alice")
    assert '"decision": "promote"' in g.show_file(repo, "HEAD", g.DECISION)
    assert _outcome(repo, "001-expand.yaml") == ("rejected", ["promotion_decision_untrusted"])
    assert g.canary(repo) == START


def test_migration_mode_skips_the_decision_signer_check(tmp_path: Path, keys: s.Keys) -> None:
    """requireSignedIntents: false (documented: no identity, access or approval check for an
    unsigned intent) also drops decisionSigners: an unsigned decision flip plus an unsigned
    expand is applied, although the decision check is about the decision, not the intent."""
    settings = s.TRUST_SETTINGS.replace("requireSignedIntents: true", "requireSignedIntents: false")
    settings = settings.replace("bindActorToSigner: true", "bindActorToSigner: false")
    repo = s.trusted_repo(tmp_path / "m", keys, settings=settings)
    s.signed_decision(repo, None, "mallory", trace="0800")  # unsigned flip
    s.pull_request(repo, keys, author="alice", approver="carol", name="001-expand.yaml", step=10)
    assert _outcome(repo, "001-expand.yaml") == ("rejected", ["promotion_decision_untrusted"])
    s.pull_request(
        repo, keys, author="mallory", approver=None, name="002-expand.yaml", step=10, signed=False
    )
    assert _outcome(repo, "002-expand.yaml") == ("rejected", ["promotion_decision_untrusted"])


def test_a_fifo_signing_key_is_refused_not_waited_on(tmp_path: Path) -> None:
    """signing.key naming a FIFO: refused at once (signing_key_invalid), no hang."""
    import os

    from reconciler.adapters.signing_keys import load_signing_key
    from reconciler.core.errors import RefusalError

    fifo = tmp_path / "key"
    os.mkfifo(fifo)
    with pytest.raises(RefusalError) as caught:
        load_signing_key(str(fifo), source="reconciler.yaml", repository=str(tmp_path / "r"))
    assert caught.value.reason == "signing_key_invalid"


def test_an_access_policy_with_a_duplicate_key_is_refused_not_read_last_wins(
    repo: Path, keys: s.Keys
) -> None:
    (repo / s.ACCESS).write_text(s.ACCESS_POLICY + "request:\n  expand: [mallory]\n")
    s.commit_as(repo, keys, "carol", "access: duplicate", s.ACCESS)
    s.pull_request(repo, keys, author="alice", approver="carol", name="001-expand.yaml", step=10)
    status, reasons = _outcome(repo, "001-expand.yaml")
    assert (status, reasons[:1]) == ("rejected", ["trust_settings_invalid"])
