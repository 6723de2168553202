"""`python -m reconciler` as a real process runs the same CLI (in-process: tests/test_cli.py)."""

from __future__ import annotations

import subprocess
import sys

from reconciler import __version__


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"reconcile, version {__version__}"
