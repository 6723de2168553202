"""Trust: who signed an intent, who approved it, who changed the decision (real keys, git)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.loop import head_move
from tests.support import gitrepos as g
from tests.support import signers as s

START = 25
"""The example registry's canary."""


@pytest.fixture
def keys(tmp_path: Path) -> s.Keys:
    return s.Keys(tmp_path / "keys")


@pytest.fixture
def repo(tmp_path: Path, keys: s.Keys) -> Path:
    return s.trusted_repo(tmp_path / "repo", keys)


def _outcome(repo: Path, name: str) -> tuple[str, list[str]]:
    report = g.once(repo)
    rows = {row.source.name: row for row in report.outcomes}
    row = rows[name]
    return row.status, list(row.reasons)


def test_signed_by_a_requester_and_merged_by_an_approver_is_applied(
    repo: Path, keys: s.Keys
) -> None:
    s.pull_request(repo, keys, author="alice", approver="carol", name="001-expand.yaml", step=10)
    assert _outcome(repo, "001-expand.yaml") == ("applied", [])
    assert g.canary(repo) == START + 10


@pytest.mark.parametrize(
    ("pr", "reason"),
    [
        ({"author": "alice", "approver": "carol", "signed": False}, "intent_unsigned"),
        ({"author": "mallory", "approver": "carol"}, "intent_signer_not_allowed"),
        ({"author": "alice", "approver": "carol", "actor": "cto-jane"}, "intent_actor_not_signer"),
        ({"author": "eve", "approver": "carol"}, "intent_action_not_permitted"),
        ({"author": "alice", "approver": "bob"}, "intent_not_approved"),
        ({"author": "alice", "approver": None}, "intent_not_approved"),
        ({"author": "dave", "approver": "dave"}, "intent_self_approved"),
    ],
)
def test_each_failed_check_rejects_an_expand_with_its_own_code(
    repo: Path, keys: s.Keys, pr: dict[str, object], reason: str
) -> None:
    s.pull_request(repo, keys, name="001-expand.yaml", step=10, **pr)  # type: ignore[arg-type]
    status, reasons = _outcome(repo, "001-expand.yaml")
    assert (status, reasons[:1]) == ("rejected", [reason])
    assert g.canary(repo) == START
    assert g.processed(repo, "rejected") == ["001-expand.yaml"]


def test_an_unmerged_merge_signed_by_no_approver_is_not_approved(repo: Path, keys: s.Keys) -> None:
    g.git(repo, "checkout", "-q", "-b", "pr")
    g.write_intent(repo, "001-expand.yaml", step=10, actor="alice")
    s.commit_as(repo, keys, "alice", "intent", f"{g.INTENTS}/001-expand.yaml")
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, None, "carol", "pr")  # an unsigned merge
    assert _outcome(repo, "001-expand.yaml")[1][:1] == ["intent_not_approved"]


def test_an_untracked_intent_is_not_committed(repo: Path) -> None:
    g.write_intent(repo, "001-expand.yaml", step=10, actor="alice")
    assert _outcome(repo, "001-expand.yaml") == ("rejected", ["intent_not_committed"])


def test_content_changed_in_the_merge_is_not_what_was_signed(repo: Path, keys: s.Keys) -> None:
    g.git(repo, "checkout", "-q", "-b", "pr")
    g.write_intent(repo, "001-expand.yaml", step=10, actor="alice")
    s.commit_as(repo, keys, "alice", "intent", f"{g.INTENTS}/001-expand.yaml")
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "merge", "-q", "--no-ff", "--no-commit", "pr")
    g.write_intent(repo, "001-expand.yaml", step=90, actor="alice")  # an evil merge
    g.git(repo, "add", "-A")
    g.git(repo, *keys.sign_args("carol"), "commit", "-q", "-S", "-m", "merge")
    assert _outcome(repo, "001-expand.yaml")[1][:1] == ["intent_signature_invalid"]
    assert g.canary(repo) == START


def test_a_decision_changed_by_an_untrusted_commit_rejects_expand(repo: Path, keys: s.Keys) -> None:
    s.signed_decision(repo, None, "mallory", trace="0800")  # unsigned flip
    s.pull_request(repo, keys, author="alice", approver="carol", name="001-expand.yaml", step=10)
    assert _outcome(repo, "001-expand.yaml") == ("rejected", ["promotion_decision_untrusted"])
    s.signed_decision(repo, keys, "alice", trace="0900")  # signed, but not by a decision signer
    s.pull_request(repo, keys, author="alice", approver="carol", name="002-expand.yaml", step=10)
    assert _outcome(repo, "002-expand.yaml") == ("rejected", ["promotion_decision_untrusted"])
    s.signed_decision(repo, keys, "gates-bot", trace="1000")
    s.pull_request(repo, keys, author="alice", approver="carol", name="003-expand.yaml", step=10)
    assert _outcome(repo, "003-expand.yaml") == ("applied", [])


