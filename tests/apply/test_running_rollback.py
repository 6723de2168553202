"""`reconcile apply --intent rollback` always leaves the fleet paused (issue 9, items 1 and 2).

In-process with real files and a fixed clock: a reused idempotency key replays a rollback only
onto a paused fleet, and registry problems the rollback did not cause (outside the fields it
writes) are noted in its record instead of refusing it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from tests.support import fleet
from tests.support.applying import apply
from tests.support.fleet import SUPERLOOP

REGISTRY = SUPERLOOP / "registry.v1.json"
OVERRIDDEN = "idempotency_replay_overridden"
ELSEWHERE = "registry_invalid_elsewhere"


def paused(repo: Path) -> bool:
    doc = fleet.read_json(repo / REGISTRY)
    return bool(doc["policy"]["autonomous"]["rollout"].get("pause", {}).get("manual"))


def edit_registry(repo: Path, change: Any) -> dict[str, Any]:
    doc = fleet.read_json(repo / REGISTRY)
    change(doc)
    fleet.write_json(repo / REGISTRY, doc)
    return doc


def without_owned(doc: dict[str, Any]) -> dict[str, Any]:
    """The registry minus the fields the reconciler writes."""
    copy = json.loads(json.dumps(doc))
    del copy["policy"]["autonomous"]["governance"]
    del copy["policy"]["autonomous"]["rollout"]["pause"]
    return copy


def typo(doc: dict[str, Any]) -> None:
    doc["loops"][0]["transport"] = "locall"


# Item 1: a rollback is never swallowed by an idempotency replay ---------------------------


def test_a_rollback_reusing_an_expands_key_is_applied_and_pauses(repo: Path) -> None:
    expand = apply(repo, "expand", idempotency_key="K1").record

    result = apply(repo, "rollback", idempotency_key="K1")

    assert not result.replayed and not result.mismatch
    assert result.record["status"] == "applied"
    assert result.record["intent"] == "rollback"
    assert result.record["idempotencyKey"] == "K1"
    assert result.record["reasonCodes"] == [OVERRIDDEN]
    assert result.record["rollout"]["after"] == {"canaryPercent": 50, "manualPause": True}
    assert "replayed" not in result.record
    assert paused(repo)
    assert fleet.telemetry_lines(repo) == [expand, result.record]


def test_a_later_replay_of_that_key_sees_the_newest_record(repo: Path) -> None:
    apply(repo, "expand", idempotency_key="K1")
    rollback = apply(repo, "rollback", idempotency_key="K1").record

    again = apply(repo, "expand", idempotency_key="K1")
    twice = apply(repo, "rollback", idempotency_key="K1")

    assert again.replayed and again.mismatch
    codes = sorted([OVERRIDDEN, "idempotency_request_mismatch"])
    assert again.record == {**rollback, "reasonCodes": codes, "replayed": True}
    assert twice.replayed and twice.record == {**rollback, "replayed": True}
    assert paused(repo)
    assert len(fleet.telemetry_lines(repo)) == 2


def test_a_rebuilt_index_also_sees_the_newest_record(repo: Path) -> None:
    apply(repo, "expand", idempotency_key="K1")
    rollback = apply(repo, "rollback", idempotency_key="K1").record
    (repo / SUPERLOOP / "promotion-apply-index.json").unlink()  # rebuilt from the records

    again = apply(repo, "resume", idempotency_key="K1")

    assert again.replayed and again.record["timestamp"] == rollback["timestamp"]
    assert again.record["intent"] == "rollback"
    assert paused(repo)


def test_a_rollback_after_a_resume_unpaused_the_fleet_is_applied_again(repo: Path) -> None:
    apply(repo, "rollback", idempotency_key="inc-9")
    apply(repo, "resume", idempotency_key="resume-1")
    assert not paused(repo)

    result = apply(repo, "rollback", idempotency_key="inc-9")

    assert not result.replayed
    assert result.record["reasonCodes"] == [OVERRIDDEN]
    assert result.record["rollout"]["before"]["manualPause"] is False
    assert paused(repo)
    assert [r["intent"] for r in fleet.telemetry_lines(repo)] == ["rollback", "resume", "rollback"]


def test_a_rollback_replay_onto_a_paused_fleet_stays_a_replay(repo: Path) -> None:
    first = apply(repo, "rollback", idempotency_key="inc-9").record
    registry_bytes = (repo / REGISTRY).read_bytes()

    again = apply(repo, "rollback", idempotency_key="inc-9", approval_ref="INC-10")

    assert again.replayed and not again.mismatch
    assert again.record == {**first, "replayed": True}
    assert (repo / REGISTRY).read_bytes() == registry_bytes
    assert fleet.telemetry_lines(repo) == [first]


def test_a_replay_onto_a_paused_fleet_of_another_intents_key_is_a_replay(repo: Path) -> None:
    fleet.write_registry(repo, canary=25, manual=True)
    resume = apply(repo, "resume", idempotency_key="K1").record
    apply(repo, "rollback", idempotency_key="K2")

    again = apply(repo, "rollback", idempotency_key="K1")

    assert again.replayed and again.mismatch  # the fleet is paused: nothing to do
    assert again.record["intent"] == "resume" == resume["intent"]
    assert paused(repo)


def test_an_expand_reusing_a_key_still_replays(repo: Path) -> None:
    apply(repo, "rollback", idempotency_key="K1")
    result = apply(repo, "resume", idempotency_key="K1")
    assert result.replayed and result.mismatch
    assert paused(repo)


def test_an_overriding_rollback_still_needs_a_future_review_by(repo: Path) -> None:
    apply(repo, "expand", idempotency_key="K1")
    before = (repo / REGISTRY).read_bytes()

    with pytest.raises(RefusalError) as caught:
        apply(repo, "rollback", idempotency_key="K1", review_by="2020-01-01T00:00:00Z")

    assert caught.value.reason is ReasonCode.REVIEW_BY_PAST
    assert (repo / REGISTRY).read_bytes() == before


# Item 2: problems the rollback did not cause do not block it -------------------------------


def test_a_typo_elsewhere_in_the_registry_does_not_block_a_rollback(repo: Path) -> None:
    before = edit_registry(repo, typo)

    record = apply(repo, "rollback").record

    assert record["status"] == "applied"
    assert record["reasonCodes"] == [ELSEWHERE]
    assert record["warnings"] == ["loops[0]: transport must be local or sprite_service"]
    assert paused(repo)
    after = fleet.read_json(repo / REGISTRY)
    assert without_owned(after) == without_owned(before)  # the typo is left for the operator
    assert after["policy"]["autonomous"]["governance"]["actor"] == "ops-user"
    assert fleet.telemetry_lines(repo) == [record]


def test_every_problem_elsewhere_is_listed(repo: Path) -> None:
    def broken(doc: dict[str, Any]) -> None:
        typo(doc)
        doc["policy"]["mode"] = "yolo"
        doc["policy"]["autonomous"]["rollout"]["scope"] = {"loopIds": ["loop-z"]}

    edit_registry(repo, broken)

    record = apply(repo, "rollback").record

    assert sorted(record["reasonCodes"]) == [ELSEWHERE, "rollback_in_advisory_mode"]
    assert record["warnings"] == [
        "loops[0]: transport must be local or sprite_service",
        "policy.mode must be advisory or guarded_auto",
        "policy.autonomous.rollout.scope.loopIds entries must reference declared loopIds",
    ]
    assert paused(repo)


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_the_same_typo_still_refuses_expand_and_resume(repo: Path, intent: str) -> None:
    edit_registry(repo, typo)
    before = (repo / REGISTRY).read_bytes()

    with pytest.raises(RefusalError) as caught:
        apply(repo, intent)

    assert caught.value.reason is ReasonCode.REGISTRY_INVALID
    assert (repo / REGISTRY).read_bytes() == before


def test_a_bad_pause_value_is_cured_by_the_rollback(repo: Path) -> None:
    fleet.write_registry(repo, canary=25, manual="yes")

    record = apply(repo, "rollback").record

    assert "warnings" not in record
    assert record["reasonCodes"] == []
    assert fleet.read_json(repo / REGISTRY)["policy"]["autonomous"]["rollout"]["pause"] == {
        "manual": True
    }


def set_rollout(value: object) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["policy"]["autonomous"]["rollout"] = value

    return change


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (set_rollout({"canaryPercent": 250}), "policy.autonomous.rollout.canaryPercent must be"),
        (set_rollout(5), "policy.autonomous.rollout must be an object when present"),
        (
            set_rollout({"canaryPercent": 25, "pause": "on"}),
            "policy.autonomous.rollout.pause must be an object when present",
        ),
        (
            lambda doc: doc["policy"].update(autonomous=[]),
            "policy.autonomous must be an object when present",
        ),
    ],
    ids=["canary-out-of-range", "rollout-not-a-mapping", "pause-not-a-mapping", "autonomous-list"],
)
def test_problems_at_the_owned_fields_still_refuse_a_rollback(
    repo: Path, change: Any, problem: str
) -> None:
    def both(doc: dict[str, Any]) -> None:
        typo(doc)
        change(doc)

    edit_registry(repo, both)
    before = (repo / REGISTRY).read_bytes()

    with pytest.raises(RefusalError) as caught:
        apply(repo, "rollback")

    assert caught.value.reason is ReasonCode.REGISTRY_INVALID
    assert any(detail.startswith(problem) for detail in caught.value.details)
    assert "loops[0]: transport must be local or sprite_service" in caught.value.details
    assert (repo / REGISTRY).read_bytes() == before
    assert fleet.telemetry_lines(repo) == []


def test_an_unparseable_registry_still_refuses_a_rollback(repo: Path) -> None:
    (repo / REGISTRY).write_text('{"schemaVersion": "v1",\n')

    with pytest.raises(RefusalError) as caught:
        apply(repo, "rollback", idempotency_key="K1")

    assert caught.value.reason is ReasonCode.REGISTRY_PARSE_ERROR


def test_an_unparseable_registry_refuses_a_rollback_whose_key_was_used(repo: Path) -> None:
    # Whether the fleet is paused cannot be told, so the key is not replayed blindly.
    apply(repo, "expand", idempotency_key="K1")
    (repo / REGISTRY).write_text('{"schemaVersion": "v1",\n')

    with pytest.raises(RefusalError) as caught:
        apply(repo, "rollback", idempotency_key="K1")

    assert caught.value.reason is ReasonCode.REGISTRY_PARSE_ERROR
