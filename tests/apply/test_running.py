"""Apply semantics end to end in-process: real files in tmp_path, a fixed clock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from tests.support import fleet
from tests.support.applying import apply
from tests.support.fleet import FIXED_NOW, SUPERLOOP

REGISTRY = SUPERLOOP / "registry.v1.json"


def registry(repo: Path) -> dict:
    return fleet.read_json(repo / REGISTRY)


def rollout(repo: Path) -> dict:
    return registry(repo)["policy"]["autonomous"]["rollout"]


def replace_decision_file(repo: Path, content: str | None) -> Path:
    """Write raw text as the decision file, or delete it when `content` is None."""
    state = repo / SUPERLOOP / "promotion-state.json"
    if content is None:
        state.unlink()
    else:
        state.write_text(content)
    return state


def refusal(repo: Path, intent: str = "expand", **kw: Any) -> RefusalError:
    with pytest.raises(RefusalError) as caught:
        apply(repo, intent, **kw)
    return caught.value


def test_expand_adds_the_step_and_unpauses(repo: Path) -> None:
    fleet.write_registry(repo, canary=25, manual=True)
    record = apply(repo, "expand", expand_step="25").record
    assert record["rollout"] == {
        "before": {"canaryPercent": 25, "manualPause": True},
        "after": {"canaryPercent": 50, "manualPause": False},
        "changed": {"canaryPercent": True, "manualPause": True},
    }
    assert rollout(repo) == {"canaryPercent": 50, "pause": {"manual": False}}
    governance = registry(repo)["policy"]["autonomous"]["governance"]
    assert governance == {
        "actor": "ops-user",
        "approvalRef": "CAB-111",
        "rationale": "phase11",
        "changedAt": "2026-11-24T12:00:00Z",
        "reviewBy": "2099-01-01T00:00:00Z",
    }
    assert record["reasonCodes"] == []
    assert fleet.telemetry_lines(repo) == [record]
    assert fleet.read_json(repo / SUPERLOOP / "promotion-apply-state.json") == record


def test_expand_clamps_at_one_hundred(repo: Path) -> None:
    fleet.write_registry(repo, canary=90, manual=False)
    record = apply(repo, expand_step="25").record
    assert record["rollout"]["after"]["canaryPercent"] == 100
    assert rollout(repo)["canaryPercent"] == 100


def test_expand_uses_the_default_step_of_25(repo: Path) -> None:
    record = apply(repo).record
    assert record["expandStep"] == 25
    assert record["rollout"]["after"]["canaryPercent"] == 50


@pytest.mark.parametrize(
    ("intent", "canary", "manual"),
    [("expand", 100, False), ("resume", 40, False), ("rollback", 40, True)],
    ids=["expand-at-100", "resume-when-running", "rollback-when-paused"],
)
def test_a_no_op_is_still_applied_with_rollout_unchanged(
    repo: Path, intent: str, canary: int, manual: bool
) -> None:
    fleet.write_registry(repo, canary=canary, manual=manual)
    record = apply(repo, intent).record
    assert record["status"] == "applied"
    assert record["rollout"]["changed"] == {"canaryPercent": False, "manualPause": False}
    assert record["reasonCodes"] == ["rollout_unchanged"]
    assert rollout(repo) == {"canaryPercent": canary, "pause": {"manual": manual}}
    assert len(fleet.telemetry_lines(repo)) == 1


@pytest.mark.parametrize("decision", ["hold", "skipped", "unknown"])
@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_expand_and_resume_are_refused_unless_the_decision_is_promote(
    repo: Path, intent: str, decision: str
) -> None:
    fleet.write_decision(repo, decision)
    before = (repo / REGISTRY).read_bytes()
    error = refusal(repo, intent)
    assert (
        error.message == f"intent {intent} requires promotion decision promote (found: {decision})"
    )
    assert error.reason is ReasonCode.PROMOTION_DECISION_NOT_PROMOTE
    assert (repo / REGISTRY).read_bytes() == before
    assert not (repo / SUPERLOOP / "telemetry").exists()
    assert not (repo / SUPERLOOP / "promotion-apply-state.json").exists()


@pytest.mark.parametrize("decision", ["promote", "hold", "skipped"])
def test_rollback_is_allowed_under_every_decision(repo: Path, decision: str) -> None:
    fleet.write_registry(repo, canary=70, manual=False)
    fleet.write_decision(repo, decision)
    record = apply(repo, "rollback").record
    assert record["decision"] == decision
    assert record["rollout"]["after"] == {"canaryPercent": 70, "manualPause": True}
    assert rollout(repo)["pause"]["manual"] is True


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "promotion_state_missing"),
        ("{not json", "promotion_state_invalid"),
        ('{"summary": {"decision": ""}}', "promotion_decision_missing"),
    ],
    ids=["missing", "invalid-json", "empty-decision"],
)
def test_rollback_is_allowed_without_a_readable_decision(
    repo: Path, content: str | None, code: str
) -> None:
    replace_decision_file(repo, content)
    record = apply(repo, "rollback").record
    assert record["decision"] is None
    assert record["decisionTraceId"] is None
    assert set(record["reasonCodes"]) == {"rollback_without_decision", code}
    assert rollout(repo)["pause"]["manual"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "promotion state file not found: {path}"),
        ("{not json", "invalid promotion state JSON: {path}"),
        ("[1, 2]", "promotion state missing summary.decision"),
        ('{"summary": {}}', "promotion state missing summary.decision"),
        ('{"summary": {"decision": null}}', "promotion state missing summary.decision"),
        ('{"summary": {"decision": 7}}', "promotion state missing summary.decision"),
        (
            '{"summary": {"decision": "promote"}, "summary": {}}',
            "invalid promotion state JSON: {path}",
        ),
    ],
    ids=["missing", "invalid", "array", "no-decision", "null", "number", "duplicate-key"],
)
@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_expand_and_resume_fail_closed_on_a_missing_or_invalid_decision(
    repo: Path, content: str | None, message: str, intent: str
) -> None:
    state = replace_decision_file(repo, content)
    before = (repo / REGISTRY).read_bytes()
    assert refusal(repo, intent).message == message.format(path=state)
    assert (repo / REGISTRY).read_bytes() == before


def test_rollback_is_allowed_in_advisory_mode_and_notes_it(repo: Path) -> None:
    fleet.write_registry(repo, canary=30, manual=False, mode="advisory")
    record = apply(repo, "rollback").record
    assert "rollback_in_advisory_mode" in record["reasonCodes"]
    assert rollout(repo)["pause"]["manual"] is True


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_expand_and_resume_require_guarded_auto(repo: Path, intent: str) -> None:
    fleet.write_registry(repo, canary=30, manual=False, mode="advisory")
    error = refusal(repo, intent)
    assert error.message == "promotion apply requires policy.mode guarded_auto"


@pytest.mark.parametrize("intent", ["expand", "resume", "rollback"])
def test_an_expired_review_by_in_the_registry_blocks_nothing(repo: Path, intent: str) -> None:
    doc = fleet.registry_doc(40, False)
    doc["policy"]["autonomous"]["governance"]["reviewBy"] = "2026-03-01T00:00:00Z"
    fleet.write_json(repo / REGISTRY, doc)
    record = apply(repo, intent).record
    assert record["governance"]["reviewBy"] == "2099-01-01T00:00:00Z"
    assert (
        registry(repo)["policy"]["autonomous"]["governance"]["reviewBy"] == "2099-01-01T00:00:00Z"
    )


def test_a_structurally_invalid_registry_refuses_even_rollback_with_every_problem(
    repo: Path,
) -> None:
    doc = fleet.registry_doc(40, False)
    doc["schemaVersion"] = "v2"
    doc["policy"]["autonomous"]["rollout"] = []
    doc["loops"][1]["transport"] = "carrier-pigeon"
    fleet.write_json(repo / REGISTRY, doc)
    error = refusal(repo, "rollback")
    assert error.message == f"invalid fleet registry: {repo / REGISTRY}"
    assert list(error.details) == [
        'schemaVersion must be "v1"',
        "loops[1]: transport must be local or sprite_service",
        "policy.autonomous.rollout must be an object when present",
    ]


def test_a_missing_registry_is_refused(repo: Path) -> None:
    (repo / REGISTRY).unlink()
    paths: dict[str, str | None] = {"registryFile": str(repo / REGISTRY)}
    error = refusal(repo, "rollback", paths=paths)
    assert error.message == f"fleet registry file not found: {repo / REGISTRY}"
    # No registry anywhere, but the bash tool's folder exists: its layout is meant, so the
    # message names its registry, as the bash tool's did.
    error = refusal(repo, "rollback")
    assert error.message == f"fleet registry file not found: {repo / REGISTRY}"
    assert error.footer == "failed to read/validate fleet registry"


def test_a_mutation_that_would_be_invalid_is_refused_and_nothing_is_written(repo: Path) -> None:
    # The review-by is in the future when the decision and the flag are checked and in the
    # past when the mutation is made (the bash tool's "second boundary" race): the clock is
    # read for the decision gate, the review-by check, then the mutation.
    moments = iter([FIXED_NOW, FIXED_NOW, FIXED_NOW + timedelta(days=30000)])
    before = (repo / REGISTRY).read_bytes()
    with pytest.raises(RefusalError) as caught:
        apply(repo, review_by="2026-12-01T00:00:00Z", now=lambda: next(moments))
    assert caught.value.message == "mutated registry failed validation"
    assert caught.value.reason is ReasonCode.REGISTRY_MUTATION_INVALID
    assert (repo / REGISTRY).read_bytes() == before


def test_replay_returns_the_earlier_record_and_changes_nothing(repo: Path) -> None:
    fleet.write_registry(repo, canary=40, manual=True)
    first = apply(repo, expand_step="20", idempotency_key="replay-key-1").record
    registry_bytes = (repo / REGISTRY).read_bytes()
    second = apply(
        repo,
        expand_step="20",
        idempotency_key="replay-key-1",
        approval_ref="CAB-116",
        now=FIXED_NOW + timedelta(hours=1),
    )
    assert second.replayed and not second.mismatch
    assert second.record == {**first, "replayed": True}
    assert (repo / REGISTRY).read_bytes() == registry_bytes
    assert fleet.telemetry_lines(repo) == [first]
    state = fleet.read_json(repo / SUPERLOOP / "promotion-apply-state.json")
    assert state == {**first, "replayed": True}


@pytest.mark.parametrize(
    ("intent", "step"), [("expand", "30"), ("resume", None)], ids=["other-step", "other-intent"]
)
def test_replay_of_a_different_request_still_replays_but_flags_the_mismatch(
    repo: Path, intent: str, step: str | None
) -> None:
    first = apply(repo, expand_step="20", idempotency_key="k").record
    second = apply(repo, intent, expand_step=step, idempotency_key="k")
    assert second.replayed and second.mismatch
    assert second.record["reasonCodes"] == ["idempotency_request_mismatch"]
    assert second.record["intent"] == "expand"
    assert second.record["rollout"] == first["rollout"]
    assert len(fleet.telemetry_lines(repo)) == 1


def test_replay_happens_before_the_decision_gate(repo: Path) -> None:
    first = apply(repo, idempotency_key="k").record
    fleet.write_decision(repo, "hold")
    assert apply(repo, idempotency_key="k").record == {**first, "replayed": True}


def test_replay_does_not_mix_the_new_requests_seam_fields_into_the_old_record(repo: Path) -> None:
    apply(repo, idempotency_key="k")
    replayed = apply(repo, idempotency_key="k", loop_id="loop-z", trace_id="new-trace").record
    assert replayed["loopId"] is None
    assert replayed["traceId"] == "trace-generated"


def test_replay_survives_a_lost_index_by_rescanning_telemetry(repo: Path) -> None:
    first = apply(repo, idempotency_key="k").record
    (repo / SUPERLOOP / "promotion-apply-index.json").unlink()
    apply(repo, "rollback", idempotency_key="other")
    assert apply(repo, idempotency_key="k").record == {**first, "replayed": True}


def test_telemetry_emptied_under_its_index_is_corrupt_not_a_fresh_history(repo: Path) -> None:
    apply(repo, idempotency_key="k")
    telemetry = repo / SUPERLOOP / "telemetry" / "promotion-apply.jsonl"
    telemetry.write_text("")  # history lost: the index covered a record with key k
    registry_bytes = (repo / REGISTRY).read_bytes()
    error = refusal(repo, idempotency_key="k")
    assert error.reason is ReasonCode.TELEMETRY_CORRUPT
    assert error.message.startswith(f"telemetry file {telemetry} is shorter than its key index")
    assert fleet.telemetry_lines(repo) == []
    assert (repo / REGISTRY).read_bytes() == registry_bytes


def test_a_corrupt_telemetry_line_is_an_error_not_an_unseen_key(repo: Path) -> None:
    apply(repo, idempotency_key="a")
    apply(repo, "rollback", idempotency_key="b")
    telemetry = repo / SUPERLOOP / "telemetry" / "promotion-apply.jsonl"
    lines = telemetry.read_text().splitlines(keepends=True)
    telemetry.write_text(lines[0] + '{"truncated": \n' + lines[1])
    registry_bytes = (repo / REGISTRY).read_bytes()
    error = refusal(repo, idempotency_key="b")
    assert error.message == f"telemetry file is corrupt: {telemetry}:2"
    assert error.reason is ReasonCode.TELEMETRY_CORRUPT
    assert (repo / REGISTRY).read_bytes() == registry_bytes


def test_record_carries_seam_fields_evidence_and_decision_linkage(repo: Path) -> None:
    fleet.write_decision(
        repo, "promote", generated_at="2026-11-24T07:30:00.25+01:00", trace_id="gates-1"
    )
    record = apply(
        repo,
        "resume",
        loop_id="loop-a",
        horizon_ref="HZ-fleet-promo-v1",
        evidence_refs=("artifact://promotion-window", "", "artifact://fleet-health"),
        trace_id="trace-01",
    ).record
    state = str(repo / SUPERLOOP / "promotion-state.json")
    assert record["loopId"] == "loop-a"
    assert record["horizonRef"] == "HZ-fleet-promo-v1"
    assert record["traceId"] == "trace-01"
    assert record["evidenceRefs"] == sorted(
        ["artifact://promotion-window", "artifact://fleet-health", state]
    )
    assert record["decisionTraceId"] == "gates-1"
    assert record["decisionGeneratedAt"] == "2026-11-24T06:30:00Z"
    assert record["files"] == {
        "registryFile": str(repo / REGISTRY),
        "promotionStateFile": state,
        "applyStateFile": str(repo / SUPERLOOP / "promotion-apply-state.json"),
        "applyTelemetryFile": str(repo / SUPERLOOP / "telemetry" / "promotion-apply.jsonl"),
    }
    assert list(record) == [
        "schemaVersion",
        "timestamp",
        "category",
        "fleetId",
        "traceId",
        "loopId",
        "horizonRef",
        "evidenceRefs",
        "idempotencyKey",
        "status",
        "intent",
        "expandStep",
        "decision",
        "decisionTraceId",
        "decisionGeneratedAt",
        "governance",
        "rollout",
        "files",
        "reasonCodes",
        "prevHash",  # the bash tool's keys in its order, then the hash chain's link
    ]


def test_review_by_with_an_offset_and_fraction_is_written_in_utc(repo: Path) -> None:
    record = apply(repo, review_by="2099-01-01T02:00:00.999+02:00").record
    assert record["governance"]["reviewBy"] == "2099-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("age", "generated_at", "message"),
    [
        (
            "24h",
            "2026-11-23T09:57:00Z",
            "promotion decision is stale: generated 26h3m ago (max 24h)",
        ),
        (
            "1h",
            None,
            "promotion decision is stale: generatedAt is missing or not a timestamp (max 1h)",
        ),
        (
            "1h",
            "yesterday",
            "promotion decision is stale: generatedAt is missing or not a timestamp (max 1h)",
        ),
    ],
    ids=["too-old", "no-generated-at", "unparseable"],
)
def test_a_stale_decision_refuses_expand(
    repo: Path, age: str, generated_at: str | None, message: str
) -> None:
    fleet.write_decision(repo, "promote", generated_at=generated_at)
    error = refusal(repo, max_decision_age=age)
    assert error.message == message
    assert error.reason is ReasonCode.PROMOTION_DECISION_STALE


def test_a_fresh_decision_passes_the_age_check_and_rollback_ignores_it(repo: Path) -> None:
    fleet.write_decision(repo, "promote", generated_at="2026-11-24T11:00:00Z")
    assert apply(repo, max_decision_age="24h").record["status"] == "applied"
    fleet.write_decision(repo, "hold", generated_at="2020-01-01T00:00:00Z")
    assert apply(repo, "rollback", max_decision_age="1h").record["status"] == "applied"


def test_settings_file_sets_the_paths_relative_to_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fleet.write_json(repo / "fleet" / "reg.json", fleet.registry_doc(10, False))
    fleet.write_decision(repo, "promote", path=repo / "fleet" / "decision.json")
    (repo / "reconciler.yaml").write_text(
        "registryFile: fleet/reg.json\npromotionStateFile: fleet/decision.json\n"
        "applyStateFile: out/state.json\napplyTelemetryFile: out/t.jsonl\n"
    )
    record = apply(repo).record
    assert record["files"]["applyStateFile"] == str(repo / "out" / "state.json")
    assert json.loads((repo / "out" / "t.jsonl").read_text()) == record
    assert (
        fleet.read_json(repo / "fleet" / "reg.json")["policy"]["autonomous"]["rollout"][
            "canaryPercent"
        ]
        == 35
    )
