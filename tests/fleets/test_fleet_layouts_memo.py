"""Resolving the fleets twice in one process reuses the first result until a folder changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.inputs import layouts
from tests.support.fleets import fleet_path, make_fleets_repo


def ids(repo: Path) -> list[str]:
    return [layout.fleet.id for layout in layouts.resolve_layouts(str(repo))]


def test_a_fleet_added_removed_or_made_ambiguous_is_seen_at_once(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    assert ids(repo) == ["prod-eu", "staging"]
    assert ids(repo) == ["prod-eu", "staging"]  # memoised
    shutil.copytree(repo / "policies/fleets/staging", repo / "policies/fleets/prod-us")
    assert ids(repo) == ["prod-eu", "prod-us", "staging"]
    shutil.rmtree(repo / "policies/fleets/prod-eu")
    assert ids(repo) == ["prod-us", "staging"]
    (repo / fleet_path("staging", "registry.json")).write_text("{}\n")
    with pytest.raises(RefusalError) as caught:
        ids(repo)
    assert caught.value.reason == "layout_ambiguous"
    (repo / fleet_path("staging", "registry.json")).unlink()
    (repo / "reconciler.yaml").write_text("fleets:\n  staging:\n    after: nowhere\n")
    held = {layout.fleet.id: layout.held for layout in layouts.resolve_layouts(str(repo))}
    assert held["prod-us"] is None
    assert held["staging"] is not None and held["staging"].reason == "fleets_invalid"
    (repo / "reconciler.yaml").write_text("fleets:\n  staging:\n    root: /abs\n")
    with pytest.raises(RefusalError) as caught:
        ids(repo)
    assert caught.value.reason == "fleets_invalid"


def test_a_state_folder_swapped_for_a_symlink_out_of_the_repository_is_refused(
    tmp_path: Path,
) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    assert ids(repo) == ["prod-eu", "staging"]
    outside = tmp_path / "outside"
    outside.mkdir()
    state = repo / fleet_path("staging", "state")
    if state.exists():
        shutil.rmtree(state)
    state.symlink_to(outside)
    with pytest.raises(RefusalError) as caught:
        ids(repo)
    assert caught.value.reason == "layout_path_outside_repo"
