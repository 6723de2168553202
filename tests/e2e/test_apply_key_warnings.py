"""`reconcile apply` prints its idempotency-key warnings only to a terminal (issue 9, item 18).

Callers that merge stderr into stdout (the bash tool's test harness `run`, `$(cmd 2>&1)` in
runbooks) must still read exactly one JSON document; the reason code in the record is the
machine signal. A person at a terminal still sees the warning (a real pty here).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.support import fleet
from tests.support.fleet import SUPERLOOP, gov

ROOT = Path(__file__).resolve().parents[2]


def command(repo: Path, intent: str, key: str) -> list[str]:
    return [
        sys.executable, "-m", "reconciler", "apply", "--repo", str(repo), "--intent", intent,
        "--idempotency-key", key, *gov(),
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def merged(repo: Path, intent: str, key: str) -> subprocess.CompletedProcess[str]:
    """Run with stderr merged into stdout, as `2>&1` does."""
    return subprocess.run(
        command(repo, intent, key),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(),
        timeout=60,
        check=False,
    )


def on_a_terminal(repo: Path, intent: str, key: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; return the exit code, stdout and stderr."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            command(repo, intent, key),
            stdout=subprocess.PIPE,
            stderr=follower,
            env=env(),
        )
        os.close(follower)
        stdout, _ = process.communicate(timeout=60)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return process.returncode, stdout.decode(), b"".join(chunks).decode().replace("\r\n", "\n")


def test_a_mismatched_replay_merged_into_stdout_is_one_json_document(repo: Path) -> None:
    first = merged(repo, "expand", "K")
    assert first.returncode == 0, first.stdout

    done = merged(repo, "resume", "K")

    assert done.returncode == 0, done.stdout
    record = json.loads(done.stdout)  # no warning line in front of it
    assert record["replayed"] is True
    assert record["reasonCodes"] == ["idempotency_request_mismatch"]
    assert record["traceId"] == json.loads(first.stdout)["traceId"]  # the first record


def test_the_mismatch_warning_reaches_a_terminal(repo: Path) -> None:
    assert merged(repo, "expand", "K").returncode == 0

    code, stdout, stderr = on_a_terminal(repo, "resume", "K")

    assert code == 0
    assert json.loads(stdout)["replayed"] is True
    assert stderr.startswith('warning: idempotency key "K" was first used for a different')


def test_an_overriding_rollback_warns_a_terminal_and_notes_the_registry(repo: Path) -> None:
    assert merged(repo, "expand", "K").returncode == 0
    registry = repo / SUPERLOOP / "registry.v1.json"
    doc = fleet.read_json(registry)
    doc["loops"][0]["transport"] = "locall"
    fleet.write_json(registry, doc)

    code, stdout, stderr = on_a_terminal(repo, "rollback", "K")

    assert code == 0, stderr
    record = json.loads(stdout)
    assert record["reasonCodes"] == [
        "idempotency_replay_overridden",
        "registry_invalid_elsewhere",
    ]
    assert stderr.splitlines() == [
        'warning: idempotency key "K" was used before, but the fleet was not paused; the '
        "rollback was applied as a new mutation",
        "warning: the fleet registry is invalid outside the fields a rollback writes; the "
        "rollback was applied anyway (fix these):",
        " - loops[0]: transport must be local or sprite_service",
    ]


def test_an_overriding_rollback_merged_into_stdout_is_one_json_document(repo: Path) -> None:
    assert merged(repo, "expand", "K").returncode == 0

    done = merged(repo, "rollback", "K")

    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["reasonCodes"] == ["idempotency_replay_overridden"]
