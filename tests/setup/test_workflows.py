"""The GitHub workflows (ours and `reconcile init`'s copies) and the pre-commit hook manifest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import yamltext
from reconciler.setup import init_repo

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
NAMES = ("reconcile.yml", "plan.yml", "rollout-dispatch.yml")
CHECK_JSONSCHEMA = os.path.join(os.path.dirname(sys.executable), "check-jsonschema")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
INSTALL = "git+https://git.example.com/platform/rollout-reconciler@v0.1.0"


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
    init_repo.scaffold_repo(str(root), install=INSTALL)
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


def test_scaffolded_workflows_install_the_given_spec_and_differ_in_nothing_else(
    scaffolded: Path,
) -> None:
    for name in NAMES:
        ours = (WORKFLOW_DIR / name).read_text(encoding="utf-8")
        theirs = (scaffolded / name).read_text(encoding="utf-8")
        assert "pip install .\n" not in theirs
        release = f"python -m pip install {INSTALL}\n"
        assert theirs.count(release) == 1
        assert theirs.replace(release, "python -m pip install .\n") == ours
        (install,) = [run for run in run_scripts(load(scaffolded / name)) if "pip" in run]
        assert install == release.strip()


def test_release_workflow_refuses_text_without_exactly_one_install_line() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        init_repo.release_workflow("run: pip install foo\n", "x.yml", INSTALL)


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
    assert 'reconcile plan --base "origin/${BASE_REF}" || code=$?\n' in plan["run"]
    assert plan["env"] == {"BASE_REF": "${{ github.base_ref }}"}


def test_dispatch_takes_every_governance_input_and_uploads_the_result(workflows) -> None:
    doc = workflows["rollout-dispatch.yml"]
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {
        "mode",
        "intent",
        "expand_step",
        "to_percent",
        "actor",
        "approval_ref",
        "rationale",
        "review_by",
    }
    assert inputs["mode"]["options"] == ["dry_run", "apply", "rollback"]
    assert inputs["intent"]["options"] == ["expand", "resume"]
    assert inputs["expand_step"] == {**inputs["expand_step"], "type": "string", "default": "25"}
    # Empty (the default) means "only pause"; the command refuses it with any other mode.
    assert inputs["to_percent"] == {**inputs["to_percent"], "type": "string", "default": ""}
    assert inputs["to_percent"]["required"] is False
    (dispatch,) = [step for step in steps(doc) if "reconcile dispatch" in step.get("run", "")]
    flags = re.findall(r"--[a-z-]+", dispatch["run"])
    assert flags == [
        "--mode",
        "--apply-intent",
        "--expand-step",
        "--to-percent",
        "--by",
        "--approval-ref",
        "--rationale",
        "--review-by",
        "--idempotency-key",
        "--push",
        "--result-file",
        "--summary-file",
    ]
    assert sorted(dispatch["env"].values()) == sorted(
        f"${{{{ inputs.{name} }}}}" for name in inputs
    )
    # A stable key per workflow run: a retry (exit 75) or a re-run replays, never applies twice.
    assert '--idempotency-key "dispatch-$GITHUB_RUN_ID"' in dispatch["run"]
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
    assert pattern.search("policies/fleets/prod-eu/intents/001-expand.yaml")  # several fleets
    assert not pattern.search("policies/fleets/prod-eu/intents/applied/001-expand.yaml")
    assert not pattern.search("policies/fleets/a/b/intents/001-expand.yaml")
    assert not pattern.search("policies/registry.yaml")


# Retry on exit 75 ----------------------------------------------------------------------------

FAKE_RECONCILE = """#!/bin/sh
echo "$*" >> "$CALLS"
n=$(wc -l < "$CALLS")
code=$(sed -n "${n}p" "$CODES")
exit "${code:-0}"
"""


def reconcile_steps(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """(workflow name, step) of every step that runs `reconcile`, in `folder`."""
    return [
        (name, step)
        for name in NAMES
        for step in steps(load(folder / name))
        if "reconcile " in step.get("run", "")
    ]


def run_step(step: dict[str, Any], tmp: Path, codes: list[int]) -> tuple[int, list[str], list[str]]:
    """Run a step's script as GitHub does (bash -eo pipefail) with a fake `reconcile` and
    `sleep` that answer `codes` in turn; return its exit code, the calls and the sleeps."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "reconcile").write_text(FAKE_RECONCILE)
    (bin_dir / "sleep").write_text('#!/bin/sh\necho "$1" >> "$SLEEPS"\n')
    for tool in ("reconcile", "sleep"):
        (bin_dir / tool).chmod(0o755)
    (tmp / "codes").write_text("".join(f"{code}\n" for code in codes))
    for name in ("calls", "sleeps"):
        (tmp / name).write_text("")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(tmp / "calls"),
        "CODES": str(tmp / "codes"),
        "SLEEPS": str(tmp / "sleeps"),
        "GITHUB_RUN_ID": "4242",
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
        **{key: "x" for key in step.get("env", {})},
    }
    assert step["shell"] == "bash"
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    calls = (tmp / "calls").read_text().splitlines()
    return done.returncode, calls, (tmp / "sleeps").read_text().split()


