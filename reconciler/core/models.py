"""Pydantic models of the fleet registry (core layer), used only to publish its JSON Schema.

`reconcile schema registry` prints `registry_json_schema()`. Validation with the operators'
messages stays in `registry.py`; unknown keys are allowed because the bash tool ignores them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Category = Literal["reconcile_failed", "health_critical", "health_degraded"]
NonEmptyString = Annotated[str, Field(min_length=1)]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
Rate = Annotated[float, Field(ge=0, le=1)]


class _Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="allow", alias_generator=to_camel, populate_by_name=True
    )


class SpriteSpec(_Spec):
    """The sprite a loop runs on."""

    id: NonEmptyString | None = Field(default=None, description="Sprite identifier.")
    assignment: Any = Field(default=None, description="How the sprite was assigned (unchecked).")
    service_base_url: Any = Field(
        default=None,
        description="Sprite service URL; fallback for `service.baseUrl` (a non-empty string).",
    )


class ServiceSpec(_Spec):
    """How to reach a loop's sprite service."""

    base_url: Any = Field(
        default=None,
        description="Sprite service URL (a non-empty string); required for sprite_service loops "
        "unless `sprite.serviceBaseUrl` is set.",
    )
    token_env: NonEmptyString | None = Field(
        default=None, description="Name of the environment variable holding the service token."
    )
    retry_attempts: PositiveInt | None = Field(
        default=None, description="Attempts per service call. Default 3."
    )
    retry_backoff_seconds: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="Seconds between service call attempts. Default 1."
    )


class LoopSpec(_Spec):
    """One loop of the fleet."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "properties": {"transport": {"const": "sprite_service"}},
                "required": ["transport"],
            },
            "then": {
                "anyOf": [
                    {
                        "properties": {
                            "service": {
                                "type": "object",
                                "properties": {"baseUrl": {"type": "string", "minLength": 1}},
                                "required": ["baseUrl"],
                            }
                        },
                        "required": ["service"],
                    },
                    {
                        "properties": {
                            "sprite": {
                                "type": "object",
                                "properties": {
                                    "serviceBaseUrl": {"type": "string", "minLength": 1}
                                },
                                "required": ["serviceBaseUrl"],
                            }
                        },
                        "required": ["sprite"],
                    },
                ]
            },
        }
    )

    loop_id: NonEmptyString = Field(description="Unique identifier of the loop in this fleet.")
    enabled: bool | None = Field(default=None, description="Whether the loop runs. Default true.")
    transport: Literal["local", "sprite_service"] | None = Field(
        default=None, description="How the loop is reached. Default local."
    )
    sprite: SpriteSpec | None = Field(default=None, description="The sprite the loop runs on.")
    service: ServiceSpec | None = Field(default=None, description="The sprite service client.")
    metadata: dict[str, Any] | None = Field(
        default=None, description="Free-form data kept as is. Default {}."
    )


class NoiseControlsSpec(_Spec):
    """Noise controls for fleet alerts."""

    dedupe_window_seconds: NonNegativeInt | None = Field(
        default=None, description="Seconds within which repeated alerts are merged. Default 300."
    )


class AllowSpec(_Spec):
    """What autonomous actions may respond to."""

    categories: list[Category] | None = Field(
        default=None,
        description="Alert categories autonomous actions may handle. "
        "Default [reconcile_failed, health_critical].",
    )
    intents: list[Literal["cancel"]] | None = Field(
        default=None, description="Intents autonomous actions may take. Default [cancel]."
    )


class ThresholdsSpec(_Spec):
    """The least severe and least confident signal an autonomous action acts on."""

    min_severity: Literal["critical", "warning", "info"] | None = Field(
        default=None, description="Minimum alert severity. Default critical."
    )
    min_confidence: Literal["high", "medium", "low"] | None = Field(
        default=None, description="Minimum diagnosis confidence. Default high."
    )


class SafetySpec(_Spec):
    """Rate limits and the kill switch for autonomous actions."""

    max_actions_per_run: NonNegativeInt | None = Field(
        default=None, description="Most autonomous actions in one run. Default 1."
    )
    max_actions_per_loop: NonNegativeInt | None = Field(
        default=None, description="Most autonomous actions per loop in one run. Default 1."
    )
    cooldown_seconds: NonNegativeInt | None = Field(
        default=None, description="Seconds between actions on the same loop. Default 300."
    )
    kill_switch: bool | None = Field(
        default=None, description="When true, no autonomous action runs. Default false."
    )


class GovernanceSpec(_Spec):
    """Who approved guarded_auto, why, and when it must be reviewed.

    Every field is required when policy.mode is guarded_auto; reviewBy must be after changedAt,
    and in guarded_auto also in the future at every validation.
    """

    actor: NonEmptyString | None = Field(default=None, description="Who made the change.")
    approval_ref: NonEmptyString | None = Field(
        default=None, description="Reference to the approval (ticket, PR, decision record)."
    )
    rationale: NonEmptyString | None = Field(default=None, description="Why the change was made.")
    changed_at: Timestamp | None = Field(default=None, description="RFC 3339 time of the change.")
    review_by: Timestamp | None = Field(
        default=None, description="RFC 3339 deadline for reviewing the change; after changedAt."
    )


class ScopeSpec(_Spec):
    """Which loops the rollout may touch."""

    loop_ids: (
        Annotated[list[NonEmptyString], Field(json_schema_extra={"uniqueItems": True})] | None
    ) = Field(
        default=None,
        description="Declared loopIds the rollout is limited to, each listed once. "
        "Default [] (all loops).",
    )


class SelectorSpec(_Spec):
    """How loops are bucketed for the canary."""

    salt: NonEmptyString | None = Field(
        default=None,
        description="Salt hashed with each loopId into a bucket 0..99. "
        "Default fleet-autonomous-rollout-v1.",
    )


class PauseSpec(_Spec):
    """The operator's pause switch."""

    manual: bool | None = Field(
        default=None, description="When true, every intent is manual-only. Default false."
    )


