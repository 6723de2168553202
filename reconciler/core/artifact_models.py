"""Pydantic models of the decision, intent and apply-record artifacts (core layer).

Used only to publish JSON Schema (`reconcile schema ...`); the hot apply path validates with
hand-written checks for exact messages and start-up speed. Tests validate real artifacts
against these schemas so the two cannot drift.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_CAMEL = ConfigDict(frozen=True, populate_by_name=True)
Timestamp = str
_TS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
ToPercent = Annotated[int, Field(ge=0, le=100)] | Literal["previous"]


PrevHash = Annotated[
    str | None,
    Field(
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="SHA-256 of the previous record's line (its bytes without the newline, "
        "across rotation); sha256:0...0 (64 zeros) for a history's first record. Absent in "
        "records written before chaining (and in an apply whose line was not appended).",
    ),
]
"""Every record's `prevHash` (docs/artifacts.md, the hash chain)."""


class DecisionSummary(BaseModel):
    """The part of a promotion decision the reconciler reads."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)
    decision: str = Field(
        min_length=1,
        examples=["promote", "hold", "skipped"],
        description="promote, hold or skipped. Only `promote` allows expand and resume; any "
        "other value counts as not promote. Rollback is always allowed. A `promote` whose "
        "`promote`, `failedGates`, `gateFailCount` or gate statuses say otherwise allows "
        "nothing (promotion_decision_inconsistent).",
    )
    promote: bool | None = Field(None, description="true with every `promote`.")
    gate_fail_count: int | None = Field(
        None, ge=0, alias="gateFailCount", description="0 with every `promote`."
    )
    failed_gates: list[str] = Field(default_factory=list, alias="failedGates")
    reason_codes: list[str] = Field(default_factory=list, alias="reasonCodes")


class Decision(BaseModel):
    """The promotion decision artifact written by the evidence evaluator (gates job)."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)
    schema_version: Literal["v1"] = Field("v1", alias="schemaVersion")
    generated_at: Timestamp | None = Field(
        None,
        alias="generatedAt",
        description="RFC 3339; required when a maximum decision age is enforced.",
    )
    trace_id: str | None = Field(None, alias="traceId", description="Copied into records.")
    summary: DecisionSummary
    gates: dict[str, Any] = Field(default_factory=dict, description="Per-gate details.")


class IntentGovernance(BaseModel):
    """Who approved an intent, why, and until when."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    actor: str = Field(min_length=1)
    approval_ref: str = Field(min_length=1, alias="approvalRef")
    rationale: str = Field(min_length=1)
    review_by: Timestamp = Field(alias="reviewBy", description="RFC 3339, in the future.")


class Intent(BaseModel):
    """An apply intent file (`policies/intents/*.yaml`), one requested change."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    intent: Literal["expand", "resume", "rollback", "adopt"]
    expand_step: int | None = Field(
        None, ge=1, le=100, alias="expandStep", description="expand only; default 25."
    )
    to_percent: ToPercent | None = Field(
        None,
        alias="toPercent",
        description="rollback only: also lower the canary to this percentage, or to `previous` "
        "(its value before the newest applied expand that raised it). A target above the "
        "current canary leaves it (rollback_target_above_current); the rollback always pauses.",
    )
    governance: IntentGovernance
    idempotency_key: str | None = Field(None, min_length=1, alias="idempotencyKey")
    trace_id: str | None = Field(None, min_length=1, alias="traceId")
    expect_decision_trace_id: str | None = Field(None, alias="expectDecisionTraceId")
    loop_id: str | None = Field(None, alias="loopId")
    horizon_ref: str | None = Field(None, alias="horizonRef")
    evidence_refs: list[str] = Field(default_factory=list, alias="evidenceRefs")


class RolloutPosture(BaseModel):
    """Canary percentage and manual pause at one moment."""

    model_config = _CAMEL
    canary_percent: int = Field(ge=0, le=100, alias="canaryPercent")
    manual_pause: bool = Field(alias="manualPause")


class RolloutChanged(BaseModel):
    """Which rollout fields the apply changed."""

    model_config = _CAMEL
    canary_percent: bool = Field(alias="canaryPercent")
    manual_pause: bool = Field(alias="manualPause")


class RecordRollout(BaseModel):
    """Rollout posture before and after the apply."""

    model_config = _CAMEL
    before: RolloutPosture
    after: RolloutPosture
    changed: RolloutChanged


