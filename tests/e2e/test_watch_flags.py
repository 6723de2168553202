"""`reconcile --watch` refuses unusable flags and settings at start (usage error, exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--resync", "0s"),
        ("--interval", "0"),
        ("--debounce", "0ms"),
        ("--resync", "200000d"),
        ("--shutdown-timeout", "0s"),
    ],
)
def test_durations_outside_their_range_are_refused(flag: str, value: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--watch", "--repo", str(tmp_path), flag, value],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr


@pytest.mark.parametrize("token", ["", "   \n", "pässwörd"])
def test_an_unusable_webhook_token_is_refused_at_start(token: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--watch", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**__import__("os").environ, "RECONCILER_WEBHOOK_TOKEN": token},
    )
    assert done.returncode == 2, done.stderr
    assert "RECONCILER_WEBHOOK_TOKEN" in done.stderr


def test_once_only_flags_are_refused_without_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--dry-run", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "only with --once" in done.stderr
