"""`reconcile init --install SPEC`: the install line of the scaffolded workflows.

In-process (CliRunner). The default is where this reconciler was installed from (PEP 610);
from this editable source checkout there is none, so `--install` is required.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.adapters import distribution
from reconciler.cli import cli
from reconciler.core import yamltext
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
