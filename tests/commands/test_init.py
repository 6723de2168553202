"""`reconcile init --install SPEC` and `--fleets IDS`: the install line, the fleets' tree.

In-process (CliRunner). The default is where this reconciler was installed from (PEP 610);
from this editable source checkout there is none, so `--install` is required.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from reconciler.adapters import distribution
from reconciler.cli import cli
from reconciler.core import yamltext
from reconciler.setup import init_repo
from tests.core.test_install_spec import COMMIT, HOSTILE

WORKFLOWS = ("reconcile.yml", "plan.yml", "rollout-dispatch.yml")
SPEC = "git+https://git.example.com/platform/rollout-reconciler@v0.1.0"


def init(*argv: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["init", *argv], env=env, catch_exceptions=False)


def install_lines(root: Path) -> list[str]:
    """The `pip install` script of every scaffolded workflow, read as YAML."""
    found = []
    for name in WORKFLOWS:
        doc: Any = yamltext.load_yaml((root / ".github" / "workflows" / name).read_text())
        runs = [step.get("run", "") for job in doc["jobs"].values() for step in job["steps"]]
        found += [run for run in runs if "pip install" in run]
    return found


def fake_origin(monkeypatch: pytest.MonkeyPatch, origin: distribution.Origin) -> None:
    monkeypatch.setattr(distribution, "installed_origin", lambda _name: origin)


def test_the_given_spec_is_the_install_line_of_every_workflow(tmp_path: Path) -> None:
    result = init(str(tmp_path / "repo"), "--install", SPEC)

    assert result.exit_code == 0, result.output
    assert install_lines(tmp_path / "repo") == [f"python -m pip install {SPEC}"] * 3
    assert f"the workflows install the reconciler with: python -m pip install {SPEC}\n" in (
        result.stderr
    )


def test_the_spec_may_come_from_the_environment(tmp_path: Path) -> None:
    env = {"RECONCILER_INIT_INSTALL": "rollout-reconciler==0.1.0"}
    result = init(str(tmp_path / "repo"), env=env)

    assert result.exit_code == 0, result.output
    assert (
        install_lines(tmp_path / "repo") == ["python -m pip install rollout-reconciler==0.1.0"] * 3
    )


def test_without_install_a_source_checkout_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `make` installs: an editable checkout (pip's PEP 610 record, as the adapter reads it).
    url = "file:///work/rollout-reconciler"
    doc = {"url": url, "dir_info": {"editable": True}}
    fake_origin(monkeypatch, distribution.Origin(True, doc, f"the editable checkout {url}"))

    result = init(str(tmp_path / "repo"))

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: cannot tell where a CI runner can install rollout-")
    assert f"(this one runs from the editable checkout {url})" in lines[0]
    assert lines[1] == f" - --install {SPEC}  (a tag of your copy of its git repository)"
    assert lines[-1] == "reason: install_spec_unknown"
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("spec", HOSTILE, ids=[repr(spec)[:30] for spec in HOSTILE])
def test_a_hostile_spec_is_refused_before_anything_is_written(tmp_path: Path, spec: str) -> None:
    result = init(str(tmp_path / "repo"), "--install", spec)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: --install must be one pip requirement or URL")
    assert result.stderr.splitlines()[-1] == "reason: install_spec_invalid"
    assert not (tmp_path / "repo").exists()


def test_a_reconciler_installed_from_git_defaults_to_that_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://git.example.com/platform/rollout-reconciler.git"
    doc = {"url": url, "vcs_info": {"vcs": "git", "commit_id": COMMIT}}
    fake_origin(monkeypatch, distribution.Origin(True, doc, url))

    result = init(str(tmp_path / "repo"))

    assert result.exit_code == 0, result.output
    assert install_lines(tmp_path / "repo") == [f"python -m pip install git+{url}@{COMMIT}"] * 3


def test_a_reconciler_installed_from_an_index_defaults_to_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler import __version__

    fake_origin(monkeypatch, distribution.Origin(True, None, "a package index"))

    result = init(str(tmp_path / "repo"))

    assert result.exit_code == 0, result.output
    expected = f"python -m pip install rollout-reconciler=={__version__}"
    assert install_lines(tmp_path / "repo") == [expected] * 3


def fake_distribution(site: Path, name: str, direct_url: str | None) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(direct_url)


def test_the_adapter_reads_the_pep610_record_of_an_installed_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_distribution(
        tmp_path, "fake-editable", '{"url": "file:///src", "dir_info": {"editable": true}}'
    )
    fake_distribution(tmp_path, "fake-indexed", None)
    fake_distribution(tmp_path, "fake-broken", "{not json")
    monkeypatch.syspath_prepend(str(tmp_path))

    editable = distribution.installed_origin("fake-editable")
    assert editable == distribution.Origin(
        True,
        {"url": "file:///src", "dir_info": {"editable": True}},
        "the editable checkout file:///src",
    )
    assert distribution.installed_origin("fake-indexed") == (True, None, "a package index")
    assert not distribution.installed_origin("fake-broken").installed
    assert not distribution.installed_origin("no-such-distribution-xyz").installed


def test_init_writes_codeowners_for_the_owned_paths_and_the_access_files(tmp_path: Path) -> None:
    result = init(str(tmp_path / "repo"), "--install", SPEC)
    assert result.exit_code == 0, result.output
    owners = {}
    for line in (tmp_path / "repo" / ".github" / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, owner = line.split()
            owners[pattern] = owner
    for path in ("/policies/registry.yaml", "/policies/state/", "/policies/telemetry/",
                 "/policies/intents/applied/", "/policies/intents/rejected/",
                 "/policies/access/", "/reconciler.yaml"):  # fmt: skip
        assert owners[path] == "@your-org/rollout-admins"
    # The last matching pattern wins: applied/ and rejected/ come after the intents folder.
    order = list(owners)
    assert order.index("/policies/intents/") < order.index("/policies/intents/applied/")
    # The settings it writes hold trust: commented out, and still parse.
    settings = (tmp_path / "repo" / "reconciler.yaml").read_text()
    assert "# trust:\n#   allowedSigners: policies/access/allowed_signers" in settings


FLEETS = ("staging", "prod-eu", "prod-us")
FLEET_FILES = (
    "registry.yaml",
    "promotion/decision.json",
    ".gitignore",
    "intents/.gitkeep",
    "intents/applied/.gitkeep",
    "intents/rejected/.gitkeep",
)
SHARED = (
    ".github/CODEOWNERS",
    ".github/workflows/reconcile.yml",
    ".github/workflows/plan.yml",
    ".github/workflows/rollout-dispatch.yml",
)
REPO_ROOT = Path(__file__).resolve().parents[2]


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_fleets_scaffold_one_folder_per_fleet_and_no_single_fleet_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = init(str(repo), "--install", SPEC, "--fleets", ",".join(FLEETS))

    assert result.exit_code == 0, result.output
    expected = [
        "reconciler.yaml",
        *(f"policies/fleets/{fleet}/{name}" for fleet in FLEETS for name in FLEET_FILES),
        *SHARED,
    ]
    assert result.stdout.splitlines() == [str(repo / rel) for rel in expected]
    files = tree(repo)
    assert sorted(files) == sorted(expected)
    example = REPO_ROOT / "policies"
    for fleet in FLEETS:
        folder = f"policies/fleets/{fleet}"
        for name in ("promotion/decision.json", ".gitignore"):
            assert files[f"{folder}/{name}"] == (example / name).read_bytes()
        registry: Any = yamltext.load_yaml(files[f"{folder}/registry.yaml"].decode())
        assert registry["fleetId"] == fleet
    assert install_lines(repo) == [f"python -m pip install {SPEC}"] * 3


def test_fleets_are_chained_in_the_order_given_in_reconciler_yaml(tmp_path: Path) -> None:
    result = init(str(tmp_path / "repo"), "--install", SPEC, "--fleets", "prod-us,prod-eu,staging")

    assert result.exit_code == 0, result.output
    settings = yaml.safe_load((tmp_path / "repo" / "reconciler.yaml").read_text())
    requires = {"minCanary": 100, "soak": "24h"}
    assert settings["fleets"] == {
        "prod-us": {},
        "prod-eu": {"after": "prod-us", "requires": requires},
        "staging": {"after": "prod-eu", "requires": requires},
    }
    assert list(settings["fleets"]) == ["prod-us", "prod-eu", "staging"]
    # The rest of the settings are the single-fleet ones.
    assert settings["maxDecisionAge"] == "24h"
    assert settings["guards"]["freezeFile"] == "policies/freeze.yaml"


def test_each_fleet_registry_keeps_every_comment_of_the_example(tmp_path: Path) -> None:
    result = init(str(tmp_path / "repo"), "--install", SPEC, "--fleets", "staging,prod-eu")

    assert result.exit_code == 0, result.output
    example = (REPO_ROOT / "policies" / "registry.yaml").read_text()
    assert "fleetId: fleet-a\n" in example
    for fleet in ("staging", "prod-eu"):
        written = (tmp_path / "repo" / "policies" / "fleets" / fleet / "registry.yaml").read_text()
        assert written == example.replace("fleetId: fleet-a\n", f"fleetId: {fleet}\n")
        assert "# true stops autonomous actions fleet-wide" in written


def test_the_next_steps_name_the_fleet_folders_validate_and_status(tmp_path: Path) -> None:
    repo = str(tmp_path / "my repo")
    result = init(repo, "--install", SPEC, "--fleets", "staging,prod")

    assert result.exit_code == 0, result.output
    assert "edit each policies/fleets/<id>/registry.yaml" in result.stderr
    assert "(staging > prod)" in result.stderr
    assert f"reconcile validate --repo '{repo}'\n" in result.stderr
    assert f"reconcile status --repo '{repo}'\n" in result.stderr
    assert "edit policies/registry.yaml" not in result.stderr


def test_fleets_with_json_list_what_was_created(tmp_path: Path) -> None:
    result = init(str(tmp_path / "repo"), "--install", SPEC, "--fleets", "a", "--json")

    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)["created"]
    assert str(tmp_path / "repo" / "policies" / "fleets" / "a" / "registry.yaml") in created
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("fleets", "message"),
    [
        ("staging,,prod", "error: --fleets: item 2 of 'staging,,prod' is empty; list fleet ids"),
        ("", "error: --fleets: item 1 of '' is empty; list fleet ids"),
        ("staging,prod,staging", "error: --fleets: fleet 'staging' is listed twice"),
        ("staging,../prod", "error: --fleets: '../prod' is not a fleet id (a letter or digit"),
        ("staging,.", "error: --fleets: '.' is not a fleet id"),
        ("prod eu", "error: --fleets: 'prod eu' is not a fleet id"),
        ("a" * 64, f"error: --fleets: '{'a' * 64}' is not a fleet id"),
    ],
)
def test_bad_or_repeated_fleet_ids_are_refused_and_nothing_is_written(
    tmp_path: Path, fleets: str, message: str
) -> None:
    result = init(str(tmp_path / "repo"), "--install", SPEC, "--fleets", fleets)

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(message)
    assert result.stderr.splitlines()[1:] == ["reason: fleets_invalid"]
    assert not (tmp_path / "repo").exists()


def test_bad_fleets_are_refused_even_before_an_unknown_install_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_origin(monkeypatch, distribution.Origin(False, None, "nowhere"))

    result = init(str(tmp_path / "repo"), "--fleets", "a,a")

    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "reason: fleets_invalid"
    assert not (tmp_path / "repo").exists()


def test_fleets_never_overwrite_an_existing_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    mine = repo / "policies" / "fleets" / "prod" / "registry.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text("fleetId: mine\n")
    (repo / "reconciler.yaml").write_text("maxDecisionAge: 1h\n")

    result = init(str(repo), "--install", SPEC, "--fleets", "staging,prod")

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: refusing to scaffold into {repo}: 2 path(s) already exist")
    assert lines[1:] == [
        " - reconciler.yaml",
        " - policies/fleets/prod/registry.yaml",
        "reason: scaffold_exists",
    ]
    assert tree(repo) == {
        "policies/fleets/prod/registry.yaml": b"fleetId: mine\n",
        "reconciler.yaml": b"maxDecisionAge: 1h\n",
    }


def test_a_second_init_with_fleets_writes_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert init(str(repo), "--install", SPEC, "--fleets", "staging,prod").exit_code == 0
    before = tree(repo)

    result = init(str(repo), "--install", SPEC, "--fleets", "staging,prod,extra")

    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "reason: scaffold_exists"
    assert tree(repo) == before


def test_without_fleets_the_output_is_byte_for_byte_the_single_fleet_scaffold(
    tmp_path: Path,
) -> None:
    result = init(str(tmp_path / "repo"), "--install", SPEC)

    assert result.exit_code == 0, result.output
    files = tree(tmp_path / "repo")
    assert not any(rel.startswith("policies/fleets") for rel in files)
    assert "fleets:" not in files["reconciler.yaml"].decode()
    assert files["reconciler.yaml"] == init_repo.SETTINGS_TEXT.encode()
    assert files[".github/CODEOWNERS"] == init_repo.CODEOWNERS_TEXT.encode()
    for name in WORKFLOWS:
        ours = (REPO_ROOT / ".github" / "workflows" / name).read_text()
        release = ours.replace("python -m pip install .\n", f"python -m pip install {SPEC}\n")
        assert files[f".github/workflows/{name}"] == release.encode()
    assert "1. edit policies/registry.yaml (fleetId, loops, policy)" in result.stderr


def test_init_help_explains_fleets() -> None:
    result = CliRunner().invoke(cli, ["init", "--help"])

    assert result.exit_code == 0
    assert "--fleets IDS" in result.output
    assert "reconcile init --fleets staging,prod-eu,prod-us" in result.output
    assert "fleets_invalid" in result.output
