"""What a pull request may not edit by hand: owned registry fields by value, owned files."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from reconciler.core.ownership import OwnedFiles, changed_owned_fields, owned_file_problem

BASE: dict[str, Any] = {
    "fleetId": "fleet-a",
    "policy": {
        "mode": "guarded_auto",
        "autonomous": {
            "rollout": {"canaryPercent": 25, "pause": {"manual": False}, "selector": {}},
            "governance": {"actor": "ops", "approvalRef": "CAB-1", "reviewBy": "2027-01-01"},
            "safety": {"cooldownSeconds": 300},
        },
    },
}


def changed(**edits: object) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        block = doc
        for key in parents:
            block = block.setdefault(key, {})
        if value is None:
            block.pop(last, None)
        else:
            block[last] = value
    return doc


@pytest.mark.parametrize(
    ("edits", "lines"),
    [
        pytest.param({}, [], id="nothing"),
        pytest.param({"fleetId": "fleet-b"}, [], id="other-field"),
        pytest.param({"policy__autonomous__safety__cooldownSeconds": 600}, [], id="safety"),
        pytest.param(
            {"policy__autonomous__rollout__canaryPercent": 90},
            ["policy.autonomous.rollout.canaryPercent changed (25 -> 90)"],
            id="canary",
        ),
        pytest.param(
            {"policy__autonomous__rollout__canaryPercent": 25.0},
            ["policy.autonomous.rollout.canaryPercent changed (25 -> 25.0)"],
            id="canary-type",
        ),
        pytest.param(
            {"policy__autonomous__rollout__pause__manual": True},
            ["policy.autonomous.rollout.pause.manual changed (false -> true)"],
            id="pause",
        ),
        pytest.param(
            {"policy__autonomous__governance__rationale": "why"},
            ['policy.autonomous.governance.rationale changed (absent -> "why")'],
            id="governance-added",
        ),
        pytest.param(
            {"policy__autonomous__governance__actor": None},
            ['policy.autonomous.governance.actor changed ("ops" -> absent)'],
            id="governance-removed",
        ),
    ],
)
def test_changed_owned_fields(edits: dict[str, object], lines: list[str]) -> None:
    assert changed_owned_fields(BASE, changed(**edits)) == lines


def test_a_long_value_is_shortened() -> None:
    (line,) = changed_owned_fields(BASE, changed(policy__autonomous__governance__actor="x" * 500))
    assert len(line) < 150 and line.endswith("...)")


def test_a_missing_registry_shows_every_owned_field_as_absent() -> None:
    assert len(changed_owned_fields(BASE, None)) == 5  # canary, pause, actor, ref, reviewBy


OWNED = OwnedFiles(
    decision="policies/promotion/decision.json",
    state_files=("policies/state/promotion-apply-state.json", "policies/state/index.json"),
    telemetry="policies/telemetry/promotion-apply.jsonl",
    segments=re.compile(r"promotion-apply\.\d{8}T\d{6}Z\.jsonl"),
    processed=("policies/intents/applied", "policies/intents/rejected"),
)


@pytest.mark.parametrize(
    ("path", "owned"),
    [
        ("policies/promotion/decision.json", True),
        ("policies/state/promotion-apply-state.json", True),
        ("policies/state/index.json", True),
        ("policies/state/notes.md", False),
        ("policies/telemetry/promotion-apply.jsonl", True),
        ("policies/telemetry/promotion-apply.20261124T120000Z.jsonl", True),
        ("policies/telemetry/README.md", False),
        ("policies/intents/applied/x.yaml", True),
        ("policies/intents/rejected/deep/x.yaml", True),
        ("policies/intents/applied.yaml", False),
        ("policies/intents/20-expand.yaml", False),
        ("policies/registry.yaml", False),
    ],
)
def test_owned_file_problem(path: str, owned: bool) -> None:
    assert (owned_file_problem(path, OWNED) is not None) == owned
