"""Layout resolution: flags, then reconciler.yaml, then the built-in layouts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.inputs import layouts
from tests.support import fleet
from tests.support.applying import path_flags


def resolve(repo: Path, **flags: str) -> layouts.Layout:
    return layouts.resolve_layout(str(repo), path_flags(flags))


def test_an_empty_repo_uses_the_policies_layout(tmp_path: Path) -> None:
    layout = resolve(tmp_path)
    assert layout.name == "policies"
    assert layout.fleet.files_block() == {
        "registryFile": str(tmp_path / "policies" / "registry.yaml"),
        "promotionStateFile": str(tmp_path / "policies" / "promotion" / "decision.json"),
        "applyStateFile": str(tmp_path / "policies" / "state" / "promotion-apply-state.json"),
        "applyTelemetryFile": str(tmp_path / "policies" / "telemetry" / "promotion-apply.jsonl"),
    }
    assert set(layout.sources.values()) == {"built-in"}


def test_the_bash_tools_layout_is_used_when_only_its_registry_exists(tmp_path: Path) -> None:
    fleet.write_registry(tmp_path)
    layout = resolve(tmp_path)
    assert layout.name == "superloop"
    assert layout.fleet.registry == str(tmp_path / fleet.SUPERLOOP / "registry.v1.json")
    assert "bash tool" in layout.reason


def test_a_policies_registry_wins_over_the_bash_layout(tmp_path: Path) -> None:
    fleet.write_registry(tmp_path)
    fleet.write_json(tmp_path / "policies" / "registry.json", fleet.registry_doc())
    layout = resolve(tmp_path)
    assert layout.name == "policies"
    assert layout.fleet.registry == str(tmp_path / "policies" / "registry.json")


def test_both_policies_registries_are_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "registry.json").write_text("{}")
    (tmp_path / "policies" / "registry.yaml").write_text("{}")
    with pytest.raises(RefusalError) as caught:
        resolve(tmp_path)
    assert caught.value.reason == "layout_ambiguous"
    # An explicit choice settles it.
    assert resolve(tmp_path, registryFile="x.yaml").sources["registryFile"] == "flag"


def test_flags_beat_the_settings_file_which_beats_the_built_in(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "registryFile: fleet/registry.json\napplyStateFile: out/state.json\nmaxDecisionAge: 12h\n"
    )
    monkeypatch.chdir(tmp_path / "..")
    layout = resolve(tmp_path, applyStateFile="flagged.json")
    assert layout.fleet.files_block()["registryFile"] == str(tmp_path / "fleet" / "registry.json")
    assert layout.sources["registryFile"] == "reconciler.yaml"
    assert layout.fleet.files_block()["applyStateFile"] == os.path.abspath("flagged.json")
    assert layout.sources["applyStateFile"] == "flag"
    assert layout.sources["applyTelemetryFile"] == "built-in"
    assert layout.settings.max_decision_age == "12h"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("registryFle: x.yaml\n", 'unknown setting "registryFle"'),
        ("registryFile: 5\n", "registryFile must be a non-empty path string"),
        ("maxDecisionAge: soon\n", "maxDecisionAge must be a duration such as 30s, 10m or 24h"),
        ("- a list\n", "the document must be a mapping"),
    ],
    ids=["typo", "wrong-type", "bad-duration", "not-a-mapping"],
)
def test_an_invalid_settings_file_is_refused_with_the_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "reconciler.yaml").write_text(content)
    with pytest.raises(RefusalError) as caught:
        resolve(tmp_path)
    assert caught.value.reason == "settings_invalid"
    assert list(caught.value.details) == [problem]


def test_a_settings_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text("a: [unclosed\n")
    with pytest.raises(RefusalError) as caught:
        resolve(tmp_path)
    assert caught.value.message == f"invalid settings file: {tmp_path / 'reconciler.yaml'}"


def test_the_repo_is_resolved_logically_keeping_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert layouts.resolve_repo(str(tmp_path / "link")) == str(tmp_path / "link")
    with pytest.raises(RefusalError) as caught:
        layouts.resolve_repo(str(tmp_path / "missing"))
    assert caught.value.reason == "repo_not_found"


def test_the_bash_tools_folder_without_any_registry_still_means_its_layout(tmp_path: Path) -> None:
    fleet.write_decision(tmp_path, "promote")  # .superloop/ops-manager/fleet/ exists
    layout = resolve(tmp_path)
    assert layout.name == "superloop"
    assert layout.fleet.registry == str(tmp_path / fleet.SUPERLOOP / "registry.v1.json")
    assert layout.reason.startswith("no registry found")
