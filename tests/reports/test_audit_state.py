"""Drift resolved by a revert or an adopt record, and the incremental check's state (real git)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reconciler.core.audit import FindingKind
from reconciler.core.audit_drift import AuditState
from reconciler.reports import audit_state
from reconciler.reports.audit import audit
from tests.support import gitrepos as g
from tests.support.adopting import adopt


def applied_history(tmp_path: Path) -> Path:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    for number in range(2):
        g.add_intents(repo, {f"e{number}.yaml": {"step": 5}})
        g.once(repo)
    return repo


def set_canary(repo: Path, value: int) -> str:
    registry = repo / g.REGISTRY
    text = registry.read_text()
    registry.write_text(text.replace(f"canaryPercent: {g.canary(repo)}", f"canaryPercent: {value}"))
    return g.commit_all(repo, f"canary {value}")


def kinds(repo: Path) -> list[tuple[str, str, str]]:
    return [(str(f.kind), f.path, f.resolved) for f in audit(str(repo)).findings]


def test_a_hand_edit_reverted_later_is_resolved_and_blocks_nothing(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    start = g.canary(repo)
    set_canary(repo, 90)
    assert kinds(repo) == [("hand_edit", g.REGISTRY, "")]
    revert = set_canary(repo, start)
    report = audit(str(repo))
    assert [(f.commit, f.resolved, f.resolved_by) for f in report.findings] == [
        (report.findings[0].commit, "reverted", revert),
        (revert, "reverted", revert),  # the revert changed owned values too: listed, resolved
    ]
    assert report.unresolved == []
    assert audit_state.blocking_findings(str(repo))[0] == []


def test_a_revert_to_another_value_leaves_the_edit_blocking(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    start = g.canary(repo)
    set_canary(repo, 90)
    set_canary(repo, start + 1)
    blocking, _ = audit_state.blocking_findings(str(repo))
    assert [(str(f.kind), f.resolved) for f in blocking] == [("hand_edit", "")] * 2


def test_a_state_file_edit_reverted_with_git_revert_is_resolved(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    (repo / g.STATE).write_text((repo / g.STATE).read_text().replace("e", "E", 1))
    g.commit_all(repo, "fix")
    g.git(repo, "revert", "--no-edit", "HEAD")
    assert kinds(repo) == [("hand_edit", g.STATE, "reverted")] * 2


def test_an_adopt_record_resolves_the_hand_edit_and_the_loop_applies_again(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    set_canary(repo, 90)
    sha = adopt(repo)
    report = audit(str(repo))
    assert [(str(f.kind), f.resolved, f.resolved_by) for f in report.findings] == [
        ("hand_edit", "adopted", sha)
    ]
    g.add_intents(repo, {"later.yaml": {"step": 5}})
    g.once(repo)
    assert g.canary(repo) == 95
    assert audit(str(repo)).unresolved == []


def test_a_chain_break_before_an_adopt_record_is_acknowledged(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    telemetry = repo / g.TELEMETRY
    lines = telemetry.read_text().splitlines(keepends=True)
    tampered = lines[0].replace('"rationale":"', '"rationale":"not ', 1)
    assert tampered != lines[0]
    telemetry.write_text(tampered + "".join(lines[1:]))
    g.commit_all(repo, "tamper")
    assert {f.kind for f in audit_state.blocking_findings(str(repo))[0]} == {
        FindingKind.RECORD_CHAIN_BROKEN,
        FindingKind.HAND_EDIT,
    }
    adopt(repo)
    report = audit(str(repo))
    assert {(str(f.kind), f.resolved) for f in report.findings} == {
        ("record_chain_broken", "adopted"),
        ("hand_edit", "adopted"),
    }
    assert audit_state.blocking_findings(str(repo))[0] == []


def test_an_adopt_record_with_forged_trailers_resolves_nothing(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    set_canary(repo, 90)
    adopt(repo)
    g.git(repo, "commit", "-q", "--amend", "-m", "adopt\n\nReconcile-Status: applied\n")
    blocking = audit_state.blocking_findings(str(repo))[0]
    assert [str(f.kind) for f in blocking] == ["hand_edit", "hand_edit"]  # and the telemetry


def test_the_incremental_check_carries_open_edits_and_sees_their_revert(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    start = g.canary(repo)
    edit = set_canary(repo, 90)
    blocking, state = audit_state.blocking_findings(str(repo))
    assert [f.commit for f in blocking] == [edit] and state.head == edit
    g.add_intents(repo, {"note.yaml": {"step": 5}})  # a human commit, then a rejected pass
    blocking, state = audit_state.blocking_findings(str(repo), state)
    assert [f.commit for f in blocking] == [edit]
    revert = set_canary(repo, start)
    blocking, state = audit_state.blocking_findings(str(repo), state)
    assert blocking == [] and state.open_edits == ()
    full = audit(str(repo))
    assert [(f.resolved, f.resolved_by) for f in full.findings] == [("reverted", revert)] * 2


def test_the_incremental_check_reads_only_the_commits_after_the_state(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    _, state = audit_state.blocking_findings(str(repo))
    g.add_intents(repo, {"late.yaml": {"step": 5}})
    g.once(repo)
    report = audit(str(repo), state=state)
    assert report.since == state.head and report.commits == 2


def test_a_state_whose_head_is_not_an_ancestor_is_ignored(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    edit = set_canary(repo, 90)
    stale = AuditState("0" * 40)  # e.g. a head rewritten away since
    blocking, state = audit_state.blocking_findings(str(repo), stale)
    assert [f.commit for f in blocking] == [edit]
    assert audit(str(repo), state=stale).since is None


def test_the_cache_in_the_git_folder_is_used_and_rebuilt_when_unreadable(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    edit = set_canary(repo, 90)
    cache = repo / ".git" / audit_state.STATE_FILE
    blocking, state = audit_state.cached_blocking_findings(str(repo))
    assert [f.commit for f in blocking] == [edit]
    assert json.loads(cache.read_text())["head"] == g.head(repo) == state.head
    # A cache that lost the open edit: HEAD's registry against the last record still blocks...
    cache.write_text(json.dumps(AuditState(state.head).as_json()))
    assert [f.commit for f in audit_state.cached_blocking_findings(str(repo))[0]] == [""]
    # ...and a corrupt one is never the authority: the whole history is read again.
    cache.write_text("{not json")
    assert [f.commit for f in audit_state.cached_blocking_findings(str(repo))[0]] == [edit]
    os.remove(cache)
    assert [f.commit for f in audit_state.cached_blocking_findings(str(repo))[0]] == [edit]


def test_an_adopt_record_after_the_state_resolves_what_the_state_carried(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    telemetry = repo / g.TELEMETRY
    lines = telemetry.read_text().splitlines(keepends=True)
    telemetry.write_text(
        lines[0].replace('"rationale":"', '"rationale":"not ', 1) + "".join(lines[1:])
    )
    g.commit_all(repo, "tamper")
    set_canary(repo, 90)
    blocking, state = audit_state.blocking_findings(str(repo))
    assert {str(f.kind) for f in blocking} == {"record_chain_broken", "hand_edit"}
    assert len(state.open_edits) == 2 and len(state.findings) == 1
    sha = adopt(repo)
    report = audit(str(repo), state=state)
    assert report.since == state.head and report.commits == 1
    assert {(str(f.kind), f.resolved, f.resolved_by) for f in report.findings} == {
        ("record_chain_broken", "adopted", sha),
        ("hand_edit", "adopted", sha),
    }
    blocking, state = audit_state.blocking_findings(str(repo), state)
    assert blocking == [] and state.open_edits == () and state.findings == ()


def _move_applied(repo: Path) -> str:
    folder = f"{g.INTENTS}/applied"
    g.git(repo, "mv", f"{folder}/e0.yaml", f"{folder}/x.yaml")
    return g.commit_all(repo, "tidy")


def test_a_deeply_nested_cache_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    edit = _move_applied(repo)
    cache = repo / ".git" / audit_state.STATE_FILE
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("[" * 100_000)
    assert audit_state.read_state(str(cache)) is None
    assert {f.commit for f in audit_state.cached_blocking_findings(str(repo))[0]} == {edit}


def test_a_cache_whose_head_is_no_commit_id_is_ignored(tmp_path: Path) -> None:
    """ "HEAD" is an ancestor of HEAD: the range after it would be empty."""
    repo = applied_history(tmp_path)
    edit = _move_applied(repo)
    cache = repo / ".git" / audit_state.STATE_FILE
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({**AuditState(g.head(repo)).as_json(), "head": "HEAD"}))
    assert audit_state.read_state(str(cache)) is None
    assert {f.commit for f in audit_state.cached_blocking_findings(str(repo))[0]} == {edit}
