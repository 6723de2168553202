"""Test isolation: no test may read the developer's git config, home or trace-id variables."""

from __future__ import annotations

import compileall
import os
from pathlib import Path

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the package's bytecode once, before any test starts `python -m reconciler`.

    The subprocess tests start the CLI hundreds of times. Where PYTHONDONTWRITEBYTECODE is
    set (this workplace sets it), an editable checkout without cached bytecode recompiles
    every module it imports at each start: ~50 ms a process. Bytecode that exists is still
    read, so compiling it once here makes every later start cheaper (idempotent per worker).
    """
    compileall.compile_dir(Path(__file__).parents[1] / "reconciler", quiet=1)


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(("GIT_", "RECONCILER_")) or name == "OPS_MANAGER_TRACE_ID":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("LC_ALL", "C")
    for key, value in {
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository folder with the bash tool's layout: REG(25, false) and PSTATE(promote)."""
    from tests.support import fleet

    path = tmp_path / "repo"
    fleet.write_registry(path, canary=25, manual=False)
    fleet.write_decision(path, "promote")
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slow tests first, so no worker is left alone with one at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
