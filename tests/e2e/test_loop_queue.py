"""`reconcile --once` as two real processes at once on one repository: the queue applies each
intent exactly once (the in-process queue tests: tests/loop/test_queue.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import gitrepos as g


def test_two_processes_at_once_apply_each_intent_once(tmp_path: Path) -> None:
    fresh = datetime.now(UTC) - timedelta(minutes=1)
    # Five expands on one decision: pacing off.
    repo = g.make_policy_repo(tmp_path / "repo", generated_at=fresh, paced=False)
    g.add_intents(repo, {f"{n}.yaml": {"step": 1} for n in range(5)})
    command = [sys.executable, "-m", "reconciler", "--once", "--repo", str(repo), "--json"]
    env = {**os.environ, "PYTHONPATH": str(g.ROOT)}
    runs = [
        subprocess.Popen(command, cwd=g.ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0]
    applied = sum(g.json_lines(out)[-1]["applied"] for out in outputs)
    assert applied == 5
    assert g.canary(repo) == 30
    assert len(g.bot_commits(repo)) == 5
    assert g.status(repo) == ""
