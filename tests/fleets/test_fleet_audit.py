"""The audit over several fleets: one walk of the history, each finding naming its fleet."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.audit_drift import AuditState
from reconciler.loop import checkout as checkouts
from reconciler.reports import audit_log, audit_records, audit_state, status
from reconciler.reports.audit import audit
from reconciler.reports.auditing import auditor
from tests.support import gitrepos as g
from tests.support import signers as s
from tests.support.fleets import add_fleet_intents, fleet_canary, fleet_path, make_fleets_repo

PROD = "prod-eu"
STAGING = "staging"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two fleets, each with one applied expand (25 -> 30)."""
    repo = make_fleets_repo(tmp_path / "repo")
    add_fleet_intents(repo, STAGING, {"001-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, PROD, {"001-expand.yaml": {"step": 5}})
    assert [row[1] for row in _pass(repo)] == ["applied", "applied"]
    return repo


def _pass(repo: Path, **options: Any) -> list[tuple[str, str, list[str]]]:
    report = g.once(repo, audit=auditor(str(repo)), **options)
    return [
        (f"{row.source.path.split('/')[2]}/{row.source.name}", row.status, list(row.reasons))
        for row in report.outcomes
    ]


def _set_canary(repo: Path, fleet: str, canary: int) -> None:
    registry = repo / fleet_path(fleet, "registry.yaml")
    text = registry.read_text()
    changed = re.sub(r"canaryPercent: \d+ ", f"canaryPercent: {canary} ", text, count=1)
    assert changed != text
    registry.write_text(changed)


def _hand_edit(repo: Path, fleet: str, canary: int) -> str:
    _set_canary(repo, fleet, canary)
    return g.commit_all(repo, "tweak comments")


def _verify(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = g.reconcile(repo, "verify", "--repo", str(repo), "--json", *args)
    return done.returncode, json.loads(done.stdout or "{}") if done.stdout else {}


def test_a_hand_edit_of_one_fleet_holds_its_expand_but_not_the_other_fleets(repo: Path) -> None:
    _hand_edit(repo, PROD, 100)
    add_fleet_intents(repo, PROD, {"002-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, STAGING, {"002-expand.yaml": {"step": 5}})
    assert _pass(repo) == [
        ("prod-eu/002-expand.yaml", "rejected", ["audit_drift"]),
        ("staging/002-expand.yaml", "applied", []),
    ]
    assert fleet_canary(repo, STAGING) == 35
    add_fleet_intents(repo, PROD, {"003-rollback.yaml": {"intent": "rollback"}})
    assert _pass(repo) == [("prod-eu/003-rollback.yaml", "applied", [])]


def test_an_adopt_in_the_fleet_resolves_its_drift(repo: Path) -> None:
    edit = _hand_edit(repo, PROD, 60)
    add_fleet_intents(repo, STAGING, {"002-adopt.yaml": {"intent": "adopt"}})
    add_fleet_intents(repo, PROD, {"003-expand.yaml": {"step": 5}})
    # An adopt in staging is no way out for prod-eu's hand edit.
    assert _pass(repo) == [
        ("prod-eu/003-expand.yaml", "rejected", ["audit_drift"]),
        ("staging/002-adopt.yaml", "applied", ["rollout_unchanged"]),
    ]
    add_fleet_intents(repo, PROD, {"004-adopt.yaml": {"intent": "adopt", "approval_ref": "I-7"}})
    add_fleet_intents(repo, PROD, {"005-expand.yaml": {"step": 5}})
    assert _pass(repo) == [
        ("prod-eu/004-adopt.yaml", "applied", []),
        ("prod-eu/005-expand.yaml", "applied", []),
    ]
    assert fleet_canary(repo, PROD) == 65
    code, doc = _verify(repo)
    assert code == 0, doc
    (found,) = [f for f in doc["findings"] if f["kind"] == "hand_edit"]
    assert (found["commit"], found["fleet"], found["resolved"]) == (edit, PROD, "adopted")


def test_a_reconciler_commit_of_one_fleet_that_changes_another_fleets_registry_is_a_finding(
    repo: Path,
) -> None:
    add_fleet_intents(repo, STAGING, {"002-expand.yaml": {"step": 5}})
    _pass(repo)
    assert g.trailer(repo, "HEAD", "Fleet") == STAGING
    # The staging commit, its record and trailers intact, also moves prod-eu's canary.
    _set_canary(repo, PROD, 90)
    g.git(repo, "commit", "-q", "-a", "--amend", "--no-edit")
    forged = g.head(repo)
    code, doc = _verify(repo)
    assert code == 4
    assert [(f["kind"], f["fleet"], f["commit"], f["path"]) for f in doc["findings"]] == [
        ("hand_edit", PROD, forged, fleet_path(PROD, "registry.yaml"))
    ]
    add_fleet_intents(repo, PROD, {"002-expand.yaml": {"step": 5}})
    assert _pass(repo) == [("prod-eu/002-expand.yaml", "rejected", ["audit_drift"])]


def test_verify_lists_every_fleets_findings_and_fleet_filters_them(repo: Path) -> None:
    prod_edit = _hand_edit(repo, PROD, 70)
    staging_edit = _hand_edit(repo, STAGING, 80)
    code, doc = _verify(repo)
    assert code == 4
    assert doc["fleets"] == [PROD, STAGING]
    assert [(f["fleet"], f["commit"]) for f in doc["findings"]] == [
        (PROD, prod_edit),
        (STAGING, staging_edit),
    ]
    code, doc = _verify(repo, "--fleet", STAGING)
    assert code == 4
    assert [(f["fleet"], f["commit"]) for f in doc["findings"]] == [(STAGING, staging_edit)]
    text = g.reconcile(repo, "verify", "--repo", str(repo), "--fleet", PROD).stdout
    assert text.splitlines()[0].startswith(f"{PROD} hand_edit {prod_edit[:12]} ")
    g.git(repo, "revert", "--no-edit", staging_edit)
    assert _verify(repo, "--fleet", STAGING)[0] == 0
    unknown = g.reconcile(repo, "verify", "--repo", str(repo), "--fleet", "nope")
    assert unknown.returncode == 1
    assert "fleet_unknown" in unknown.stdout + unknown.stderr


def test_an_unapproved_trust_file_change_holds_every_fleet(repo: Path, tmp_path: Path) -> None:
    keys = s.Keys(tmp_path / "keys")
    settings = repo / "reconciler.yaml"
    settings.write_text(settings.read_text() + f"trust:\n  allowedSigners: {s.ALLOWED}\n")
    (repo / s.ALLOWED).parent.mkdir(parents=True)
    (repo / s.ALLOWED).write_text(keys.allowed_signers("alice"))
    added = g.commit_all(repo, "trust")  # unsigned too: a finding of its own
    (repo / s.ALLOWED).write_text(keys.allowed_signers("alice", "mallory"))
    change = g.commit_all(repo, "signers: mallory")
    lines = audit_state.drift_lines(str(repo), fleet=STAGING, remember=False)
    assert lines == audit_state.drift_lines(str(repo), fleet=PROD, remember=False)
    assert lines == [
        f"trust_file_unapproved {sha[:12]} {s.ALLOWED}: {s.ALLOWED} changed by a commit "
        "that is not signed by an allowed signer (unsigned)"
        for sha in (added, change)
    ]
    code, doc = _verify(repo, "--fleet", STAGING)
    assert code == 4
    assert {(f["kind"], f["fleet"]) for f in doc["findings"]} == {("trust_file_unapproved", None)}


def test_the_hook_walks_the_history_once_for_every_fleet_at_one_head(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks: list[str | None] = []
    real = audit_log.read_log

    def counted(checkout: Any, base: str | None, paths: Any) -> Any:
        walks.append(base)
        return real(checkout, base, paths)

    monkeypatch.setattr(audit_log, "read_log", counted)
    _hand_edit(repo, PROD, 100)
    hook = auditor(str(repo))
    checkout = checkouts.open_checkout(str(repo))
    assert list(hook(checkout, STAGING)) == []
    (line,) = hook(checkout, PROD)
    assert line.startswith("hand_edit ")
    assert len(walks) == 1
    # A dry pass over both fleets (nothing committed, HEAD unchanged) walks it once too.
    add_fleet_intents(repo, PROD, {"002-expand.yaml": {"step": 5}})
    add_fleet_intents(repo, STAGING, {"002-expand.yaml": {"step": 5}})
    walks.clear()
    assert [row[1:] for row in _pass(repo, dry_run=True)] == [
        ("rejected", ["audit_drift"]),
        ("applied", []),
    ]
    assert len(walks) == 1


def test_the_controllers_cached_audit_covers_every_fleet_and_status_can_ask_for_one(
    repo: Path,
) -> None:
    edit = _hand_edit(repo, PROD, 100)
    found, state = audit_state.cached_blocking_findings(str(repo))  # as daemon/runner.py does
    assert [(f.fleet, f.commit) for f in found] == [(PROD, edit)]
    assert state.fleets == (PROD, STAGING)
    assert audit_state.unresolved_counts(state)["hand_edit"] == 1
    cached = audit_state.read_state(str(repo / ".git" / audit_state.STATE_FILE))
    assert cached == state  # the one cache file of the repository, with its fleets
    assert status.repository_audit(str(repo), STAGING)["blocking"] == []
    (line,) = status.repository_audit(str(repo), PROD)["blocking"]
    assert line.startswith(f"hand_edit {edit[:12]} {fleet_path(PROD, 'registry.yaml')}: ")
    assert status.repository_audit(str(repo))["unresolved"]["hand_edit"] == 1


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fleets whose records (telemetry, registry at HEAD) the audit reads, in order."""
    fleets: list[str] = []
    real = audit_records.read_history

    def counted(objects: Any, rel: Any, base: str | None) -> Any:
        fleets.append(rel.registry.split("/")[2])
        return real(objects, rel, base)

    monkeypatch.setattr(audit_records, "read_history", counted)
    return fleets


def test_the_incremental_audit_after_a_pass_in_one_fleet_reads_that_fleet_only(
    repo: Path, reads: list[str]
) -> None:
    _, state = audit_state.blocking_findings(str(repo))
    assert state.head_findings == ()
    add_fleet_intents(repo, PROD, {"002-expand.yaml": {"step": 5}})
    assert _pass(repo) == [("prod-eu/002-expand.yaml", "applied", [])]
    reads.clear()
    report = audit(str(repo), state=state)
    assert (report.since, report.commits, report.unresolved) == (state.head, 2, [])
    assert reads == [PROD]
    # Nothing changed since: no fleet is read again.
    reads.clear()
    assert audit(str(repo), state=report.state()).unresolved == []
    assert reads == []


def test_an_unchanged_fleets_head_check_is_carried_from_the_state(
    repo: Path, reads: list[str]
) -> None:
    edit = _hand_edit(repo, STAGING, 90)
    g.git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    # A state after the edit (it lost it): only the HEAD check finds staging's registry.
    found, state = audit_state.blocking_findings(
        str(repo), AuditState(edit, fleets=(PROD, STAGING))
    )
    assert [(f.fleet, f.commit, f.path) for f in found] == [
        (STAGING, "", fleet_path(STAGING, "registry.yaml"))
    ]
    assert state.head_findings == tuple(found)
    add_fleet_intents(repo, PROD, {"002-expand.yaml": {"step": 5}})
    assert _pass(repo) == [("prod-eu/002-expand.yaml", "applied", [])]
    reads.clear()
    again, _ = audit_state.blocking_findings(str(repo), state)
    assert reads == [PROD]
    assert again == found


def test_a_hand_edit_of_another_fleet_after_the_cached_head_is_still_found(
    repo: Path, reads: list[str]
) -> None:
    _, state = audit_state.cached_blocking_findings(str(repo))
    edit = _hand_edit(repo, STAGING, 90)
    add_fleet_intents(repo, PROD, {"002-expand.yaml": {"step": 5}})
    reads.clear()
    assert _pass(repo) == [("prod-eu/002-expand.yaml", "applied", [])]
    assert reads == [STAGING]  # the pass's check, from the cache: prod-eu unchanged yet
    reads.clear()
    found, _ = audit_state.blocking_findings(str(repo), state)
    assert sorted(reads) == [PROD, STAGING]
    assert [(f.fleet, f.commit) for f in found] == [(STAGING, edit)]
    # So is one of a file the small owned paths do not list (applied/): by the walk's diff.
    _, state = audit_state.blocking_findings(str(repo))
    moved = _move_applied(repo, STAGING)
    found, state = audit_state.blocking_findings(str(repo), state)
    assert [(f.fleet, f.commit, f.path.split("/")[-2]) for f in found] == [
        (STAGING, edit, STAGING),
        (STAGING, moved, "applied"),  # deleted there
        (STAGING, moved, "applied"),  # and added
    ]


def _move_applied(repo: Path, fleet: str) -> str:
    folder = repo / fleet_path(fleet, "intents/applied")
    (name,) = [path.name for path in folder.iterdir() if path.suffix == ".yaml"]
    g.git(repo, "mv", str(folder / name), str(folder / f"x-{name}"))
    return g.commit_all(repo, "tidy")


def test_a_cold_audit_and_one_from_an_older_cache_read_every_fleet(
    repo: Path, reads: list[str]
) -> None:
    report = audit(str(repo))
    assert sorted(reads) == [PROD, STAGING]
    reads.clear()
    older = report.state()._replace(head_findings=None)  # written before they were kept
    add_fleet_intents(repo, PROD, {"002-expand.yaml": {"step": 5}})
    assert audit(str(repo), state=older).unresolved == []
    assert sorted(reads) == [PROD, STAGING]
    cache = repo / ".git" / audit_state.STATE_FILE
    audit_state.write_state(str(cache), older)
    assert "headFindings" not in cache.read_text()
    reads.clear()
    assert audit_state.cached_blocking_findings(str(repo))[0] == []
    assert sorted(reads) == [PROD, STAGING]
    rewritten = audit_state.read_state(str(cache))
    assert rewritten is not None and rewritten.head_findings == ()
