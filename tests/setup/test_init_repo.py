"""`reconcile init`'s scaffolding in-process: the settings it writes, and no file left behind.

The command itself, never overwriting anything, runs as a real process in tests/e2e/test_init.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from reconciler.core import yamltext
from reconciler.core.errors import RefusalError
from reconciler.core.repo_settings import parse_repo_settings
from reconciler.setup import init_repo

INSTALL = ("--install", "git+https://git.example.com/platform/rollout-reconciler@v0.1.0")
"""Where the scaffolded workflows install from: this checkout has no default (see
tests/commands/test_init.py)."""


def test_init_writes_default_settings_and_only_valid_keys_even_when_uncommented(
    tmp_path: Path,
) -> None:
    init_repo.scaffold_repo(str(tmp_path), install=INSTALL[1])
    text = (tmp_path / "reconciler.yaml").read_text(encoding="utf-8")
    settings = parse_repo_settings(yamltext.load_yaml(text), "reconciler.yaml")
    assert settings.max_decision_age == "24h"
    assert settings.lock_timeout == "30s"
    assert dict(settings.integers) == {"telemetryRotateBytes": 262144, "pushAttempts": 5}
    assert dict(settings.strings) == {
        "botName": "rollout-reconciler",
        "botEmail": "reconciler@localhost",
        "remote": "origin",
        "branch": "main",
    }
    assert settings.paths == {}
    uncommented = re.sub(r"(?m)^# (\w+: )", r"\1", text)
    everything = parse_repo_settings(yamltext.load_yaml(uncommented), "reconciler.yaml")
    assert everything.paths["registryFile"] == "policies/registry.yaml"
    assert everything.strings["intentsDir"] == "policies/intents"
    assert everything.integers["pushAttempts"] == 5


def test_a_failed_write_removes_the_files_this_run_created(tmp_path: Path) -> None:
    # "a" is created first, so "a/b" cannot be: the run fails half-way and cleans up after itself.
    with pytest.raises(RefusalError, match="cannot create"):
        init_repo.scaffold_repo(str(tmp_path), {"a": b"1", "a/b": b"2"})
    assert os.listdir(tmp_path) == []
