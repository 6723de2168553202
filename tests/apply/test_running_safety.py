"""Fail-closed edges found in review: every one must refuse cleanly and write nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from tests.support import fleet
from tests.support.applying import apply
from tests.support.fleet import SUPERLOOP

REGISTRY = SUPERLOOP / "registry.v1.json"
STATE = SUPERLOOP / "promotion-apply-state.json"
TELEMETRY = SUPERLOOP / "telemetry" / "promotion-apply.jsonl"


def tree(repo: Path) -> dict[str, bytes | str]:
    """Every entry under `repo`: file bytes, or the kind of a folder or link."""
    entries: dict[str, bytes | str] = {}
    for path in sorted(repo.rglob("*")):
        key = str(path.relative_to(repo))
        if path.is_symlink():
            entries[key] = f"link -> {os.readlink(path)}"
        elif path.is_dir():
            entries[key] = "folder"
        elif path.is_file():
            entries[key] = path.read_bytes()
        else:
            entries[key] = "special file"
    return entries


def refused(repo: Path, intent: str = "rollback", **kw: object) -> RefusalError:
    before = tree(repo)
    with pytest.raises(RefusalError) as caught:
        apply(repo, intent, **kw)  # type: ignore[arg-type]
    assert tree(repo) == before
    return caught.value


def test_a_symlinked_telemetry_file_is_refused_before_anything_is_written(
    repo: Path, tmp_path: Path
) -> None:
    (repo / TELEMETRY).parent.mkdir(parents=True)
    (repo / TELEMETRY).symlink_to(tmp_path / "elsewhere.jsonl")
    error = refused(repo)
    assert error.reason == "file_not_regular"
    assert not (tmp_path / "elsewhere.jsonl").exists()


def test_a_folder_where_the_state_file_belongs_is_refused_before_anything_is_written(
    repo: Path,
) -> None:
    (repo / STATE).mkdir(parents=True)
    assert refused(repo, "expand").reason == "file_not_regular"


def test_a_state_path_below_a_regular_file_is_refused_before_anything_is_written(
    repo: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    error = refused(repo, paths={"applyStateFile": str(blocker / "state.json")})
    assert error.reason == "file_error"
    assert error.message.startswith("cannot write apply state file")


@pytest.mark.parametrize("flag", ["applyStateFile", "applyTelemetryFile", "promotionStateFile"])
def test_two_layout_paths_naming_one_file_are_refused(repo: Path, flag: str) -> None:
    error = refused(repo, paths={flag: str(repo / REGISTRY)})
    assert error.reason == "layout_paths_collide"
    assert "registryFile" in error.message


def test_a_stale_journal_is_refused_instead_of_reverting_later_changes(repo: Path) -> None:
    apply(repo, "resume", idempotency_key="seed")
    # A journal as a crashed apply would have left it, then a `git pull` changed the files.
    registry_text = (repo / REGISTRY).read_text()
    journal = {
        "schemaVersion": "v1",
        "replacements": [
            {"path": "registry.v1.json", "text": registry_text.replace("25", "50"),
             "before": [0, 1]},
        ],
        "append": {"path": "telemetry/promotion-apply.jsonl", "offset": 0, "text": "{}\n"},
    }  # fmt: skip
    (repo / SUPERLOOP / ".reconciler-journal.json").write_text(json.dumps(journal))
    error = refused(repo)
    assert error.reason == "journal_stale"
    assert str(repo / REGISTRY) in error.message


@pytest.mark.parametrize("generated_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_out_of_range_timestamps_never_crash_and_never_block_rollback(
    repo: Path, generated_at: str
) -> None:
    fleet.write_decision(repo, "hold", generated_at=generated_at)
    record = apply(repo, "rollback", max_decision_age="not-a-duration").record
    assert record["decisionGeneratedAt"] is None
    fleet.write_decision(repo, "promote", generated_at=generated_at)
    error = refused(repo, "expand", max_decision_age="24h")
    assert error.reason == "promotion_decision_stale"


def test_a_huge_integer_in_the_decision_is_an_invalid_decision_not_a_crash(repo: Path) -> None:
    state = repo / SUPERLOOP / "promotion-state.json"
    state.write_text('{"summary": {"decision": "promote"}, "n": ' + "9" * 5000 + "}")
    assert refused(repo, "expand").reason == "promotion_state_invalid"
    assert apply(repo, "rollback").record["decision"] is None


def test_a_decision_from_the_future_is_refused_when_freshness_is_enforced(repo: Path) -> None:
    fleet.write_decision(repo, "promote", generated_at="2099-01-01T00:00:00Z")
    error = refused(repo, "expand", max_decision_age="1h")
    assert error.reason == "promotion_decision_future"
    fleet.write_decision(repo, "promote", generated_at="2026-11-24T12:03:00Z")  # 3 min skew
    assert apply(repo, "expand", max_decision_age="1h").record["status"] == "applied"


def test_a_corrupt_telemetry_line_does_not_block_a_rollback_without_a_key(repo: Path) -> None:
    apply(repo, "resume", idempotency_key="seed")
    with (repo / TELEMETRY).open("a") as handle:
        handle.write("<<<<<<< HEAD\n")
    record = apply(repo, "rollback").record
    assert record["rollout"]["after"]["manualPause"] is True
    # A keyed rollback pauses too (its replay check is skipped: pausing twice is harmless);
    # a keyed expand/resume refuses: its replay check cannot trust the history.
    fleet.write_registry(repo, canary=25, manual=False)
    assert apply(repo, "rollback", idempotency_key="k").record["rollout"]["after"] == {
        "canaryPercent": 25,
        "manualPause": True,
    }
    assert refused(repo, "resume", idempotency_key="k2").reason == "telemetry_corrupt"


def test_resume_unpauses_a_paused_fleet_and_keeps_the_canary(repo: Path) -> None:
    fleet.write_registry(repo, canary=40, manual=True)
    record = apply(repo, "resume").record
    assert record["rollout"]["after"] == {"canaryPercent": 40, "manualPause": False}
    assert record["rollout"]["changed"] == {"canaryPercent": False, "manualPause": True}
    rollout = fleet.read_json(repo / REGISTRY)["policy"]["autonomous"]["rollout"]
    assert rollout == {"canaryPercent": 40, "pause": {"manual": False}}


def test_a_symlinked_decision_file_is_followed(repo: Path, tmp_path: Path) -> None:
    target = fleet.write_decision(repo, "promote", path=tmp_path / "gates" / "decision.json")
    state = repo / SUPERLOOP / "promotion-state.json"
    state.unlink()
    state.symlink_to(target)
    assert apply(repo, "expand").record["decision"] == "promote"


def test_a_folder_where_the_decision_belongs_blocks_expand_but_not_rollback(repo: Path) -> None:
    state = repo / SUPERLOOP / "promotion-state.json"
    state.unlink()
    state.mkdir()
    assert refused(repo, "expand").reason == "file_not_regular"
    assert apply(repo, "rollback").record["decision"] is None


def test_a_telemetry_path_below_a_file_is_refused_cleanly(repo: Path) -> None:
    state = repo / SUPERLOOP / "promotion-state.json"
    error = refused(repo, paths={"applyTelemetryFile": str(state / "t.jsonl")})
    assert error.reason == "file_error"


def test_a_fifo_at_the_telemetry_path_is_refused_instead_of_hanging(repo: Path) -> None:
    apply(repo, "resume", idempotency_key="seed")
    telemetry = repo / TELEMETRY
    telemetry.unlink()
    os.mkfifo(telemetry)
    assert refused(repo).reason == "file_not_regular"


def test_unicode_digits_are_not_a_timestamp(repo: Path) -> None:
    error = refused(repo, "expand", review_by="２０９９-01-01T00:00:00Z")
    assert error.message == "--review-by must be an ISO-8601 timestamp"


def test_the_review_by_is_checked_before_a_missing_registry_is_reported(repo: Path) -> None:
    paths: dict[str, str | None] = {"registryFile": str(repo / "nope" / "registry.yaml")}
    error = refused(repo, "rollback", review_by="garbage", paths=paths)
    assert error.message == "--review-by must be an ISO-8601 timestamp"


def test_a_replay_ignores_the_retrys_own_review_by(repo: Path) -> None:
    first = apply(repo, "expand", idempotency_key="k").record
    replay = apply(repo, "expand", idempotency_key="k", review_by="2020-01-01T00:00:00Z")
    assert replay.replayed and replay.record == {**first, "replayed": True}
