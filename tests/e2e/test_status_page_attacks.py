"""Security review (wt-attack3) of the status page: reproductions of real defects.

Each test asserts the SAFE behaviour, so it FAILS today and passes once fixed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.support import daemons as d


def _surrogate_decision(repo: Path) -> None:
    # A JSON `\ud800` escape: valid JSON, and json.loads gives a lone surrogate.
    path = repo / "policies/promotion/decision.json"
    doc = json.loads(path.read_text())
    doc["traceId"] = "gates-\ud800"
    path.write_text(json.dumps(doc))  # ensure_ascii: the file holds the text `\ud800`
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "decision"], check=True)


def test_a_lone_surrogate_in_the_decision_does_not_break_the_page(tmp_path: Path) -> None:
    """decision.json `"traceId": "\\ud800"` -> `_publish_page` raises UnicodeEncodeError
    (runner.py `.encode("utf-8")`), uncaught: `/` and `/api/status` stay 503 forever (or
    frozen on an old snapshot), `daemon.error` every second, and the scheduler's error
    path fires "retry": a pass every BACKOFF_BASE (1 s) whatever `--interval` says."""
    repo = d.make_watched_repo(tmp_path / "repo")
    _surrogate_decision(repo)
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args(interval="1h"))
    with d.watchers(watcher):
        watcher.start(ready=True)
        time.sleep(5)
        code, _ = watcher.get("/")
        counts = Counter(e["event"] for e in watcher.all_events())
        watcher.stop()
    assert counts["daemon.error"] == 0, counts
    assert counts["pass.start"] <= 2, counts  # --interval 1h: one pass, not one a second
    assert code == 200


def test_status_html_survives_a_lone_surrogate(tmp_path: Path) -> None:
    """`reconcile status --html` crashes with exit 70 (UnicodeEncodeError)."""
    repo = d.make_watched_repo(tmp_path / "repo")
    _surrogate_decision(repo)
    out = tmp_path / "page.html"
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "status", "--repo", str(repo), "--html", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.exists()
