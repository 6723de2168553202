"""Repositories of hand-made reconcile commits, one a day, for the `history` tests.

Shared by tests/reports/test_history.py (`read_history` in-process) and tests/e2e/test_history.py
(the command as a real process).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BOT_NAME, BOT_EMAIL = "rollout-reconciler", "reconciler@localhost"


JSON_KEYS = [
    "commit", "time", "author", "committer", "verification", "subject", "status", "action",
    "intentFile", "idempotencyKey", "traceId", "decision", "decisionTraceId", "actor",
    "approvalRef", "canary", "manualPause", "reasonCodes", "intentCommit", "fleet",
]  # fmt: skip


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit(repo: Path, message: str, day: int, *, bot: bool = True) -> str:
    """Commit `message` (exactly, via -F) dated 2026-11-<day> 09:30 UTC; return its SHA."""
    when = f"2026-11-{day:02d}T09:30:00+00:00"
    env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    if bot:
        env.update(GIT_COMMITTER_NAME=BOT_NAME, GIT_COMMITTER_EMAIL=BOT_EMAIL)
    path = repo.parent / "message.txt"
    path.write_text(message, encoding="utf-8")
    git(repo, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", str(path), env=env)
    return git(repo, "rev-parse", "HEAD")


def applied_message(
    n: int, *, actor: str = "alice", action: str = "expand", status: str = "applied"
) -> str:
    return (
        f"expand fleet-a canary 25% -> 50% (CAB-{n})\n"
        "\n"
        "gates green for 7 days\n"
        "\n"
        f"Reconcile-Intent: policies/intents/20261124T0930Z-expand-cab-{n}.yaml\n"
        f"Reconcile-Status: {status}\n"
        f"Reconcile-Action: {action}\n"
        f"Idempotency-Key: cab-{n}-expand\n"
        f"Trace-Id: trace-{n}\n"
        "Decision: promote\n"
        "Decision-Trace-Id: gates-2026-11-24-0600\n"
        f"Actor: {actor}\n"
        f"Approval-Ref: CAB-{n}\n"
        "Canary: 25 -> 50\n"
        "Manual-Pause: true -> false\n"
        f"Intent-Commit: {n:040x}\n"
    )


REJECTED = (
    "reject 20261124T0930Z-expand: decision hold\n"
    "\n"
    "gates red\n"
    "- the decision is hold, not promote\n"
    "\n"
    "Reconcile-Intent: policies/intents/20261124T0930Z-expand.yaml\n"
    "Reconcile-Status: rejected\n"
    "Reconcile-Action: expand\n"
    "Idempotency-Key: 20261124T0930Z-expand\n"
    "Trace-Id: blob-1\n"
    "Decision: hold\n"
    "Actor: bob\n"
    "Approval-Ref: CAB-9\n"
    "Canary: 50 -> 50\n"
    "Manual-Pause: false -> false\n"
    "Reason-Codes: promotion_decision_not_promote, intent_review_by_past\n"
)


def make_history_repo(tmp_path: Path) -> dict[str, str]:
    """A repository: operator commits and reconcile commits, one a day from 2026-11-01."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    shas = {"repo": str(repo)}
    shas["setup"] = commit(repo, "operator: add the registry\n", 1, bot=False)
    shas["one"] = commit(repo, applied_message(1), 2)
    # Not a reconcile commit: the status line is in its body, not in its trailers.
    shas["mention"] = commit(repo, "docs\n\nReconcile-Status: applied\n\nexplained above\n", 3)
    shas["rejected"] = commit(repo, REJECTED, 4)
    shas["plain"] = commit(repo, "operator: add an intent\n", 5, bot=False)
    shas["two"] = commit(repo, applied_message(2, actor="carol"), 6)
    shas["replay"] = commit(repo, applied_message(2, actor="carol", status="replayed"), 7)
    return shas