@pytest.mark.parametrize(
    ("author", "approver", "decision_signer", "notes"),
    [
        ("bob", None, "gates-bot", ["intent_not_approved"]),
        ("alice", "alice", "gates-bot", ["intent_self_approved"]),
        ("bob", "carol", None, ["promotion_decision_untrusted"]),
    ],
)
def test_a_rollback_by_a_permitted_signer_pauses_despite_approval_and_decision(
    repo: Path,
    keys: s.Keys,
    author: str,
    approver: str | None,
    decision_signer: str | None,
    notes: list[str],
) -> None:
    if decision_signer is None:
        s.signed_decision(repo, None, "mallory", decision="hold", trace="0800")
    policy = (repo / s.ACCESS).read_text().replace("[carol, dave]", "[carol, dave, alice]")
    (repo / s.ACCESS).write_text(policy)
    s.commit_as(repo, keys, "carol", "access: alice approves too", s.ACCESS)
    s.pull_request(
        repo, keys, author=author, approver=approver, name="001-rollback.yaml", intent="rollback"
    )
    status, reasons = _outcome(repo, "001-rollback.yaml")
    assert status == "applied"
    assert set(notes) <= set(reasons)
    assert "pause at canary" in g.git(repo, "log", "-1", "--format=%s")


@pytest.mark.parametrize(
    ("pr", "reason"),
    [
        ({"author": "alice", "approver": "carol", "signed": False}, "intent_unsigned"),
        ({"author": "mallory", "approver": "carol"}, "intent_signer_not_allowed"),
    ],
)
def test_a_rollback_by_no_allowed_signer_is_rejected(
    repo: Path, keys: s.Keys, pr: dict[str, object], reason: str
) -> None:
    s.pull_request(repo, keys, name="001-rollback.yaml", intent="rollback", **pr)  # type: ignore[arg-type]
    assert _outcome(repo, "001-rollback.yaml") == ("rejected", [reason])


def test_broken_trust_settings_hold_expand_but_not_rollback(repo: Path, keys: s.Keys) -> None:
    (repo / s.ALLOWED).write_text("garbage\n")
    s.commit_as(repo, keys, "carol", "access: broken", s.ALLOWED)
    s.pull_request(repo, keys, author="alice", approver="carol", name="001-expand.yaml", step=10)
    s.pull_request(
        repo, keys, author="alice", approver="carol", name="002-rollback.yaml", intent="rollback"
    )
    report = g.once(repo)
    rows = {row.source.name: row for row in report.outcomes}
    assert rows["001-expand.yaml"].status == "rejected"
    assert rows["001-expand.yaml"].reasons[0] == "trust_settings_invalid"
    assert rows["002-rollback.yaml"].status == "applied"
    assert "trust_settings_invalid" in rows["002-rollback.yaml"].reasons


def test_key_rotation_with_valid_before(repo: Path, keys: s.Keys, tmp_path: Path) -> None:
    old = s.Keys(tmp_path / "old-keys")
    text = (repo / s.ALLOWED).read_text()
    text += f'alice valid-before="20260101" {old.public("alice")}\n'
    (repo / s.ALLOWED).write_text(text)
    s.commit_as(repo, keys, "carol", "access: alice's old key, retired", s.ALLOWED)
    # Signed with the retired key before it expired: still good.
    g.git(repo, "checkout", "-q", "-b", "pr-old")
    g.write_intent(repo, "001-expand.yaml", step=10, actor="alice")
    s.commit_as(
        repo, old, "alice", "intent", f"{g.INTENTS}/001-expand.yaml", date="1764547200 +0000"
    )
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, keys, "carol", "pr-old")
    assert _outcome(repo, "001-expand.yaml") == ("applied", [])
    # Signed with it after: not allowed.
    s.signed_decision(repo, keys, "gates-bot", trace="1100")
    g.git(repo, "checkout", "-q", "-b", "pr-new")
    g.write_intent(repo, "002-expand.yaml", step=10, actor="alice")
    s.commit_as(repo, old, "alice", "intent", f"{g.INTENTS}/002-expand.yaml")
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, keys, "carol", "pr-new")
    assert _outcome(repo, "002-expand.yaml") == ("rejected", ["intent_signer_not_allowed"])


