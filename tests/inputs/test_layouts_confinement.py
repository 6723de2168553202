"""Issue 9: paths from reconciler.yaml and the built-in layout stay in the repository.

Explicit path flags stay the caller's choice (as with the bash tool); everything else must
resolve inside the repository and outside its `.git` folder, for every command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.inputs.fleet import PathFlags
from reconciler.reports import validation
from tests.support import fleet
from tests.support.applying import apply
from tests.support.fleet import FIXED_NOW, SUPERLOOP

PROFILE_TEXT = "export PATH=$HOME/bin:$PATH\n"


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    home = tmp_path / "outside"
    home.mkdir()
    path = home / ".profile"
    path.write_text(PROFILE_TEXT)
    return path


def refused_everywhere(repo: Path) -> RefusalError:
    """Refused by apply (expand and rollback) and by validate, with one code."""
    errors = []
    for intent in ("expand", "rollback"):
        with pytest.raises(RefusalError) as caught:
            apply(repo, intent)
        errors.append(caught.value)
    with pytest.raises(RefusalError) as caught:
        validation.validate_repo(str(repo), PathFlags(), now=lambda: FIXED_NOW)
    errors.append(caught.value)
    assert len({error.reason for error in errors}) == 1
    assert not (repo / SUPERLOOP / "promotion-apply-state.json").exists()
    return errors[0]


@pytest.mark.parametrize(
    "setting",
    ["../outside/.profile", "policies/../../outside/.profile", "{profile}", "link/.profile"],
    ids=["dotdot", "dotdot-inside-first", "absolute", "symlinked-folder"],
)
def test_a_settings_path_out_of_the_repository_is_refused_and_nothing_is_written(
    repo: Path, profile: Path, setting: str
) -> None:
    (repo / "link").symlink_to(profile.parent)
    (repo / "reconciler.yaml").write_text(
        f"applyTelemetryFile: {setting.format(profile=profile)}\n"
    )

    error = refused_everywhere(repo)

    assert error.reason == "layout_path_outside_repo"
    assert "--apply-telemetry-file" in error.message
    assert profile.read_text() == PROFILE_TEXT


def test_a_built_in_folder_symlinked_out_of_the_repository_is_refused(
    repo: Path, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (repo / SUPERLOOP / "telemetry").symlink_to(host)

    error = refused_everywhere(repo)

    assert error.reason == "layout_path_outside_repo"
    assert "resolves through a symlink" in error.message
    assert list(host.iterdir()) == []


def test_an_explicit_flag_outside_the_repository_is_the_callers_choice(
    repo: Path, tmp_path: Path
) -> None:
    # Even where reconciler.yaml names a path that would be refused: the flag replaces it.
    (repo / "reconciler.yaml").write_text("applyTelemetryFile: ../elsewhere.jsonl\n")
    outside = tmp_path / "shared" / "telemetry.jsonl"

    record = apply(repo, "expand", paths={"applyTelemetryFile": str(outside)}).record

    assert record["files"]["applyTelemetryFile"] == str(outside)
    lines = [json.loads(line) for line in outside.read_text().splitlines()]
    assert [line["status"] for line in lines] == ["applied"]


@pytest.mark.parametrize(
    ("key", "setting"),
    [
        ("applyStateFile", ".git/x.json"),
        ("applyStateFile", ".GIT/x.json"),
        ("applyStateFile", "policies/../.git/x.json"),
        ("applyStateFile", "gitlink/x.json"),
        ("applyTelemetryFile", ".git/hooks/post-commit"),
        ("registryFile", "policies/.git/registry.yaml"),
        ("intentsDir", ".git/queue"),
    ],
    ids=["plain", "upper-case", "dotdot", "through-a-symlink", "hook", "nested", "intents"],
)
def test_a_managed_path_inside_a_git_folder_is_refused_up_front(
    repo: Path, key: str, setting: str
) -> None:
    (repo / ".git" / "hooks").mkdir(parents=True)
    (repo / "gitlink").symlink_to(".git")
    (repo / "reconciler.yaml").write_text(f"{key}: {setting}\n")

    error = refused_everywhere(repo)

    assert error.reason == "layout_path_in_git_dir"
    assert list((repo / ".git").rglob("*")) == [repo / ".git" / "hooks"]


def test_paths_inside_the_repository_are_accepted_even_through_an_inner_symlink(
    repo: Path,
) -> None:
    # `apply` may write through a folder that stays in the repository (the loop refuses
    # any symlink, `validate` lists it).
    (repo / "real-state").mkdir()
    (repo / "state").symlink_to("real-state")
    (repo / "reconciler.yaml").write_text("applyStateFile: state/s.json\n")

    apply(repo, "expand")
    report = validation.validate_repo(str(repo), PathFlags(), now=lambda: FIXED_NOW)

    assert (repo / "real-state" / "s.json").exists()
    assert report["paths"]["reasonCode"] == "path_symlink"
    assert report["paths"]["problems"] == ["state is a symlink"]
    assert not report["ok"]


def test_validate_only_warns_about_a_symlinked_decision_which_apply_follows(
    repo: Path, tmp_path: Path
) -> None:
    target = fleet.write_decision(repo, "promote", path=tmp_path / "gates" / "decision.json")
    decision = repo / SUPERLOOP / "promotion-state.json"
    decision.unlink()
    decision.symlink_to(target)

    report = validation.validate_repo(str(repo), PathFlags(), now=lambda: FIXED_NOW)

    assert report["ok"], report
    assert any("is a symlink" in warning for warning in report["warnings"])
    assert os.path.islink(decision)


def test_a_built_in_intents_folder_linked_out_of_the_repository_is_refused(
    repo: Path, tmp_path: Path
) -> None:
    from reconciler.loop import intent_files

    host = tmp_path / "host"
    host.mkdir()
    (repo / SUPERLOOP / "intents").symlink_to(host)

    error = refused_everywhere(repo)
    with pytest.raises(RefusalError) as caught:
        intent_files.intents_folder(str(repo))

    assert error.reason == caught.value.reason == "layout_path_outside_repo"
    assert error.message.startswith("intentsDir '.superloop/ops-manager/fleet/intents' (built-in)")
    assert list(host.iterdir()) == []
