"""The forge webhooks against a real `reconcile --watch` process: passes, refusals, the log.

"No pass" is proved without waiting: after the requests that must not start one, a file
change (reason `watch`) is the barrier, and its pass must be exactly `watch`. A webhook
trigger fired before it would have run a pass of its own or joined it (`watch,webhook`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.daemon.webhooks import sign
from tests.support import daemons as d

SECRET = "It's a Secret to Everybody"
MARKER = "BODY-MARKER-7f3a"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return d.make_watched_repo(tmp_path / "repo")


def github(watcher: d.Watcher, ref: str, *, event: str = "push", delivery: str) -> int:
    body = json.dumps({"ref": ref, "after": "b" * 40, "note": MARKER}).encode()
    headers = {
        "X-Hub-Signature-256": "sha256=" + sign(SECRET.encode(), body),
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    return post(watcher, "/hooks/github", headers, body)


def post(watcher: d.Watcher, path: str, headers: dict[str, str], body: bytes) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", watcher.port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def pass_reasons(watcher: d.Watcher) -> list[str]:
    return [str(e["reasons"]) for e in watcher.events("pass.start")]


def barrier(watcher: d.Watcher, name: str) -> str:
    """Drop an intent; return the reasons of the pass that took it (once it is done)."""
    seen = len(watcher.events())
    d.drop_intent(watcher.repo, name, d.intent_bytes())
    started = watcher.wait_event("pass.start", after=seen)
    watcher.wait_event("pass.done", after=seen)
    return str(started["reasons"])


def settle(watcher: d.Watcher, quiet: float = 0.6) -> None:
    """Until no event came for `quiet` seconds and no pass runs (a polled timeout)."""

    def probe() -> bool:
        before = len(watcher.events())
        time.sleep(quiet)
        passes = [e for e in watcher.events() if str(e["event"]).startswith("pass.")]
        return len(watcher.events()) == before and passes[-1]["event"] != "pass.start"

    d.wait_for(probe, 20, "the daemon to settle", every=0)


def test_only_an_authentic_push_to_the_branch_runs_a_pass(repo: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n")  # the trailing newline is not part of it
    extra = ("--resync", "1h", "--webhook-secret-file", str(secret_file))
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args(extra=(*extra,)))
    with d.watchers(watcher):
        watcher.start(ready=True)
        settle(watcher)
        before = len(pass_reasons(watcher))

        forged = {"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Event": "push"}
        assert post(watcher, "/hooks/github", forged, b'{"ref": "refs/heads/main"}') == 401
        assert github(watcher, "refs/heads/main", event="ping", delivery="p-1") == 200
        assert github(watcher, "refs/heads/feature", delivery="o-1") == 202
        too_big = b" " * (1024 * 1024 + 1)
        assert post(watcher, "/hooks/github", {"X-Hub-Signature-256": "sha256=0"}, too_big) == 413
        assert barrier(watcher, "a.yaml") == "watch"

        assert github(watcher, "refs/heads/main", delivery="push-1") == 202
        started = watcher.wait_event("pass.start", after=len(watcher.events()) - 1)
        assert started["reasons"] == "webhook"
        watcher.wait_event("pass.done", after=len(watcher.events()) - 1)

        assert github(watcher, "refs/heads/main", delivery="push-1") == 200  # GitHub retried
        assert barrier(watcher, "b.yaml") == "watch"
        settle(watcher)
        assert pass_reasons(watcher)[before:] == ["watch", "webhook", "watch"]

        outcomes = [e["outcome"] for e in watcher.events("webhook.delivery")]
        assert outcomes == ["ping", "other_branch", "triggered", "duplicate"]
        assert watcher.stop() == 0
    log = watcher.log.read_text()
    assert "http_unauthorized" in log and "http_body_too_large" in log
    for secret_part in (SECRET, "It's a Secret", sign(SECRET.encode(), b"x")[:16], MARKER):
        assert secret_part not in log
    assert "sha256=" not in log


def test_without_a_secret_every_forge_hook_is_refused(repo: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if "WEBHOOK" not in key}
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args(extra=("--resync", "1h")))
    watcher.env = env
    with d.watchers(watcher):
        watcher.start(ready=True)
        for path in ("/hooks/github", "/hooks/gitlab", "/hooks/gitea"):
            headers = {"X-Gitlab-Token": SECRET, "X-Hub-Signature-256": "sha256=0"}
            assert post(watcher, path, headers, b"{}") == 403
        reasons = [e["reason"] for e in watcher.events("http.refused")]
        assert reasons == ["http_hook_not_configured"]  # one event; the others counted
        assert watcher.stop() == 0


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("missing", "webhook_secret_unreadable"),
        ("empty-file", "webhook_secret_empty"),
        ("newline-only", "webhook_secret_empty"),
        ("empty-env", "webhook_secret_empty"),
    ],
)
def test_an_unusable_webhook_secret_stops_the_start(
    repo: Path, tmp_path: Path, setup: str, reason: str
) -> None:
    secret_file = tmp_path / "webhook-secret"
    args = ["--webhook-secret-file", str(secret_file)]
    env = dict(os.environ)
    if setup == "empty-file":
        secret_file.write_text("")
    elif setup == "newline-only":
        secret_file.write_text("\n")
    elif setup == "empty-env":
        args, env["RECONCILER_WEBHOOK_SECRET"] = [], ""
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--watch", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert reason in done.stderr
    assert "Traceback" not in done.stderr
