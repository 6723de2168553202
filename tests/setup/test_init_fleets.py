"""`reconcile init --fleets`'s files in-process: settings, fleet folders, CODEOWNERS, workflows.

The command itself (the tree it writes, refusals, never overwriting) is in
tests/commands/test_init.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.core import yamltext
from reconciler.setup import init_fleets, init_repo
from tests.setup.test_workflows import CHECK_JSONSCHEMA, INSTALL, NAMES, ROOT, WORKFLOW_DIR

FLEETS = ("staging", "prod-eu", "prod-us")
# Ids a plain YAML scalar would read as a number, a boolean or null (in YAML 1.1 or 1.2).
TRICKY = ("123", "1.5", "on", "null", "true", "y", "0x1f")
REQUIRES = {"minCanary": 100, "soak": "24h"}


def test_the_fleets_block_chains_each_fleet_after_the_one_before_it() -> None:
    text = init_fleets.settings_text(init_repo.SETTINGS_TEXT, FLEETS)
    for doc in (yaml.safe_load(text), yamltext.load_yaml(text)):
        assert isinstance(doc, dict)
        assert doc["fleets"] == {
            "staging": {},
            "prod-eu": {"after": "staging", "requires": REQUIRES},
            "prod-us": {"after": "prod-eu", "requires": REQUIRES},
        }
        assert list(doc["fleets"]) == list(FLEETS)
    assert "# Fleets (docs/fleets.md), in promotion order." in text
    # The single-fleet path defaults would name files no fleet uses.
    assert "registryFile" not in text
    assert text.startswith(init_repo.SETTINGS_TEXT.split("# Paths,")[0])


def test_ids_yaml_would_read_as_other_types_are_quoted_and_read_back_as_text() -> None:
    text = init_fleets.settings_text(init_repo.SETTINGS_TEXT, TRICKY)
    for doc in (yaml.safe_load(text), yamltext.load_yaml(text)):
        assert isinstance(doc, dict)
        assert list(doc["fleets"]) == list(TRICKY)
        assert [fleet.get("after") for fleet in doc["fleets"].values()] == [None, *TRICKY[:-1]]


def test_settings_without_the_path_comments_are_refused() -> None:
    with pytest.raises(ValueError, match="Paths, relative to this file"):
        init_fleets.settings_text("maxDecisionAge: 24h\n", FLEETS)


def example_policy_files() -> dict[str, bytes]:
    return {name: (ROOT / "policies" / name).read_bytes() for name in init_repo.POLICY_FILES}


@pytest.mark.parametrize("fleet_id", ["prod-eu", *TRICKY])
def test_a_fleet_registry_is_the_example_with_only_its_fleet_id_changed(fleet_id: str) -> None:
    example = (ROOT / "policies" / "registry.yaml").read_text()
    written = init_fleets.fleet_files(fleet_id, example_policy_files())
    registry = written[f"policies/fleets/{fleet_id}/registry.yaml"].decode()

    changed = [
        (old, new)
        for old, new in zip(example.splitlines(), registry.splitlines(), strict=True)
        if old != new
    ]
    spelled = fleet_id if fleet_id == "prod-eu" else f'"{fleet_id}"'
    assert changed == [("fleetId: fleet-a", f"fleetId: {spelled}")]
    for load in (yaml.safe_load, yamltext.load_yaml):  # YAML 1.1 and 1.2 readers
        before: Any = load(example)
        assert load(registry) == {**before, "fleetId": fleet_id}


def test_a_fleet_folder_holds_the_example_files_and_its_intent_folders() -> None:
    written = init_fleets.fleet_files("staging", example_policy_files())
    assert sorted(written) == [
        "policies/fleets/staging/.gitignore",
        "policies/fleets/staging/intents/.gitkeep",
        "policies/fleets/staging/intents/applied/.gitkeep",
        "policies/fleets/staging/intents/rejected/.gitkeep",
        "policies/fleets/staging/promotion/decision.json",
        "policies/fleets/staging/registry.yaml",
    ]
    for name in ("promotion/decision.json", ".gitignore"):
        assert written[f"policies/fleets/staging/{name}"] == (ROOT / "policies" / name).read_bytes()


def codeowners(text: str) -> dict[str, str]:
    rows = [line.split() for line in text.splitlines() if line.strip() and line[0] != "#"]
    assert all(len(row) == 2 for row in rows)
    return {pattern: owner for pattern, owner in rows}


def test_codeowners_has_a_section_per_fleet_and_the_shared_files() -> None:
    text = init_fleets.codeowners_text(FLEETS)
    owners = codeowners(text)
    for fleet_id in FLEETS:
        folder = f"/policies/fleets/{fleet_id}"
        assert owners[f"{folder}/intents/"] == f"@your-org/{fleet_id}-approvers"
        for owned in ("registry.yaml", "state/", "telemetry/", "intents/applied/",
                      "intents/rejected/"):  # fmt: skip
            assert owners[f"{folder}/{owned}"] == "@your-org/rollout-admins"
        assert owners[f"{folder}/promotion/"] == "@your-org/gates-owners"
        order = list(owners)
        # The last matching pattern wins: applied/ and rejected/ come after intents/.
        assert order.index(f"{folder}/intents/") < order.index(f"{folder}/intents/applied/")
    for shared in ("/reconciler.yaml", "/policies/freeze.yaml", "/policies/access/",
                   "/.github/CODEOWNERS"):  # fmt: skip
        assert owners[shared] == "@your-org/rollout-admins"
    assert not any(pattern.startswith("/policies/intents") for pattern in owners)
    assert "own approvers team" in text


@pytest.fixture(scope="module")
def fleet_workflows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleets")
    for rel, data in init_repo.scaffold_files(install=INSTALL, fleets=FLEETS).items():
        if rel.startswith(".github/workflows/"):
            (root / rel.rsplit("/", 1)[1]).write_bytes(data)
    return root


def test_the_fleet_workflows_match_the_github_schema(fleet_workflows: Path) -> None:
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows",
         *(str(fleet_workflows / name) for name in NAMES)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dispatch_workflow_passes_the_chosen_fleet_through_the_environment(
    fleet_workflows: Path,
) -> None:
    doc: Any = yamltext.load_yaml((fleet_workflows / "rollout-dispatch.yml").read_text())
    fleet = doc["on"]["workflow_dispatch"]["inputs"]["fleet"]
    assert fleet["type"] == "choice"
    assert fleet["required"] is True
    assert fleet["options"] == list(FLEETS)
    (step,) = [step for step in doc["jobs"]["dispatch"]["steps"] if step.get("name") == "Dispatch"]
    assert step["env"]["FLEET"] == "${{ inputs.fleet }}"
    assert '  reconcile dispatch \\\n    --fleet "$FLEET" \\\n' in step["run"]


def test_the_fleet_workflows_differ_from_one_fleet_only_in_fleet_paths_and_the_input(
    fleet_workflows: Path,
) -> None:
    single = init_repo.scaffold_files(install=INSTALL)
    for name in NAMES:
        ours = single[f".github/workflows/{name}"].decode()
        theirs = (fleet_workflows / name).read_text()
        assert "policies/intents" not in theirs
        removed = [line for line in ours.splitlines() if line not in theirs.splitlines()]
        assert all("policies/intents/" in line for line in removed), removed
    # The filters already cover every fleet: policies/** holds policies/fleets/.
    plan: Any = yamltext.load_yaml((fleet_workflows / "plan.yml").read_text())
    assert plan["on"]["pull_request"]["paths"] == ["policies/**"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('      - "policies/intents/**"\n', '      - "policies/fleets/*/intents/**"\n'),
        ("      - policies/registry.yaml\n", "      - policies/fleets/*/registry.yaml\n"),
        ("# see policies/promotion/ and policies/state/\n",
         "# see policies/fleets/*/promotion/ and policies/fleets/*/state/\n"),
        ("      - policies/freeze.yaml\n", "      - policies/freeze.yaml\n"),
        ("      - policies/access/**\n", "      - policies/access/**\n"),
        ("      - other/policies/intents/**\n", "      - other/policies/intents/**\n"),
    ],
)  # fmt: skip
def test_single_fleet_paths_in_a_workflow_name_every_fleet_folder(line: str, expected: str) -> None:
    assert init_fleets.fleet_workflow(line, "plan.yml", FLEETS) == expected


def test_a_dispatch_workflow_without_inputs_is_refused() -> None:
    text = (WORKFLOW_DIR / "rollout-dispatch.yml").read_text().replace("    inputs:\n", "")
    with pytest.raises(ValueError, match="must contain 'inputs:' exactly once"):
        init_fleets.fleet_workflow(text, "rollout-dispatch.yml", FLEETS)
