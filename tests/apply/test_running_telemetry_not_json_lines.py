"""Issue 9: nothing is ever appended to a file that is not JSON lines, keyed or not.

expand/resume refuse (`telemetry_corrupt`); a rollback still pauses (the safety path),
without touching the file: its record is in the apply-state file and on stdout, with the
note `telemetry_not_appended`. In-process (the CLI's signal as a real process:
tests/e2e/test_apply_process.py).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from tests.support import fleet
from tests.support.applying import apply
from tests.support.fleet import SUPERLOOP
from tests.support.hostfiles import PROFILE, host_file

STATE = SUPERLOOP / "promotion-apply-state.json"
INDEX = SUPERLOOP / "promotion-apply-index.json"
BINARY = bytes(range(256)) * 64


@pytest.mark.parametrize(
    "data", [PROFILE, BINARY, b"{}\n<<<<<<< HEAD\n"], ids=["profile", "binary", "conflict"]
)
@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_expand_and_resume_without_a_key_never_append_to_a_file_that_is_not_json_lines(
    repo: Path, tmp_path: Path, data: bytes, intent: str
) -> None:
    target = host_file(tmp_path, data)
    registry = (repo / SUPERLOOP / "registry.v1.json").read_bytes()

    with pytest.raises(RefusalError) as caught:
        apply(repo, intent, paths={"applyTelemetryFile": str(target)})

    assert caught.value.reason == "telemetry_corrupt"
    assert target.read_bytes() == data
    assert (repo / SUPERLOOP / "registry.v1.json").read_bytes() == registry
    assert not (repo / STATE).exists()


def test_a_rollback_still_pauses_but_leaves_the_file_alone(repo: Path, tmp_path: Path) -> None:
    target = host_file(tmp_path, PROFILE)
    target.chmod(0o444)  # not even opened for writing

    result = apply(repo, "rollback", paths={"applyTelemetryFile": str(target)})

    assert result.record["rollout"]["after"]["manualPause"] is True
    assert "telemetry_not_appended" in result.record["reasonCodes"]
    assert target.read_bytes() == PROFILE
    assert fleet.read_json(repo / STATE) == result.record
    assert not (repo / INDEX).exists()
    registry = fleet.read_json(repo / SUPERLOOP / "registry.v1.json")
    assert registry["policy"]["autonomous"]["rollout"]["pause"]["manual"] is True


def test_a_keyed_rollback_pauses_too_without_its_replay_check_or_its_line(
    repo: Path, tmp_path: Path
) -> None:
    target = host_file(tmp_path, PROFILE)
    result = apply(repo, "rollback", idempotency_key="k", paths={"applyTelemetryFile": str(target)})
    assert result.record["rollout"]["after"]["manualPause"] is True
    assert {"telemetry_corrupt", "telemetry_not_appended"} <= set(result.record["reasonCodes"])
    assert target.read_bytes() == PROFILE
    with pytest.raises(RefusalError) as caught:
        apply(repo, "expand", idempotency_key="e", paths={"applyTelemetryFile": str(target)})
    assert caught.value.reason == "telemetry_corrupt"


@pytest.mark.parametrize("data", [b"", b"\n\n", None], ids=["empty", "blank-lines", "missing"])
def test_an_empty_or_missing_file_is_telemetry(
    repo: Path, tmp_path: Path, data: bytes | None
) -> None:
    target = tmp_path / "t.jsonl"
    if data is not None:
        target.write_bytes(data)
    record = apply(repo, "expand", paths={"applyTelemetryFile": str(target)}).record
    assert "telemetry_not_appended" not in record["reasonCodes"]
    assert json.loads(target.read_text().strip().splitlines()[-1]) == record


def test_a_key_index_made_to_match_a_foreign_file_does_not_make_it_telemetry(
    repo: Path, tmp_path: Path
) -> None:
    # The index is trusted while size and tail CRC match; its last line must still be JSON.
    target = host_file(tmp_path, PROFILE)
    index = {
        "schemaVersion": "v1",
        "telemetryFile": str(Path("..") / ".." / ".." / ".." / "home" / "target"),
        "size": len(PROFILE),
        "tailCrc": zlib.crc32(PROFILE),
        "keys": {},
    }
    fleet.write_json(repo / INDEX, index)

    with pytest.raises(RefusalError) as caught:
        apply(repo, "expand", paths={"applyTelemetryFile": str(target)})

    assert caught.value.reason == "telemetry_corrupt"
    assert "last line is not a JSON object" in caught.value.message
    assert target.read_bytes() == PROFILE
