"""Tests for the registry validator, its view and the registry JSON Schema (contract §1.5)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler.core.models import registry_json_schema
from reconciler.core.registry import (
    Governance,
    RegistryView,
    validate_registry,
    view_registry,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
G = "policy.autonomous.governance"
R = "policy.autonomous.rollout"
GUARDED = "when policy.mode is guarded_auto"
NOT_A_MAPPING = "fleet registry must be a JSON object or YAML mapping"
DELETE = object()
ADVISORY = ("policy.mode", "advisory")

Change = tuple[str, object]


def valid_registry() -> dict[str, Any]:
    """A guarded_auto registry with every field set to a valid value, so any path can be broken."""
    return {
        "schemaVersion": "v1",
        "fleetId": "fleet-a",
        "loops": [
            {
                "loopId": "alpha",
                "enabled": True,
                "transport": "local",
                "sprite": {"id": "sprite-a"},
                "service": {
                    "tokenEnv": "ALPHA_TOKEN",
                    "retryAttempts": 3,
                    "retryBackoffSeconds": 1,
                },
                "metadata": {"team": "core"},
            },
            {
                "loopId": "beta",
                "transport": "sprite_service",
                "sprite": {"id": "sprite-b"},
                "service": {"baseUrl": "https://sprites.example"},
            },
        ],
        "policy": {
            "mode": "guarded_auto",
            "noiseControls": {"dedupeWindowSeconds": 300},
            "autonomous": {
                "allow": {"categories": ["reconcile_failed"], "intents": ["cancel"]},
                "thresholds": {"minSeverity": "critical", "minConfidence": "high"},
                "safety": {
                    "maxActionsPerRun": 1,
                    "maxActionsPerLoop": 1,
                    "cooldownSeconds": 300,
                    "killSwitch": False,
                },
                "governance": {
                    "actor": "ops@example.com",
                    "approvalRef": "CHG-1",
                    "rationale": "canary the new runner",
                    "changedAt": "2029-12-01T00:00:00Z",
                    "reviewBy": "2030-02-01T00:00:00Z",
                },
                "rollout": {
                    "canaryPercent": 25,
                    "scope": {"loopIds": ["alpha", "beta"]},
                    "selector": {"salt": "salt-1"},
                    "pause": {"manual": False},
                    "autoPause": {
                        "enabled": True,
                        "lookbackExecutions": 5,
                        "minSampleSize": 3,
                        "ambiguityRateThreshold": 0.4,
                        "failureRateThreshold": 0.4,
                    },
                },
            },
            "suppressions": {"alpha": ["health_degraded"], "*": ["reconcile_failed"]},
        },
    }


def split(path: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in path.split(".")]


def change(doc: Any, path: str, value: object) -> None:
    """Set (or DELETE) the value at a dotted path; index len(list) appends."""
    *parents, last = split(path)
    for key in parents:
        doc = doc[key]
    if value is DELETE:
        del doc[last]
    elif isinstance(doc, list) and last == len(doc):
        doc.append(value)
    else:
        doc[last] = value


def registry_with(*changes: Change) -> dict[str, Any]:
    doc = valid_registry()
    for path, value in changes:
        change(doc, path, value)
    return doc


def case(case_id: str, expected: list[str], *changes: Change) -> Any:
    return pytest.param(changes, expected, id=case_id)


def test_the_base_registry_is_valid():
    assert validate_registry(valid_registry(), NOW) == []


# One case per message of contract §1.5, each a single defect in the valid base registry.
MESSAGE_CASES = [
    # Top level and loops.
    case("schema-version-wrong", ['schemaVersion must be "v1"'], ("schemaVersion", "v2")),
    case("schema-version-missing", ['schemaVersion must be "v1"'], ("schemaVersion", DELETE)),
    case("fleet-id-not-string", ["fleetId must be a string when present"], ("fleetId", 7)),
    case("loops-not-array", ["loops must be an array"], ("loops", {"alpha": {}})),
    case("loops-missing", ["loops must be an array"], ("loops", DELETE)),
    case("loops-empty", ["loops must include at least one loop entry"], ("loops", [])),
    case("loop-id-duplicate", ["loopId values must be unique"], ("loops.2", {"loopId": "alpha"})),
    case("loop-entry-string", ["loops[2]: entry must be an object"], ("loops.2", "gamma")),
    case(
        "loop-id-empty",
        ["loops[2]: loopId must be a non-empty string"],
        ("loops.2", {"loopId": ""}),
    ),
    case("loop-id-missing", ["loops[2]: loopId must be a non-empty string"], ("loops.2", {})),
    case(
        "loop-id-number",
        ["loops[2]: loopId must be a non-empty string"],
        ("loops.2", {"loopId": 3}),
    ),
    case("enabled", ["loops[0]: enabled must be boolean when present"], ("loops.0.enabled", "yes")),
    case(
        "transport",
        ["loops[0]: transport must be local or sprite_service"],
        ("loops.0.transport", "ssh"),
    ),
    case("sprite", ["loops[0]: sprite must be an object when present"], ("loops.0.sprite", "s")),
    case(
        "sprite-id",
        ["loops[0]: sprite.id must be a non-empty string when present"],
        ("loops.0.sprite.id", ""),
    ),
    case("service", ["loops[0]: service must be an object when present"], ("loops.0.service", [])),
    case(
        "token-env",
        ["loops[0]: service.tokenEnv must be a non-empty string when present"],
        ("loops.0.service.tokenEnv", ""),
    ),
    case(
        "retry-attempts-zero",
        ["loops[0]: service.retryAttempts must be >= 1 when present"],
        ("loops.0.service.retryAttempts", 0),
    ),
    case(
        "retry-attempts-float",
        ["loops[0]: service.retryAttempts must be >= 1 when present"],
        ("loops.0.service.retryAttempts", 2.0),
    ),
    case(
        "retry-backoff-negative",
        ["loops[0]: service.retryBackoffSeconds must be >= 0 when present"],
        ("loops.0.service.retryBackoffSeconds", -0.5),
    ),
    case(
        "retry-backoff-string",
        ["loops[0]: service.retryBackoffSeconds must be >= 0 when present"],
        ("loops.0.service.retryBackoffSeconds", "1"),
    ),
    case(
        "sprite-service-without-url",
        ["loops[1]: sprite_service loops require service.baseUrl or sprite.serviceBaseUrl"],
        ("loops.1.service.baseUrl", DELETE),
    ),
    case(
        "sprite-service-empty-url",
        ["loops[1]: sprite_service loops require service.baseUrl or sprite.serviceBaseUrl"],
        ("loops.1.service.baseUrl", ""),
    ),
    case(
        "metadata", ["loops[0]: metadata must be an object when present"], ("loops.0.metadata", 1)
    ),
    # Policy.
    case("policy", ["policy must be an object when present"], ("policy", "strict")),
    case("mode", ["policy.mode must be advisory or guarded_auto"], ("policy.mode", "auto")),
    case(
        "noise-controls",
        ["policy.noiseControls must be an object when present"],
        ("policy.noiseControls", 300),
    ),
    case(
        "dedupe-window-negative",
        ["policy.noiseControls.dedupeWindowSeconds must be an integer >= 0 when present"],
        ("policy.noiseControls.dedupeWindowSeconds", -1),
    ),
    case(
        "autonomous",
        ["policy.autonomous must be an object when present"],
        ("policy.autonomous", []),
    ),
    case(
        "allow",
        ["policy.autonomous.allow must be an object when present"],
        ("policy.autonomous.allow", "cancel"),
    ),
    case(
        "allow-categories-not-array",
        ["policy.autonomous.allow.categories must be an array when present"],
        ("policy.autonomous.allow.categories", "reconcile_failed"),
    ),
    case(
        "allow-categories-not-strings",
        ["policy.autonomous.allow.categories entries must be strings"],
        ("policy.autonomous.allow.categories", [1]),
    ),
    case(
        "allow-categories-unsupported",
        ["policy.autonomous.allow.categories contains unsupported categories"],
        ("policy.autonomous.allow.categories", ["reconcile_failed", "disk_full"]),
    ),
    case(
        "allow-intents-not-array",
        ["policy.autonomous.allow.intents must be an array when present"],
        ("policy.autonomous.allow.intents", "cancel"),
    ),
    case(
        "allow-intents-not-strings",
        ["policy.autonomous.allow.intents entries must be strings"],
        ("policy.autonomous.allow.intents", [None]),
    ),
    case(
        "allow-intents-unsupported",
        ["policy.autonomous.allow.intents contains unsupported intents"],
        ("policy.autonomous.allow.intents", ["restart"]),
    ),
    case(
        "thresholds",
        ["policy.autonomous.thresholds must be an object when present"],
        ("policy.autonomous.thresholds", "high"),
    ),
    case(
        "min-severity-not-string",
        ["policy.autonomous.thresholds.minSeverity must be a string when present"],
        ("policy.autonomous.thresholds.minSeverity", 1),
    ),
    case(
        "min-severity-unknown",
        ["policy.autonomous.thresholds.minSeverity must be one of critical, warning, info"],
        ("policy.autonomous.thresholds.minSeverity", "high"),
    ),
    case(
        "min-confidence-not-string",
        ["policy.autonomous.thresholds.minConfidence must be a string when present"],
        ("policy.autonomous.thresholds.minConfidence", True),
    ),
    case(
        "min-confidence-unknown",
        ["policy.autonomous.thresholds.minConfidence must be one of high, medium, low"],
        ("policy.autonomous.thresholds.minConfidence", "certain"),
    ),
    case(
        "safety",
        ["policy.autonomous.safety must be an object when present"],
        ("policy.autonomous.safety", 1),
    ),
    case(
        "max-actions-per-run",
        ["policy.autonomous.safety.maxActionsPerRun must be an integer >= 0 when present"],
        ("policy.autonomous.safety.maxActionsPerRun", -1),
    ),
    case(
        "max-actions-per-loop",
        ["policy.autonomous.safety.maxActionsPerLoop must be an integer >= 0 when present"],
        ("policy.autonomous.safety.maxActionsPerLoop", 0.5),
    ),
    case(
        "cooldown-seconds",
        ["policy.autonomous.safety.cooldownSeconds must be an integer >= 0 when present"],
        ("policy.autonomous.safety.cooldownSeconds", "300"),
    ),
    case(
        "kill-switch",
        ["policy.autonomous.safety.killSwitch must be boolean when present"],
        ("policy.autonomous.safety.killSwitch", "off"),
    ),
    # Governance in any mode (advisory here, so only the generic lines appear).
    case("governance", [f"{G} must be an object when present"], ADVISORY, (G, "ops")),
    case(
        "actor-empty",
        [f"{G}.actor must be a non-empty string when present"],
        ADVISORY,
        (f"{G}.actor", ""),
    ),
    case(
        "approval-ref-number",
        [f"{G}.approvalRef must be a non-empty string when present"],
        ADVISORY,
        (f"{G}.approvalRef", 5),
    ),
    case(
        "rationale-list",
        [f"{G}.rationale must be a non-empty string when present"],
        ADVISORY,
        (f"{G}.rationale", ["why"]),
    ),
    case(
        "changed-at-date-only",
        [f"{G}.changedAt must be an ISO-8601 timestamp when present"],
        ADVISORY,
        (f"{G}.changedAt", "2029-12-01"),
    ),
    case(
        "review-by-words",
        [f"{G}.reviewBy must be an ISO-8601 timestamp when present"],
        ADVISORY,
        (f"{G}.reviewBy", "next quarter"),
    ),
    case(
        "review-by-before-changed-at",
        [f"{G}.reviewBy must be after {G}.changedAt"],
        ADVISORY,
        (f"{G}.reviewBy", "2029-11-01T00:00:00Z"),
    ),
    case(
        "review-by-equals-changed-at",
        [f"{G}.reviewBy must be after {G}.changedAt"],
        ADVISORY,
        (f"{G}.reviewBy", "2029-12-01T00:00:00Z"),
    ),
    case("advisory-needs-no-governance", [], ADVISORY, (G, DELETE)),
    case(
        "advisory-allows-a-past-review-by", [], ADVISORY, (f"{G}.reviewBy", "2029-12-02T00:00:00Z")
    ),
    # Governance in guarded_auto (the base registry's mode).
    case("guarded-governance-missing", [f"{G} is required {GUARDED}"], (G, DELETE)),
    case("guarded-governance-null", [f"{G} is required {GUARDED}"], (G, None)),
    case("guarded-autonomous-missing", [f"{G} is required {GUARDED}"], ("policy.autonomous", None)),
    case(
        "guarded-governance-empty",
        [
            f"{G}.actor is required {GUARDED}",
            f"{G}.approvalRef is required {GUARDED}",
            f"{G}.rationale is required {GUARDED}",
            f"{G}.changedAt must be an ISO-8601 timestamp {GUARDED}",
            f"{G}.reviewBy must be an ISO-8601 timestamp {GUARDED}",
        ],
        (G, {}),
    ),
    case("guarded-actor-missing", [f"{G}.actor is required {GUARDED}"], (f"{G}.actor", DELETE)),
    case(
        "guarded-actor-empty",
        [f"{G}.actor must be a non-empty string when present", f"{G}.actor is required {GUARDED}"],
        (f"{G}.actor", ""),
    ),
    case(
        "guarded-approval-ref-null",
        [f"{G}.approvalRef is required {GUARDED}"],
        (f"{G}.approvalRef", None),
    ),
    case(
        "guarded-rationale-missing",
        [f"{G}.rationale is required {GUARDED}"],
        (f"{G}.rationale", DELETE),
    ),
    case(
        "guarded-changed-at-missing",
        [f"{G}.changedAt must be an ISO-8601 timestamp {GUARDED}"],
        (f"{G}.changedAt", DELETE),
    ),
    case(
        "guarded-changed-at-invalid",
        [
            f"{G}.changedAt must be an ISO-8601 timestamp when present",
            f"{G}.changedAt must be an ISO-8601 timestamp {GUARDED}",
        ],
        (f"{G}.changedAt", "yesterday"),
    ),
    case(
        "guarded-review-by-missing",
        [f"{G}.reviewBy must be an ISO-8601 timestamp {GUARDED}"],
        (f"{G}.reviewBy", DELETE),
    ),
    case(
        "guarded-review-by-before-changed-at",
        [
            f"{G}.reviewBy must be after {G}.changedAt",
            f"{G}.reviewBy must be after {G}.changedAt {GUARDED}",
        ],
        (f"{G}.changedAt", "2031-01-01T00:00:00Z"),
        (f"{G}.reviewBy", "2030-06-01T00:00:00Z"),
    ),
    case(
        "guarded-review-by-in-the-past",
        [f"{G}.reviewBy must be in the future {GUARDED}"],
        (f"{G}.reviewBy", "2029-12-15T00:00:00Z"),
    ),
    case(
        "guarded-review-by-now",
        [f"{G}.reviewBy must be in the future {GUARDED}"],
        (f"{G}.reviewBy", "2030-01-01T00:00:00Z"),
    ),
    case(
        "guarded-review-by-offset-in-the-past",
        [f"{G}.reviewBy must be in the future {GUARDED}"],
        (f"{G}.reviewBy", "2030-01-01T01:00:00+02:00"),
    ),
    case("guarded-review-by-just-after-now", [], (f"{G}.reviewBy", "2030-01-01T00:00:00.5Z")),
    case(
        "guarded-review-by-before-changed-at-and-past",
        [
            f"{G}.reviewBy must be after {G}.changedAt",
            f"{G}.reviewBy must be after {G}.changedAt {GUARDED}",
            f"{G}.reviewBy must be in the future {GUARDED}",
        ],
        (f"{G}.reviewBy", "2029-11-01T00:00:00Z"),
    ),
    # Rollout.
    case("rollout", [f"{R} must be an object when present"], (R, [])),
    case(
        "canary-above-100",
        [f"{R}.canaryPercent must be an integer between 0 and 100 when present"],
        (f"{R}.canaryPercent", 101),
    ),
    case(
        "canary-negative",
        [f"{R}.canaryPercent must be an integer between 0 and 100 when present"],
        (f"{R}.canaryPercent", -1),
    ),
    case(
        "canary-float",
        [f"{R}.canaryPercent must be an integer between 0 and 100 when present"],
        (f"{R}.canaryPercent", 50.0),
    ),
    case(
        "canary-string",
        [f"{R}.canaryPercent must be an integer between 0 and 100 when present"],
        (f"{R}.canaryPercent", "50"),
    ),
    case("scope", [f"{R}.scope must be an object when present"], (f"{R}.scope", "alpha")),
    case(
        "scope-loop-ids-not-array",
        [f"{R}.scope.loopIds must be an array when present"],
        (f"{R}.scope.loopIds", "alpha"),
    ),
    case(
        "scope-loop-ids-not-strings",
        [f"{R}.scope.loopIds entries must be strings"],
        (f"{R}.scope.loopIds", ["alpha", 1]),
    ),
    case(
        "scope-loop-ids-empty-string",
        [
            f"{R}.scope.loopIds entries must be non-empty strings",
            f"{R}.scope.loopIds entries must reference declared loopIds",
        ],
        (f"{R}.scope.loopIds", [""]),
    ),
    case(
        "scope-loop-ids-duplicate",
        [f"{R}.scope.loopIds entries must be unique"],
        (f"{R}.scope.loopIds", ["alpha", "alpha"]),
    ),
    case(
        "scope-loop-ids-undeclared",
        [f"{R}.scope.loopIds entries must reference declared loopIds"],
        (f"{R}.scope.loopIds", ["alpha", "ghost"]),
    ),
    case("selector", [f"{R}.selector must be an object when present"], (f"{R}.selector", "s")),
    case(
        "salt-not-string",
        [f"{R}.selector.salt must be a string when present"],
        (f"{R}.selector.salt", 5),
    ),
    case(
        "salt-empty",
        [f"{R}.selector.salt must be non-empty when present"],
        (f"{R}.selector.salt", ""),
    ),
    case("pause", [f"{R}.pause must be an object when present"], (f"{R}.pause", True)),
    case(
        "pause-manual",
        [f"{R}.pause.manual must be boolean when present"],
        (f"{R}.pause.manual", "true"),
    ),
    case("auto-pause", [f"{R}.autoPause must be an object when present"], (f"{R}.autoPause", 5)),
    case(
        "auto-pause-enabled",
        [f"{R}.autoPause.enabled must be boolean when present"],
        (f"{R}.autoPause.enabled", 1),
    ),
    case(
        "lookback-executions",
        [f"{R}.autoPause.lookbackExecutions must be an integer >= 1 when present"],
        (f"{R}.autoPause.lookbackExecutions", 0),
    ),
    case(
        "min-sample-size",
        [f"{R}.autoPause.minSampleSize must be an integer >= 1 when present"],
        (f"{R}.autoPause.minSampleSize", 3.0),
    ),
    case(
        "ambiguity-rate-threshold",
        [f"{R}.autoPause.ambiguityRateThreshold must be a number between 0 and 1 when present"],
        (f"{R}.autoPause.ambiguityRateThreshold", 1.5),
    ),
    case(
        "failure-rate-threshold",
        [f"{R}.autoPause.failureRateThreshold must be a number between 0 and 1 when present"],
        (f"{R}.autoPause.failureRateThreshold", -0.1),
    ),
    # Suppressions.
    case(
        "suppressions",
        ["policy.suppressions must be an object mapping loopId to category arrays"],
        ("policy.suppressions", ["alpha"]),
    ),
    case(
        "suppression-key-undeclared",
        ["policy.suppressions.ghost key must reference a declared loopId or *"],
        ("policy.suppressions.ghost", ["health_critical"]),
    ),
    case(
        "suppression-not-array",
        ["policy.suppressions.alpha must be an array"],
        ("policy.suppressions.alpha", "health_critical"),
    ),
    case(
        "suppression-null",
        ["policy.suppressions.alpha must be an array"],
        ("policy.suppressions.alpha", None),
    ),
    case(
        "suppression-not-strings",
        ["policy.suppressions.alpha entries must be strings"],
        ("policy.suppressions.alpha", [1]),
    ),
    case(
        "suppression-unknown-category",
        ["policy.suppressions.* contains unknown categories"],
        ("policy.suppressions.*", ["disk_full"]),
    ),
]


@pytest.mark.parametrize(("changes", "expected"), MESSAGE_CASES)
def test_each_defect_gets_exactly_its_contract_message(changes, expected):
    assert validate_registry(registry_with(*changes), NOW) == expected


ACCEPTED_CASES = [
    case("minimal", [], ("fleetId", DELETE), ("policy", DELETE), ("loops", [{"loopId": "alpha"}])),
    case(
        "unknown-keys-everywhere", [], ("x-top", 1), ("loops.0.x-loop", 1), (f"{R}.x-rollout", [])
    ),
    case("canary-zero", [], (f"{R}.canaryPercent", 0)),
    case("canary-hundred", [], (f"{R}.canaryPercent", 100)),
    case(
        "integer-rates",
        [],
        (f"{R}.autoPause.ambiguityRateThreshold", 0),
        (f"{R}.autoPause.failureRateThreshold", 1),
    ),
    case("backoff-zero", [], ("loops.0.service.retryBackoffSeconds", 0)),
    case(
        "sprite-service-url-on-sprite",
        [],
        ("loops.1.service", DELETE),
        ("loops.1.sprite.serviceBaseUrl", "https://sprites.example"),
    ),
    case("transport-absent-means-local", [], ("loops.0.transport", DELETE)),
    case(
        "all-categories",
        [],
        ("policy.suppressions.beta", ["reconcile_failed", "health_critical", "health_degraded"]),
    ),
    case("empty-scope-means-all-loops", [], (f"{R}.scope.loopIds", [])),
    case(
        "timestamps-with-offsets",
        [],
        (f"{G}.changedAt", "2029-12-01T01:00:00+01:00"),
        (f"{G}.reviewBy", "2030-02-01T00:00:00.123456Z"),
    ),
]


@pytest.mark.parametrize(("changes", "expected"), ACCEPTED_CASES)
def test_valid_variants_are_accepted(changes, expected):
    assert validate_registry(registry_with(*changes), NOW) == expected


CONTAINERS = [
    ("policy", "policy must be an object when present"),
    ("policy.noiseControls", "policy.noiseControls must be an object when present"),
    ("policy.autonomous", "policy.autonomous must be an object when present"),
    ("policy.autonomous.allow", "policy.autonomous.allow must be an object when present"),
    ("policy.autonomous.thresholds", "policy.autonomous.thresholds must be an object when present"),
    ("policy.autonomous.safety", "policy.autonomous.safety must be an object when present"),
    (G, f"{G} must be an object when present"),
    (R, f"{R} must be an object when present"),
    (f"{R}.scope", f"{R}.scope must be an object when present"),
    (f"{R}.selector", f"{R}.selector must be an object when present"),
    (f"{R}.pause", f"{R}.pause must be an object when present"),
    (f"{R}.autoPause", f"{R}.autoPause must be an object when present"),
    (
        "policy.suppressions",
        "policy.suppressions must be an object mapping loopId to category arrays",
    ),
    ("loops.0.sprite", "loops[0]: sprite must be an object when present"),
    ("loops.0.service", "loops[0]: service must be an object when present"),
    ("loops.0.metadata", "loops[0]: metadata must be an object when present"),
    ("loops.2", "loops[2]: entry must be an object"),
]


@pytest.mark.parametrize("wrong", ["x", 0, 1.5, False, [], [{}]], ids=repr)
@pytest.mark.parametrize(("path", "message"), CONTAINERS, ids=[path for path, _ in CONTAINERS])
def test_wrong_container_type_gets_a_clean_message_and_its_children_are_skipped(
    path, message, wrong
):
    assert validate_registry(registry_with((path, wrong)), NOW) == [message]


def test_wrong_container_type_for_governance_gets_a_clean_message():
    assert validate_registry(registry_with((G, "x")), NOW) == [
        f"{G} must be an object when present"
    ]


@pytest.mark.parametrize("doc", [[], "registry", 5, 1.5, None, True], ids=repr)
def test_a_document_that_is_not_a_mapping_gets_one_message(doc):
    assert validate_registry(doc, NOW) == [NOT_A_MAPPING]


def test_independent_problems_are_all_reported_in_contract_order():
    doc = registry_with(
        ("policy.suppressions.ghost", [1, "disk_full"]),
        (f"{R}.scope.loopIds", [1, "", "alpha", "alpha", "ghost"]),
        (f"{R}.canaryPercent", 101),
        (f"{G}.actor", ""),
        ("policy.autonomous.allow.categories", [1, "disk_full"]),
        ("policy.autonomous.safety.killSwitch", "no"),
        ("loops.0.transport", "ssh"),
        ("loops.0.enabled", "no"),
        ("fleetId", 1),
        ("schemaVersion", "v0"),
    )
    assert validate_registry(doc, NOW) == [
        'schemaVersion must be "v1"',
        "fleetId must be a string when present",
        "loops[0]: enabled must be boolean when present",
        "loops[0]: transport must be local or sprite_service",
        "policy.autonomous.allow.categories entries must be strings",
        "policy.autonomous.allow.categories contains unsupported categories",
        "policy.autonomous.safety.killSwitch must be boolean when present",
        f"{G}.actor must be a non-empty string when present",
        f"{G}.actor is required {GUARDED}",
        f"{R}.canaryPercent must be an integer between 0 and 100 when present",
        f"{R}.scope.loopIds entries must be strings",
        f"{R}.scope.loopIds entries must be non-empty strings",
        f"{R}.scope.loopIds entries must be unique",
        f"{R}.scope.loopIds entries must reference declared loopIds",
        "policy.suppressions.ghost key must reference a declared loopId or *",
        "policy.suppressions.ghost entries must be strings",
        "policy.suppressions.ghost contains unknown categories",
    ]


def test_every_failing_rule_of_one_loop_is_reported():
    broken_loop = {
        "loopId": "",
        "enabled": "y",
        "transport": "sprite_service",
        "sprite": {"id": ""},
        "service": {"tokenEnv": "", "retryAttempts": 0, "retryBackoffSeconds": -1},
        "metadata": [],
    }
    assert validate_registry(registry_with(("loops.2", broken_loop)), NOW) == [
        "loops[2]: loopId must be a non-empty string",
        "loops[2]: enabled must be boolean when present",
        "loops[2]: sprite.id must be a non-empty string when present",
        "loops[2]: service.tokenEnv must be a non-empty string when present",
        "loops[2]: service.retryAttempts must be >= 1 when present",
        "loops[2]: service.retryBackoffSeconds must be >= 0 when present",
        "loops[2]: sprite_service loops require service.baseUrl or sprite.serviceBaseUrl",
        "loops[2]: metadata must be an object when present",
    ]


def test_a_wrong_service_container_on_a_sprite_service_loop_also_lacks_a_url():
    assert validate_registry(registry_with(("loops.1.service", "https://x")), NOW) == [
        "loops[1]: service must be an object when present",
        "loops[1]: sprite_service loops require service.baseUrl or sprite.serviceBaseUrl",
    ]


def test_undeclared_references_are_not_judged_when_loops_is_unusable():
    doc = registry_with(("loops", "alpha"), (f"{R}.scope.loopIds", ["ghost"]))
    assert validate_registry(doc, NOW) == ["loops must be an array"]


NUMBER_FIELDS = [
    (f"{R}.canaryPercent", f"{R}.canaryPercent must be an integer between 0 and 100 when present"),
    (
        "policy.noiseControls.dedupeWindowSeconds",
        "policy.noiseControls.dedupeWindowSeconds must be an integer >= 0 when present",
    ),
    *(
        (
            f"policy.autonomous.safety.{key}",
            f"policy.autonomous.safety.{key} must be an integer >= 0 when present",
        )
        for key in ("maxActionsPerRun", "maxActionsPerLoop", "cooldownSeconds")
    ),
    *(
        (f"{R}.autoPause.{key}", f"{R}.autoPause.{key} must be an integer >= 1 when present")
        for key in ("lookbackExecutions", "minSampleSize")
    ),
    *(
        (
            f"{R}.autoPause.{key}",
            f"{R}.autoPause.{key} must be a number between 0 and 1 when present",
        )
        for key in ("ambiguityRateThreshold", "failureRateThreshold")
    ),
    ("loops.0.service.retryAttempts", "loops[0]: service.retryAttempts must be >= 1 when present"),
    (
        "loops.0.service.retryBackoffSeconds",
        "loops[0]: service.retryBackoffSeconds must be >= 0 when present",
    ),
]


@pytest.mark.parametrize("flag", [True, False], ids=repr)
@pytest.mark.parametrize(("path", "message"), NUMBER_FIELDS, ids=[p for p, _ in NUMBER_FIELDS])
def test_a_bool_is_not_a_number(path, message, flag):
    assert validate_registry(registry_with((path, flag)), NOW) == [message]


INTEGER_FIELDS = [
    (path, message)
    for path, message in NUMBER_FIELDS
    if not path.endswith(("Threshold", "retryBackoffSeconds"))
]


@pytest.mark.parametrize(("path", "message"), INTEGER_FIELDS, ids=[p for p, _ in INTEGER_FIELDS])
def test_a_float_is_not_an_integer_even_when_whole(path, message):
    assert validate_registry(registry_with((path, 3.0)), NOW) == [message]


OPTIONAL_PATHS = [
    "fleetId",
    "loops.0.enabled",
    "loops.0.transport",
    "loops.0.sprite",
    "loops.1.sprite.id",
    "loops.0.service",
    "loops.0.service.tokenEnv",
    "loops.0.service.retryAttempts",
    "loops.0.service.retryBackoffSeconds",
    "loops.0.metadata",
    "policy",
    "policy.mode",
    "policy.noiseControls",
    "policy.noiseControls.dedupeWindowSeconds",
    "policy.autonomous",
    "policy.autonomous.allow",
    "policy.autonomous.allow.categories",
    "policy.autonomous.allow.intents",
    "policy.autonomous.thresholds",
    "policy.autonomous.thresholds.minSeverity",
    "policy.autonomous.thresholds.minConfidence",
    "policy.autonomous.safety",
    *(
        f"policy.autonomous.safety.{k}"
        for k in ("maxActionsPerRun", "cooldownSeconds", "killSwitch")
    ),
    G,
    *(f"{G}.{k}" for k in ("actor", "approvalRef", "rationale", "changedAt", "reviewBy")),
    R,
    f"{R}.canaryPercent",
    f"{R}.scope",
    f"{R}.scope.loopIds",
    f"{R}.selector",
    f"{R}.selector.salt",
    f"{R}.pause",
    f"{R}.pause.manual",
    f"{R}.autoPause",
    *(
        f"{R}.autoPause.{k}"
        for k in (
            "enabled",
            "lookbackExecutions",
            "minSampleSize",
            "ambiguityRateThreshold",
            "failureRateThreshold",
        )
    ),
    "policy.suppressions",
]


@pytest.mark.parametrize("path", OPTIONAL_PATHS, ids=OPTIONAL_PATHS)
def test_null_counts_as_absent(path):
    # Advisory, so that a null governance field is not required by guarded_auto.
    changes = [(path, None)] if path in ("policy", "policy.mode") else [ADVISORY, (path, None)]
    assert validate_registry(registry_with(*changes), NOW) == []


def test_a_naive_now_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_registry(valid_registry(), datetime(2030, 1, 1))


SKIP_CASES = [
    case("fields-missing", [], (G, {})),
    case("block-missing", [], (G, DELETE)),
    case("fields-invalid", [], (f"{G}.actor", ""), (f"{G}.reviewBy", "2029-01-01T00:00:00Z")),
    case("advisory-fields-invalid", [], ADVISORY, (f"{G}.changedAt", "soon")),
    case("wrong-container-is-kept", [f"{G} must be an object when present"], (G, ["actor"])),
    case(
        "other-rules-still-run",
        [f"{R}.canaryPercent must be an integer between 0 and 100 when present"],
        (G, {}),
        (f"{R}.canaryPercent", 101),
    ),
]


@pytest.mark.parametrize(("changes", "expected"), SKIP_CASES)
def test_skip_governance_fields_omits_only_the_field_messages(changes, expected):
    doc = registry_with(*changes)
    assert validate_registry(doc, NOW, skip_governance_fields=True) == expected


def test_the_view_of_a_minimal_registry_has_the_defaults():
    doc = {"schemaVersion": "v1", "loops": [{"loopId": "alpha"}, {"loopId": "beta"}]}
    assert validate_registry(doc, NOW) == []
    assert view_registry(doc) == RegistryView(
        fleet_id="default",
        mode="advisory",
        canary_percent=100,
        manual_pause=False,
        loop_ids=("alpha", "beta"),
        governance=Governance(None, None, None, None, None),
    )


def test_the_view_carries_the_written_values():
    doc = registry_with((f"{R}.pause.manual", True))
    assert view_registry(doc) == RegistryView(
        fleet_id="fleet-a",
        mode="guarded_auto",
        canary_percent=25,
        manual_pause=True,
        loop_ids=("alpha", "beta"),
        governance=Governance(
            actor="ops@example.com",
            approval_ref="CHG-1",
            rationale="canary the new runner",
            changed_at="2029-12-01T00:00:00Z",
            review_by="2030-02-01T00:00:00Z",
        ),
    )


def test_the_view_keeps_an_explicit_false_and_zero_unlike_jq():
    doc = registry_with((f"{R}.canaryPercent", 0), (f"{R}.pause.manual", False))
    view = view_registry(doc)
    assert (view.canary_percent, view.manual_pause) == (0, False)


def test_the_view_treats_null_as_absent():
    doc = registry_with(("fleetId", None), ("policy.mode", None), (f"{R}.canaryPercent", None))
    view = view_registry(doc)
    assert (view.fleet_id, view.mode, view.canary_percent) == ("default", "advisory", 100)


# Property tests: any JSON-like input gets messages or a view, never an exception.

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
NEAR_MISSES = st.sampled_from(
    [
        None, True, False, 0, 1, -1, 3, 100, 101, 0.5, 1.0, 1.5, "", "x", "v1", "alpha", "beta",
        "*", "local", "sprite_service", "advisory", "guarded_auto", "critical", "high", "cancel",
        "reconcile_failed", "2029-12-01T00:00:00Z", "2031-01-01T00:00:00+01:00", [], {},
        ["alpha"], ["health_critical"], {"loopId": "gamma"},
    ]
)  # fmt: skip


def registry_paths(value: object, prefix: str = "") -> list[str]:
    """Every path of the base registry, containers and leaves, plus a new key in each object."""
    paths: list[str] = []
    if isinstance(value, dict):
        children: list[tuple[object, object]] = list(value.items()) + [("x-unknown", None)]
    elif isinstance(value, list):
        children = list(enumerate(value))
    else:
        return paths
    for key, child in children:
        path = f"{prefix}{key}"
        paths.append(path)
        paths.extend(registry_paths(child, f"{path}."))
    return paths


PATHS = registry_paths(valid_registry())
MUTATIONS = st.lists(
    st.tuples(st.sampled_from(PATHS), NEAR_MISSES | JSON_VALUES), min_size=1, max_size=4
)


def mutated_registry(mutations: list[tuple[str, object]]) -> dict[str, Any]:
    """The base registry with each mutation applied, skipping paths an earlier one removed."""
    doc = valid_registry()
    for path, value in mutations:
        try:
            change(doc, path, copy.deepcopy(value))
        except (KeyError, IndexError, TypeError):
            continue
    return doc


def assert_messages_or_view(doc: object) -> list[str]:
    problems = validate_registry(doc, NOW)
    assert isinstance(problems, list)
    assert all(isinstance(problem, str) and problem for problem in problems)
    if not problems:
        assert isinstance(doc, dict)
        assert isinstance(view_registry(doc), RegistryView)
    return problems


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(JSON_VALUES)
def test_any_json_value_gets_messages_or_a_view(doc):
    assert_messages_or_view(doc)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(st.sampled_from(["schemaVersion", "fleetId", "loops", "policy"]), JSON_VALUES)
)
def test_any_top_level_mapping_gets_messages_or_a_view(doc):
    assert_messages_or_view(doc)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(MUTATIONS)
def test_any_mutation_of_a_valid_registry_gets_messages_or_a_view(mutations):
    assert_messages_or_view(mutated_registry(mutations))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(MUTATIONS)
def test_skipping_governance_fields_only_drops_governance_field_messages(mutations):
    doc = mutated_registry(mutations)
    full = validate_registry(doc, NOW)
    skipped = validate_registry(doc, NOW, skip_governance_fields=True)
    remaining = iter(full)
    assert all(message in remaining for message in skipped)  # an ordered sub-list of full
    governance_fields = {m for m in full if m.startswith((f"{G}.", f"{G} is required"))}
    assert set(full) - set(skipped) <= governance_fields
    assert not governance_fields & set(skipped)


# The published JSON Schema accepts every registry the validator accepts.

SCHEMA_VALIDATOR = Draft202012Validator(registry_json_schema())


def test_the_json_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(registry_json_schema())


@pytest.mark.parametrize(("changes", "expected"), ACCEPTED_CASES)
def test_accepted_variants_fit_the_json_schema(changes, expected):
    doc = registry_with(*changes)
    assert validate_registry(doc, NOW) == expected == []
    SCHEMA_VALIDATOR.validate(doc)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(PATHS), NEAR_MISSES), max_size=3))
def test_every_accepted_registry_fits_the_json_schema(mutations):
    doc = mutated_registry(mutations)
    if validate_registry(doc, NOW) == []:
        SCHEMA_VALIDATOR.validate(doc)


REJECTED_BY_SCHEMA = [
    pytest.param(("schemaVersion", "v2"), id="schema-version"),
    pytest.param((f"{R}.canaryPercent", 101), id="canary"),
    pytest.param(("policy.mode", "auto"), id="mode"),
    pytest.param(("loops.1.service.baseUrl", DELETE), id="sprite-service-url"),
    pytest.param(("policy.suppressions.alpha", ["disk_full"]), id="suppression-category"),
    pytest.param((f"{R}.autoPause.minSampleSize", True), id="bool-as-integer"),
]


@pytest.mark.parametrize("defect", REJECTED_BY_SCHEMA)
def test_the_json_schema_rejects_what_it_can_express(defect):
    assert not SCHEMA_VALIDATOR.is_valid(registry_with(defect))
