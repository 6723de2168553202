"""Attacks on `reconcile verify` and the drift check, each kept as a regression test.

From a security review (wt-attack2): each test failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core import audit_chain
from reconciler.core.audit_drift import AuditState
from reconciler.core.errors import RefusalError
from reconciler.reports import audit as audits
from reconciler.reports.audit_state import blocking_findings
from reconciler.reports.auditing import auditor
from tests.support import gitrepos as g

START = 25


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    for n in range(2):
        g.add_intents(repo, {f"00{n}-expand.yaml": {"step": 5}})
        g.once(repo)
    assert g.canary(repo) == START + 10
    return repo


def _pass(repo: Path) -> list[tuple[str, str, list[str]]]:
    report = g.once(repo, audit=auditor(str(repo)))
    return [(row.source.name, row.status, list(row.reasons)) for row in report.outcomes]


def _blocking(repo: Path) -> list[str]:
    found, _ = blocking_findings(str(repo))
    return [f"{f.kind} {f.path}" for f in found]


def _forge_appended_record(repo: Path, canary: int) -> None:
    """Registry to `canary`, and a new record appended (chain-valid) whose after matches."""
    text = (repo / g.REGISTRY).read_text()
    (repo / g.REGISTRY).write_text(
        text.replace(f"canaryPercent: {START + 10} ", f"canaryPercent: {canary} ", 1)
    )
    lines = (repo / g.TELEMETRY).read_text().splitlines()
    record = json.loads(lines[-1])
    record["rollout"]["before"]["canaryPercent"] = START + 10
    record["rollout"]["after"]["canaryPercent"] = canary
    record["idempotencyKey"] = "forged-key"
    record["prevHash"] = audit_chain.line_hash(lines[-1].encode())
    lines.append(json.dumps(record, separators=(",", ":")))
    (repo / g.TELEMETRY).write_text("\n".join(lines) + "\n")


def test_a_second_root_commit_merged_in_is_checked_against_the_empty_tree(repo: Path) -> None:
    """An orphan commit's files are hand edits; the merge taking its tree is diffed against
    its first parent (a combined diff of a merge equal to one side shows nothing)."""
    g.git(repo, "checkout", "-q", "--orphan", "evil")
    _forge_appended_record(repo, 80)
    evil = g.commit_all(repo, "unrelated import")
    g.git(repo, "checkout", "-q", "main")
    g.git(repo, "merge", "-q", "--allow-unrelated-histories", "-s", "ours", "--no-commit", "evil")
    g.git(repo, "read-tree", "-u", "--reset", "evil")  # the merge takes evil's tree
    merge = g.commit_all(repo, "merge evil")
    assert g.canary(repo) == 80
    found = {(f.commit, f.path) for f in audits.audit(str(repo)).unresolved}
    assert {(evil, g.REGISTRY), (evil, g.TELEMETRY), (merge, g.REGISTRY)} <= found
    g.add_intents(repo, {"009-expand.yaml": {"step": 5}})
    rows = _pass(repo)
    assert rows[0][1] == "rejected" and rows[0][2][:1] == ["audit_drift"], rows


def test_the_first_root_commit_is_still_the_baseline(repo: Path) -> None:
    assert audits.audit(str(repo)).findings == []


def _delete_then_readd_registry(repo: Path, canary: int) -> str:
    """Two commits: the registry deleted, then added again with another canary."""
    text = (repo / g.REGISTRY).read_text()
    current = g.canary(repo)
    g.git(repo, "rm", "-q", g.REGISTRY)
    g.commit_all(repo, "move the registry (1/2)")
    (repo / g.REGISTRY).write_text(
        text.replace(f"canaryPercent: {current} ", f"canaryPercent: {canary} ", 1)
    )
    return g.commit_all(repo, "move the registry (2/2)")


def test_a_registry_deleted_and_added_again_is_compared_with_its_last_version(
    repo: Path,
) -> None:
    readded = _delete_then_readd_registry(repo, 60)
    with (repo / g.REGISTRY).open("a") as handle:
        handle.write("# a comment\n")
    g.commit_all(repo, "a comment")  # HEAD's check now names this commit, not the re-add
    found = [f for f in audits.audit(str(repo)).unresolved if f.commit == readded]
    assert [(f.kind, f.path) for f in found] == [("hand_edit", g.REGISTRY)], found
    assert "35 -> 60" in found[0].detail


def _deep_json_line(repo: Path, depth: int = 100_000) -> None:
    with (repo / g.TELEMETRY).open("a") as handle:
        handle.write('{"prevHash":' + "[" * depth + "\n")


def test_a_deeply_nested_telemetry_line_is_a_broken_record_not_a_crash(repo: Path) -> None:
    _deep_json_line(repo)
    junk = g.commit_all(repo, "junk")
    found = [(f.kind, f.commit, f.line) for f in audits.audit(str(repo)).unresolved]
    assert ("record_chain_broken", junk, 3) in found, found
    g.add_intents(repo, {"009-rollback.yaml": {"intent": "rollback"}})
    assert [(name, status) for name, status, _ in _pass(repo)] == [("009-rollback.yaml", "applied")]


def test_deeply_nested_key_indexes_are_read_as_empty(repo: Path) -> None:
    """A replay of a key the range did not apply makes the audit read the indexes at since."""
    (repo / g.INDEX).write_text("[" * 100_000)
    since = g.commit_all(repo, "junk index")
    message = "replay\n\nReconcile-Status: replayed\nIdempotency-Key: nope\n"
    g.git(repo, "commit", "-q", "--allow-empty", "-m", message)
    found = [(f.kind, f.detail) for f in audits.audit(str(repo), since).unresolved]
    assert found == [("forged_trailers", "it replays key 'nope', which no earlier record applied")]


def test_after_a_rotation_the_incremental_check_still_checks_the_registry_at_head(
    tmp_path: Path,
) -> None:
    """A state at a commit whose active telemetry file is empty (just rotated) that lost an
    open registry edit: the last applied record is found in the sealed segments."""
    repo = g.make_policy_repo(
        tmp_path / "repo", settings="telemetryRotateBytes: 2048\n", paced=False
    )
    for n in range(2):
        g.add_intents(repo, {f"00{n}-expand.yaml": {"step": 5}})
        assert [row[1] for row in _pass(repo)] == ["applied"]
    assert not (repo / g.TELEMETRY).exists() or not (repo / g.TELEMETRY).read_text()  # sealed
    text = (repo / g.REGISTRY).read_text()
    (repo / g.REGISTRY).write_text(text.replace("canaryPercent: 35 ", "canaryPercent: 60 ", 1))
    edit = g.commit_all(repo, "tweak comments")
    g.git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    found, _ = blocking_findings(str(repo), AuditState(edit))  # a state that lost the edit
    assert [(f.kind, f.path) for f in found] == [("hand_edit", g.REGISTRY)], found
    assert "canaryPercent is 60, the last applied record says 35" in found[0].detail


def test_a_shallow_clone_is_refused_and_holds_expand(repo: Path, tmp_path: Path) -> None:
    """CI's default checkout (fetch-depth 1): its one commit would be the baseline."""
    _forge_appended_record(repo, 80)
    g.commit_all(repo, "tweak comments")
    shallow = tmp_path / "shallow"
    g.git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    assert g.git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    with pytest.raises(RefusalError) as refused:
        audits.audit(str(shallow))
    assert refused.value.reason == "trust_history_shallow"
    done = g.reconcile(shallow, "verify", "--repo", str(shallow))
    assert done.returncode == 1 and "shallow" in done.stderr, done
    g.add_intents(shallow, {"009-expand.yaml": {"step": 5}})
    rows = _pass(shallow)
    assert rows[0][:2] == ("009-expand.yaml", "rejected"), rows
    assert rows[0][2][:1] == ["audit_drift"], rows