class AutoPauseSpec(_Spec):
    """Pause the rollout when recent autonomous executions go wrong too often."""

    enabled: bool | None = Field(default=None, description="Whether auto-pause runs. Default true.")
    lookback_executions: PositiveInt | None = Field(
        default=None, description="Recent autonomous executions considered. Default 5."
    )
    min_sample_size: PositiveInt | None = Field(
        default=None,
        description="Fewest attempted intents before auto-pause can trigger. Default 3.",
    )
    ambiguity_rate_threshold: Rate | None = Field(
        default=None, description="Ambiguous-outcome rate that pauses the rollout. Default 0.4."
    )
    failure_rate_threshold: Rate | None = Field(
        default=None, description="Failure rate that pauses the rollout. Default 0.4."
    )


class RolloutSpec(_Spec):
    """Which loops get autonomous actions, and when the rollout pauses."""

    canary_percent: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None,
        description="Share of loops (by bucket) in the canary: 0 selects none, 100 all. "
        "Default 100.",
    )
    scope: ScopeSpec | None = Field(default=None, description="Loops the rollout is limited to.")
    selector: SelectorSpec | None = Field(default=None, description="Canary bucketing.")
    pause: PauseSpec | None = Field(default=None, description="Manual pause.")
    auto_pause: AutoPauseSpec | None = Field(default=None, description="Automatic pause.")


class AutonomousSpec(_Spec):
    """Settings for autonomous (guarded_auto) actions."""

    allow: AllowSpec | None = Field(default=None, description="Allowed categories and intents.")
    thresholds: ThresholdsSpec | None = Field(default=None, description="Signal thresholds.")
    safety: SafetySpec | None = Field(default=None, description="Rate limits and kill switch.")
    governance: GovernanceSpec | None = Field(
        default=None, description="Approval record; required when policy.mode is guarded_auto."
    )
    rollout: RolloutSpec | None = Field(default=None, description="Canary rollout and pauses.")


class PolicySpec(_Spec):
    """The fleet's operating policy."""

    mode: Literal["advisory", "guarded_auto"] | None = Field(
        default=None,
        description="advisory: humans act on every intent; guarded_auto: allowed intents run "
        "autonomously under governance. Default advisory.",
    )
    noise_controls: NoiseControlsSpec | None = Field(default=None, description="Alert noise.")
    autonomous: AutonomousSpec | None = Field(default=None, description="Autonomous actions.")
    suppressions: dict[str, list[Category]] | None = Field(
        default=None,
        description="Alert categories to suppress, keyed by a declared loopId or * (all loops).",
    )


class RegistrySpec(_Spec):
    """Fleet registry v1: the loops of a fleet and the policy that governs them."""

    model_config = ConfigDict(title="Fleet registry v1")

    schema_version: Literal["v1"] = Field(description="Registry format version; always v1.")
    fleet_id: str | None = Field(default=None, description="Fleet name. Default default.")
    loops: Annotated[list[LoopSpec], Field(min_length=1)] = Field(
        description="The loops of the fleet; loopIds are unique."
    )
    policy: PolicySpec | None = Field(default=None, description="Fleet policy.")


class _UntitledFields(GenerateJsonSchema):
    # Generated field titles ("Canarypercent") only add noise next to the descriptions.
    def field_title_should_be_set(self, schema: object) -> bool:  # noqa: ARG002
        return False


def registry_json_schema() -> dict[str, object]:
    """Return the JSON Schema (draft 2020-12) of a fleet registry document."""
    schema = RegistrySpec.model_json_schema(by_alias=True, schema_generator=_UntitledFields)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}
