"""The GitHub workflows (ours and `reconcile init`'s copies) and the pre-commit hook manifest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler import __version__
from reconciler.core import yamltext
from reconciler.setup import init_repo as scaffold

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
NAMES = ("reconcile.yml", "plan.yml", "rollout-dispatch.yml")
CHECK_JSONSCHEMA = os.path.join(os.path.dirname(sys.executable), "check-jsonschema")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    doc = yamltext.load_yaml(path.read_text(encoding="utf-8"))  # YAML 1.2: `on` is a string
    assert isinstance(doc, dict)
    return doc


def load_list(path: Path) -> list[dict[str, Any]]:
    doc = yamltext.load_yaml(path.read_text(encoding="utf-8"))
    assert isinstance(doc, list)
    return doc


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def run_scripts(doc: dict[str, Any]) -> list[str]:
    return [step["run"] for step in steps(doc) if "run" in step]


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scaffolded")
    scaffold.scaffold_repo(str(root))
    return root / ".github" / "workflows"


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[str, Any]]:
    return {name: load(WORKFLOW_DIR / name) for name in NAMES}


def test_workflows_and_their_scaffolded_copies_match_the_github_schema(scaffolded: Path) -> None:
    paths = [str(folder / name) for folder in (WORKFLOW_DIR, scaffolded) for name in NAMES]
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scaffolded_workflows_install_the_pinned_release_and_differ_in_nothing_else(
    scaffolded: Path,
) -> None:
    for name in NAMES:
        ours = (WORKFLOW_DIR / name).read_text(encoding="utf-8")
        theirs = (scaffolded / name).read_text(encoding="utf-8")
        assert "pip install .\n" not in theirs
        release = f"python -m pip install rollout-reconciler=={__version__}\n"
        assert theirs.count(release) == 1
        assert theirs.replace(release, "python -m pip install .\n") == ours


def test_release_workflow_refuses_text_without_exactly_one_install_line() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        scaffold.release_workflow("run: pip install foo\n", "x.yml")


def test_reconcile_runs_on_pushes_to_main_touching_policies(workflows) -> None:
    doc = workflows["reconcile.yml"]
    assert doc["on"] == {"push": {"branches": ["main"], "paths": ["policies/**"]}}
    assert any("reconcile --once --push" in script for script in run_scripts(doc))


def test_plan_runs_on_pull_requests_touching_policies_against_the_base_branch(workflows) -> None:
    # policies/**, not only intents: a PR that edits only the registry's canaryPercent must
    # still be checked (and fail with pr_edits_owned_content), issue 9.
    doc = workflows["plan.yml"]
    assert doc["on"] == {"pull_request": {"paths": ["policies/**"]}}
    (plan,) = [step for step in steps(doc) if "reconcile plan" in step.get("run", "")]
    assert plan["run"] == 'reconcile plan --base "origin/${BASE_REF}"'
    assert plan["env"] == {"BASE_REF": "${{ github.base_ref }}"}


def test_dispatch_takes_every_governance_input_and_uploads_the_result(workflows) -> None:
    doc = workflows["rollout-dispatch.yml"]
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {
        "mode",
        "intent",
        "expand_step",
        "actor",
        "approval_ref",
        "rationale",
        "review_by",
    }
    assert inputs["mode"]["options"] == ["dry_run", "apply", "rollback"]
    assert inputs["intent"]["options"] == ["expand", "resume"]
    assert inputs["expand_step"] == {**inputs["expand_step"], "type": "string", "default": "25"}
    (dispatch,) = [step for step in steps(doc) if "reconcile dispatch" in step.get("run", "")]
    flags = re.findall(r"--[a-z-]+", dispatch["run"])
    assert flags == [
        "--mode",
        "--apply-intent",
        "--expand-step",
        "--by",
        "--approval-ref",
        "--rationale",
        "--review-by",
        "--push",
        "--result-file",
        "--summary-file",
    ]
    assert sorted(dispatch["env"].values()) == sorted(
        f"${{{{ inputs.{name} }}}}" for name in inputs
    )
    (upload,) = [step for step in steps(doc) if "upload-artifact" in step.get("uses", "")]
    assert upload["with"]["path"] == "dispatch-result.json"


def test_only_the_writing_workflows_may_write_and_only_contents(workflows) -> None:
    for name, doc in workflows.items():
        scopes = [doc["permissions"], *(job.get("permissions", {}) for job in doc["jobs"].values())]
        granted = {key: value for scope in scopes for key, value in scope.items()}
        # plan.yml runs on pull requests (untrusted code): read only.
        expected = "read" if name == "plan.yml" else "write"
        assert granted == {"contents": expected}, name


def test_the_writing_workflows_share_one_queue_that_never_cancels_a_running_write(
    workflows,
) -> None:
    reconcile, dispatch = workflows["reconcile.yml"], workflows["rollout-dispatch.yml"]
    assert reconcile["concurrency"] == dispatch["concurrency"]
    assert reconcile["concurrency"]["cancel-in-progress"] is False
    assert "concurrency" not in workflows["plan.yml"]


def test_checkouts_fetch_the_full_history(workflows) -> None:
    for name, doc in workflows.items():
        checkouts = [s for s in steps(doc) if s.get("uses", "").startswith("actions/checkout@")]
        assert [s["with"]["fetch-depth"] for s in checkouts] == [0], name


def test_every_action_is_pinned_to_a_commit_with_its_version_in_a_comment(workflows) -> None:
    for name, doc in workflows.items():
        uses = [step["uses"] for step in steps(doc) if "uses" in step]
        assert uses and all(PINNED.match(ref) for ref in uses), (name, uses)
        text = (WORKFLOW_DIR / name).read_text(encoding="utf-8")
        for ref in uses:
            assert re.search(rf"uses: {re.escape(ref)} # v\d+\.\d+\.\d+\n", text), ref


def test_no_expression_is_interpolated_into_a_shell_script(workflows) -> None:
    # Inputs and event fields reach scripts through env: only (script injection).
    for name, doc in workflows.items():
        for script in run_scripts(doc):
            assert "${{" not in script, (name, script)


def test_pre_commit_hook_manifest_validates_intent_files() -> None:
    hooks = load_list(ROOT / ".pre-commit-hooks.yaml")
    assert [hook["id"] for hook in hooks] == ["reconcile-validate-intents"]
    (hook,) = hooks
    assert hook["name"]
    assert hook["entry"] == "reconcile validate --intents"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    pattern = re.compile(hook["files"])
    assert pattern.search("policies/intents/20261124T0930Z-expand.yaml")
    assert pattern.search("policies/intents/rollback.yml")
    assert not pattern.search("policies/intents/applied/20261124T0930Z-expand.yaml")
    assert not pattern.search("policies/intents/.gitkeep")
    assert not pattern.search("policies/registry.yaml")
