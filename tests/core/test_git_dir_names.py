"""Which path components git takes for `.git` (issue 9: no managed path may lie there)."""

from __future__ import annotations

import pytest

from reconciler.core.repo_settings import git_dir_component, is_git_dir_name


@pytest.mark.parametrize(
    "name",
    [".git", ".GIT", ".Git", ".git.", ".git ", ".git. .", "git~1", "GIT~1", ".g\u200cit",
     ".gi\ufefft", ".git::$INDEX_ALLOCATION"],
    ids=["plain", "upper", "mixed", "dot", "space", "dots-spaces", "ntfs-short", "ntfs-upper",
         "hfs-zwnj", "hfs-bom", "ntfs-stream"],
)  # fmt: skip
def test_every_spelling_git_treats_as_its_folder_is_recognised(name: str) -> None:
    assert is_git_dir_name(name)


@pytest.mark.parametrize(
    "name", [".gitignore", ".github", "git", "x.git", ".git2", "..git", "git~2", ""]
)
def test_ordinary_names_are_not_the_git_folder(name: str) -> None:
    assert not is_git_dir_name(name)


@pytest.mark.parametrize(
    ("path", "found"),
    [
        (".git/x.json", ".git"),
        ("policies/.GIT/state.json", ".GIT"),
        ("policies/sub/.git", ".git"),
        ("policies/state/promotion-apply-state.json", None),
        ("policies/.github/x", None),
    ],
)
def test_the_first_git_component_of_a_relative_path_is_named(path: str, found: str | None) -> None:
    assert git_dir_component(path) == found
