"""Drift: hand edits resolved by a revert or an adopt record; chain breaks by an adopt."""

from __future__ import annotations

import pytest

from reconciler.core import audit_drift
from reconciler.core.audit import Finding, FindingKind
from reconciler.core.audit_drift import AuditState, DriftTracker, OpenEdit

EDIT = Finding(FindingKind.HAND_EDIT, "c1", "policies/state.json", None, "M: state", "a", "c")
OTHER = EDIT._replace(commit="c2", path="policies/index.json")
BREAK = Finding(FindingKind.RECORD_CHAIN_BROKEN, "c3", "t.jsonl", 4, "changed")


def test_a_later_commit_restoring_the_baseline_reverts_the_edit() -> None:
    tracker = DriftTracker()
    tracker.edited(EDIT, before="blob-a")
    tracker.changed("c9", EDIT.path, "blob-a")
    assert tracker.findings() == [EDIT._replace(resolved="reverted", resolved_by="c9")]
    assert tracker.open_edits() == []


def test_a_change_to_another_value_leaves_the_edit_open() -> None:
    tracker = DriftTracker()
    tracker.edited(EDIT, before="blob-a")
    tracker.changed("c9", EDIT.path, "blob-c")
    assert tracker.findings() == [EDIT]
    assert tracker.open_edits() == [OpenEdit(EDIT, "blob-a")]


def test_two_edits_of_one_path_revert_together_to_the_first_baseline() -> None:
    second = EDIT._replace(commit="c2")
    tracker = DriftTracker()
    tracker.edited(EDIT, before="blob-a")
    tracker.edited(second, before="blob-b")
    tracker.changed("c8", EDIT.path, "blob-b")  # undoes only the second edit: still open
    assert not tracker.findings()[1].resolved
    tracker.changed("c9", EDIT.path, "blob-a")
    assert [found.resolved_by for found in tracker.findings()] == ["c9", "c9"]


def test_an_adopt_record_resolves_every_open_edit() -> None:
    tracker = DriftTracker([OpenEdit(EDIT, "blob-a")])
    tracker.edited(OTHER, before="blob-x")
    tracker.adopted("c7")
    assert {found.resolved for found in tracker.findings()} == {"adopted"}
    assert not tracker.watches(EDIT.path)


def test_only_chain_breaks_before_the_last_adopt_record_are_acknowledged() -> None:
    forged = Finding(FindingKind.FORGED_TRAILERS, "c4", "i.yaml", None, "x")
    found = audit_drift.acknowledged([(BREAK, 3), (BREAK, 9), (forged, -1)], {5: "c5"})
    assert [f.resolved for f in found] == ["adopted", "", ""]
    assert audit_drift.acknowledged([(BREAK, 3)], {}) == [BREAK]


@pytest.mark.parametrize(
    ("finding", "blocks"),
    [
        (EDIT, True),
        (BREAK, True),
        (EDIT._replace(resolved="reverted"), False),
        (EDIT._replace(kind=FindingKind.FORGED_TRAILERS), False),
        (EDIT._replace(kind=FindingKind.TRUST_FILE_UNAPPROVED), True),
        (EDIT._replace(kind=FindingKind.TRUST_FILE_UNAPPROVED, resolved="approved"), False),
    ],
    ids=["hand-edit", "chain", "resolved", "forged", "trust-file", "trust-file-approved"],
)
def test_only_unresolved_hand_edits_chain_breaks_and_trust_changes_block(
    finding: Finding, blocks: bool
) -> None:
    assert audit_drift.is_blocking(finding) is blocks


def test_the_owned_registry_values_compare_by_value_and_type() -> None:
    def registry(canary: object) -> dict[str, object]:
        return {"policy": {"autonomous": {"rollout": {"canaryPercent": canary}}}}

    assert audit_drift.owned_values(registry(25)) == audit_drift.owned_values(registry(25))
    assert audit_drift.owned_values(registry(25)) != audit_drift.owned_values(registry("25"))


def test_the_state_round_trips_through_json_and_rejects_anything_else() -> None:
    state = AuditState("ab" * 20, (OpenEdit(EDIT, "blob-a"),), (BREAK,))
    assert AuditState.from_json(state.as_json()) == state
    assert AuditState.from_json({**state.as_json(), "version": 0}) is None
    assert AuditState.from_json({**state.as_json(), "head": 3}) is None
    assert AuditState.from_json({**state.as_json(), "head": "HEAD"}) is None
    assert AuditState.from_json([]) is None
    broken = state.as_json()
    broken["findings"] = [{"kind": "no_such_kind"}]
    assert AuditState.from_json(broken) is None


def test_the_states_head_findings_round_trip_and_an_older_state_has_none() -> None:
    state = AuditState("ab" * 20, head_findings=(EDIT._replace(commit=""),))
    assert AuditState.from_json(state.as_json()) == state
    assert AuditState.from_json(state._replace(head_findings=()).as_json()) == state._replace(
        head_findings=()
    )
    older = state._replace(head_findings=None).as_json()
    assert "headFindings" not in older
    assert AuditState.from_json(older) == state._replace(head_findings=None)
    assert AuditState.from_json({**state.as_json(), "headFindings": "x"}) is None


def test_a_finding_before_an_adopt_commit_is_adopted() -> None:
    trust = EDIT._replace(kind=FindingKind.TRUST_FILE_UNAPPROVED)
    order = {"c1": 0, "a1": 1}
    assert audit_drift.adopted_later([trust], ["a1"], order) == [
        trust._replace(resolved="adopted", resolved_by="a1")
    ]
    assert audit_drift.adopted_later([trust], [], order) == [trust]
    assert (
        audit_drift.adopted_later([trust._replace(commit="a2")], ["a1"], {**order, "a2": 2})[
            0
        ].resolved
        == ""
    )