def test_a_forged_replay_commit_is_checked_for_what_it_wrote(repo: Path) -> None:
    """Without botSigners, `Reconcile-Status: replayed` naming an applied key is a verified
    commit with no record to agree with: only its state file and moved intent are free."""
    key = g.records(repo)[-1]["idempotencyKey"]
    index = json.loads((repo / g.INDEX).read_text())
    index["keys"].pop(key)  # forget a key: its intent would apply again
    (repo / g.INDEX).write_text(json.dumps(index))
    g.git(repo, "rm", "-q", f"{g.INTENTS}/applied/000-expand.yaml")
    message = f"replay\n\nReconcile-Status: replayed\nIdempotency-Key: {key}\n"
    g.git(repo, "add", "-A")
    g.git(repo, "commit", "-q", "-m", message)
    assert sorted(_blocking(repo)) == [
        f"hand_edit {g.INTENTS}/applied/000-expand.yaml",
        f"hand_edit {g.INDEX}",
    ]


def test_a_real_replay_commit_is_clean(repo: Path) -> None:
    key = g.records(repo)[-1]["idempotencyKey"]
    g.add_intents(repo, {"010-again.yaml": {"step": 5, "idempotencyKey": key}})
    assert [row[1] for row in _pass(repo)] == ["replayed"]
    assert g.trailer(repo, "HEAD", "Reconcile-Status") == "replayed"
    assert audits.audit(str(repo)).findings == []