@pytest.mark.parametrize("where", ["ours", "scaffolded"])
@pytest.mark.parametrize(
    ("codes", "expected_code", "expected_calls", "expected_sleeps"),
    [
        ([0], 0, 1, []),
        ([75, 75, 0], 0, 3, ["15", "30"]),
        ([75, 3], 3, 2, ["15"]),
        ([75, 75, 75, 75, 75], 75, 4, ["15", "30", "60"]),
        ([1, 0], 1, 1, []),
        ([3], 3, 1, []),
        ([70], 70, 1, []),
    ],
    ids=[
        "ok",
        "retried-then-ok",
        "retried-then-rejected",
        "gives-up",
        "refused",
        "rejected",
        "crash",
    ],
)
def test_every_reconcile_step_retries_exit_75_with_backoff_and_keeps_other_codes(
    where: str,
    codes: list[int],
    expected_code: int,
    expected_calls: int,
    expected_sleeps: list[str],
    scaffolded: Path,
    tmp_path: Path,
) -> None:
    found = reconcile_steps(WORKFLOW_DIR if where == "ours" else scaffolded)
    assert [name for name, _ in found] == list(NAMES)
    for index, (name, step) in enumerate(found):
        tmp = tmp_path / str(index)
        tmp.mkdir()
        code, calls, sleeps = run_step(step, tmp, codes)
        assert (code, len(calls), sleeps) == (expected_code, expected_calls, expected_sleeps), name
        assert len(set(calls)) == 1, name  # every attempt is the same command


@pytest.mark.parametrize(
    ("status", "calls", "sleeps"),
    [("deferred", 1, []), ("failed", 4, ["15", "30", "60"])],
)
def test_the_dispatch_step_retries_a_busy_lock_but_not_a_deferral(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, status: str, calls: int, sleeps: list[str]
) -> None:
    # A deferral (a cooldown, a freeze, an upstream's soak) exits 75 too: the step retried it
    # after 15, 30 and 60 s, which never clears a guard, then failed the run all the same.
    (dispatch,) = [
        step
        for step in steps(workflows["rollout-dispatch.yml"])
        if "reconcile dispatch" in step.get("run", "")
    ]
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "reconcile").write_text(
        "#!/bin/sh\necho call >> calls\n"
        f'printf \'{{"status": "{status}"}}\' > dispatch-result.json\nexit 75\n'
    )
    (fake / "sleep").write_text('#!/bin/sh\necho "$1" >> sleeps\n')
    for name in ("reconcile", "sleep"):
        (fake / name).chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", dispatch["run"]],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": f"{fake}:{os.environ['PATH']}", "GITHUB_RUN_ID": "1"},
    )  # fmt: skip
    assert done.returncode == 75
    assert len((tmp_path / "calls").read_text().splitlines()) == calls
    found = (tmp_path / "sleeps").read_text().split() if (tmp_path / "sleeps").exists() else []
    assert found == sleeps