class RecordGovernance(BaseModel):
    """The governance block the apply wrote into the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    actor: str
    approval_ref: str = Field(alias="approvalRef")
    rationale: str
    changed_at: Timestamp = Field(alias="changedAt", pattern=_TS)
    review_by: Timestamp = Field(alias="reviewBy", pattern=_TS)


class RecordFiles(BaseModel):
    """The files the apply used: absolute (`apply`) or repo-relative (the loop's commits)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    registry_file: str = Field(alias="registryFile")
    promotion_state_file: str = Field(alias="promotionStateFile")
    apply_state_file: str = Field(alias="applyStateFile")
    apply_telemetry_file: str = Field(alias="applyTelemetryFile")


class RecordGit(BaseModel):
    """Git linkage of a record made by the loop (`reconcile --once`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    intent_file: str = Field(alias="intentFile", description="Repo-relative, where it was pending.")
    intent_commit: str | None = Field(
        alias="intentCommit", description="The commit that added the file; null if never committed."
    )
    base_commit: str = Field(alias="baseCommit", description="The commit the pass started from.")


class ApplyRecord(BaseModel):
    """One apply record: the apply-state file, one telemetry line, and apply's stdout."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    schema_version: Literal["v1"] = Field(alias="schemaVersion")
    timestamp: Timestamp = Field(pattern=_TS, description="Equals governance.changedAt.")
    category: Literal["promotion_apply"]
    fleet_id: str = Field(alias="fleetId")
    trace_id: str = Field(alias="traceId")
    loop_id: str | None = Field(alias="loopId")
    horizon_ref: str | None = Field(alias="horizonRef")
    evidence_refs: list[str] = Field(alias="evidenceRefs", description="Sorted, unique.")
    idempotency_key: str | None = Field(alias="idempotencyKey")
    status: Literal["applied"]
    intent: Literal["expand", "resume", "rollback", "adopt"]
    expand_step: int | None = Field(
        None, alias="expandStep", ge=1, le=100, description="Absent in bash-tool records."
    )
    to_percent: ToPercent | None = Field(
        None,
        alias="toPercent",
        description="Present only on a rollback that asked for a target: what was asked (a "
        "number or `previous`); rollout.after shows what was done.",
    )
    decision: str | None = Field(description="summary.decision read; null if unreadable.")
    decision_trace_id: str | None = Field(None, alias="decisionTraceId")
    decision_generated_at: Timestamp | None = Field(None, alias="decisionGeneratedAt")
    governance: RecordGovernance
    rollout: RecordRollout
    files: RecordFiles
    reason_codes: list[str] = Field(alias="reasonCodes")
    warnings: list[str] | None = Field(
        None,
        description="Present only when a rollback was applied despite problems: one line per "
        "registry problem outside the fields it writes (registry_invalid_elsewhere) or ignored "
        "intent-file field (intent_unknown_field, intent_field_invalid).",
    )
    replayed: bool | None = Field(None, description="Present and true only on a replay.")
    git: RecordGit | None = Field(None, description="Loop records only.")
    prev_hash: PrevHash = Field(None, alias="prevHash")


class RejectedGovernance(BaseModel):
    """The governance an intent asked for (nothing was written to the registry).

    Of a file that is not a valid intent, what could be read: null where a field is missing,
    blank or of the wrong type (`reviewBy`: also when it is not a timestamp).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    actor: str | None
    approval_ref: str | None = Field(alias="approvalRef")
    rationale: str | None
    review_by: Timestamp | None = Field(alias="reviewBy")


class RejectedRecord(BaseModel):
    """A rejected intent file's telemetry line (the loop only; `apply` refuses instead)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    schema_version: Literal["v1"] = Field(alias="schemaVersion")
    timestamp: Timestamp = Field(pattern=_TS)
    category: Literal["promotion_apply"]
    fleet_id: str = Field(alias="fleetId")
    trace_id: str = Field(alias="traceId")
    loop_id: str | None = Field(alias="loopId")
    horizon_ref: str | None = Field(alias="horizonRef")
    evidence_refs: list[str] = Field(alias="evidenceRefs")
    idempotency_key: str = Field(alias="idempotencyKey")
    status: Literal["rejected"]
    intent: Literal["expand", "resume", "rollback", "adopt"] | None = Field(
        description="null when the file names none (it could not be read, or says another)."
    )
    expand_step: int | None = Field(alias="expandStep")
    decision: str | None
    decision_trace_id: str | None = Field(alias="decisionTraceId")
    decision_generated_at: Timestamp | None = Field(alias="decisionGeneratedAt")
    governance: RejectedGovernance | None
    rollout: RecordRollout = Field(description="before == after: nothing changed.")
    files: RecordFiles
    reason_codes: list[str] = Field(alias="reasonCodes", min_length=1)
    errors: list[str] = Field(description="One line per problem.")
    git: RecordGit
    prev_hash: PrevHash = Field(None, alias="prevHash")


def json_schema(kind: str) -> dict[str, Any]:
    """Return the JSON Schema (by alias) of `registry`, `decision`, `intent` or `record`."""
    if kind == "registry":
        from reconciler.core.models import registry_json_schema

        return dict(registry_json_schema())
    if kind == "record":
        from pydantic import TypeAdapter

        adapter: TypeAdapter[ApplyRecord | RejectedRecord] = TypeAdapter(
            ApplyRecord | RejectedRecord
        )
        schema = adapter.json_schema(by_alias=True)
        return {"title": "Record", "type": "object", **schema}
    models: dict[str, type[BaseModel]] = {"decision": Decision, "intent": Intent}
    return models[kind].model_json_schema(by_alias=True)