def test_plan_and_status_predict_the_trust_checks(repo: Path, keys: s.Keys) -> None:
    from reconciler.core.outcome_rows import outcome_row
    from reconciler.reports.plan import make_plan
    from reconciler.reports.status import repo_status

    fields = ("intentFile", "status", "reasonCodes")
    g.git(repo, "checkout", "-q", "-b", "feature")
    for name, author, signed, actor in [
        ("10-expand.yaml", "alice", True, "alice"),
        ("20-expand.yaml", "alice", False, "alice"),
        ("30-expand.yaml", "mallory", True, "mallory"),
        ("40-expand.yaml", "eve", True, "eve"),
        ("50-expand.yaml", "alice", True, "cto-jane"),
    ]:
        g.write_intent(repo, name, step=5, actor=actor)
        s.commit_as(repo, keys if signed else None, author, name, f"{g.INTENTS}/{name}")
    g.write_intent(repo, "60-expand.yaml", step=5, actor="alice")  # not committed
    planned = [
        {k: outcome_row(item.outcome, None)[k] for k in fields}
        for item in make_plan(str(repo), "main", now=lambda: g.FIXED).items
    ]
    (repo / g.INTENTS / "60-expand.yaml").unlink()
    g.git(repo, "checkout", "-q", "main")
    s.merge_as(repo, keys, "carol", "feature")
    g.write_intent(repo, "60-expand.yaml", step=5, actor="alice")
    status = [
        {k: row[k] for k in fields}
        for row in repo_status(str(repo), now=lambda: g.FIXED)["pending"]
    ]
    done = [{k: outcome_row(o, None)[k] for k in fields} for o in g.once(repo).outcomes]
    assert planned == status == done
    assert [(str(row["intentFile"]).rsplit("/")[-1], row["reasonCodes"]) for row in done] == [
        ("10-expand.yaml", []),
        ("20-expand.yaml", ["intent_unsigned"]),
        ("30-expand.yaml", ["intent_signer_not_allowed"]),
        ("40-expand.yaml", ["intent_action_not_permitted"]),
        ("50-expand.yaml", ["intent_actor_not_signer"]),
        ("60-expand.yaml", ["intent_not_committed"]),
    ]


def test_five_hundred_signed_intents_are_verified_in_one_pass(
    repo: Path, keys: s.Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.loop.test_once_signing import _commands, _count_git

    def bulk(names: list[str]) -> int:
        g.git(repo, "checkout", "-q", "-b", f"bulk-{len(names)}")
        for name in names:
            g.write_intent(repo, name, intent="resume", actor="alice", idempotencyKey=name)
        s.commit_as(repo, keys, "alice", "intents", *(f"{g.INTENTS}/{name}" for name in names))
        g.git(repo, "checkout", "-q", "main")
        s.merge_as(repo, keys, "carol", f"bulk-{len(names)}")
        log = _count_git(tmp_path / f"count-{len(names)}", monkeypatch)
        # One route for the HEAD move of 1 intent and of 500 (test_head_move.py covers both).
        monkeypatch.setattr(head_move, "FEW_PATHS", 0)
        report = g.once(repo)
        assert [row.status for row in report.outcomes] == ["applied"] * len(names)
        monkeypatch.undo()
        return len(_commands(log.read_text().splitlines()))

    (tmp_path / "count-1").mkdir()
    (tmp_path / "count-500").mkdir()
    one = bulk(["0000-resume.yaml"])
    many = bulk([f"{n:03d}-resume.yaml" for n in range(1, 501)])
    assert many == one  # the same git processes for one intent as for five hundred


def test_validate_reports_the_trust_files_and_each_unusable_line(repo: Path, keys: s.Keys) -> None:
    from reconciler.inputs.fleet import PathFlags
    from reconciler.reports.validation import validate_repo

    report = validate_repo(str(repo), PathFlags(), now=lambda: g.FIXED)
    assert report["trust"]["ok"] is True
    assert report["trust"]["summary"].startswith("ok (6 key(s) of 6 principal(s)")
    (repo / s.ALLOWED).write_text((repo / s.ALLOWED).read_text() + "* ssh-ed25519 AAAA\n")
    report = validate_repo(str(repo), PathFlags(), now=lambda: g.FIXED)
    assert report["ok"] is False
    assert report["trust"]["problems"] == [
        f"{s.ALLOWED} line 7: principals must be plain names (no *, ? or ! patterns)"
    ]
    (repo / s.ACCESS).write_text("request:\n  grow: [alice]\n")
    report = validate_repo(str(repo), PathFlags(), now=lambda: g.FIXED)
    assert report["trust"]["reasonCode"] == "trust_settings_invalid"


@pytest.mark.parametrize(
    ("author", "intent", "expected"),
    [
        ("eve", "resume", ("rejected", ["intent_action_not_permitted"])),
        ("eve", "rollback", ("applied", [])),  # rollback: ["*"]
        ("alice", "adopt", ("rejected", ["intent_action_not_permitted"])),  # no adopt entry
        ("bob", "resume", ("applied", ["rollout_unchanged"])),  # already running
    ],
)
def test_permissions_are_per_action(
    repo: Path, keys: s.Keys, author: str, intent: str, expected: tuple[str, list[str]]
) -> None:
    name = f"001-{intent}.yaml"
    s.pull_request(repo, keys, author=author, approver="carol", name=name, intent=intent)
    assert _outcome(repo, name) == expected
