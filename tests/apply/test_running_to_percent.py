"""`reconcile apply --intent rollback --to-percent N|previous` on real files (issue 11).

In-process with a fixed clock, in the bash tool's layout (JSON registry): the rollback sets
the canary and pauses in one record; `previous` reads the telemetry (the loop's sealed
segments too); a target it cannot reach is a note, never a refusal; a bad flag refuses before
anything is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.adapters import clock
from reconciler.cli import cli
from reconciler.core.errors import RefusalError
from tests.support import fleet
from tests.support.applying import apply
from tests.support.fleet import FIXED_NOW, SUPERLOOP

REGISTRY = SUPERLOOP / "registry.v1.json"
TELEMETRY = SUPERLOOP / "telemetry" / "promotion-apply.jsonl"


def rollout(repo: Path) -> dict[str, object]:
    doc = fleet.read_json(repo / REGISTRY)
    return {
        "canaryPercent": doc["policy"]["autonomous"]["rollout"]["canaryPercent"],
        "manual": doc["policy"]["autonomous"]["rollout"]["pause"]["manual"],
    }


def test_a_rollback_to_25_from_50_writes_only_the_owned_fields(repo: Path) -> None:
    fleet.write_registry(repo, canary=50)
    before = (repo / REGISTRY).read_text()

    result = apply(repo, "rollback", to_percent="25")

    record = result.record
    assert record["toPercent"] == 25
    assert record["rollout"]["after"] == {"canaryPercent": 25, "manualPause": True}
    assert record["rollout"]["changed"] == {"canaryPercent": True, "manualPause": True}
    assert record["reasonCodes"] == []
    assert rollout(repo) == {"canaryPercent": 25, "manual": True}
    after = (repo / REGISTRY).read_text()
    pairs = zip(before.splitlines(), after.splitlines(), strict=True)
    changed = [(b, a) for b, a in pairs if b != a]
    assert changed == [
        ('        "actor": "ops-initial",', '        "actor": "ops-user",'),
        ('        "approvalRef": "CAB-0",', '        "approvalRef": "CAB-111",'),
        ('        "rationale": "initial",', '        "rationale": "phase11",'),
        ('        "changedAt": "2026-02-23T00:00:00Z",',
         '        "changedAt": "2026-11-24T12:00:00Z",'),
        ('        "canaryPercent": 50,', '        "canaryPercent": 25,'),
        ('          "manual": false', '          "manual": true'),
    ]  # fmt: skip
    assert fleet.telemetry_lines(repo) == [record]


def test_previous_after_expands_10_25_50_goes_back_to_25(repo: Path) -> None:
    fleet.write_registry(repo, canary=10)
    apply(repo, "expand", expand_step="15")
    apply(repo, "rollback")  # no target: only pauses, and is no expand
    apply(repo, "resume")
    apply(repo, "expand", expand_step="25")
    assert rollout(repo) == {"canaryPercent": 50, "manual": False}

    result = apply(repo, "rollback", to_percent="previous")

    assert result.record["toPercent"] == "previous"
    assert result.record["rollout"]["after"] == {"canaryPercent": 25, "manualPause": True}
    assert rollout(repo) == {"canaryPercent": 25, "manual": True}
    # Again: the newest expand that raised the canary is still 25 -> 50.
    again = apply(repo, "rollback", to_percent="previous")
    assert again.record["rollout"]["after"]["canaryPercent"] == 25
    assert again.record["reasonCodes"] == ["rollout_unchanged"]


def test_previous_with_no_expand_in_the_records_pauses_and_notes_it(repo: Path) -> None:
    apply(repo, "rollback")
    apply(repo, "resume")

    result = apply(repo, "rollback", to_percent="previous")

    assert result.record["reasonCodes"] == ["rollback_target_unknown"]
    assert rollout(repo) == {"canaryPercent": 25, "manual": True}


def test_previous_on_telemetry_that_cannot_be_read_pauses_and_notes_it(repo: Path) -> None:
    apply(repo, "expand")
    with (repo / TELEMETRY).open("a") as file:
        file.write("<<<<<<< HEAD\n")  # a merge-conflict marker

    result = apply(repo, "rollback", to_percent="previous")

    codes = set(result.record["reasonCodes"])
    assert {"rollback_target_unknown", "telemetry_corrupt", "telemetry_not_appended"} <= codes
    assert rollout(repo) == {"canaryPercent": 50, "manual": True}


def test_a_target_above_the_current_canary_pauses_and_leaves_it(repo: Path) -> None:
    result = apply(repo, "rollback", to_percent="60")

    assert result.record["toPercent"] == 60
    assert result.record["reasonCodes"] == ["rollback_target_above_current"]
    assert result.record["rollout"]["changed"] == {"canaryPercent": False, "manualPause": True}
    assert rollout(repo) == {"canaryPercent": 25, "manual": True}


def test_a_rollback_to_0(repo: Path) -> None:
    apply(repo, "rollback", to_percent="0")
    assert rollout(repo) == {"canaryPercent": 0, "manual": True}


def test_a_replayed_rollback_key_replays_its_record(repo: Path) -> None:
    first = apply(repo, "rollback", to_percent="10", idempotency_key="inc-9").record
    registry = (repo / REGISTRY).read_bytes()

    again = apply(repo, "rollback", to_percent="previous", idempotency_key="inc-9")

    assert again.replayed and again.mismatch  # another target: flagged, nothing changed
    assert again.record["toPercent"] == 10
    assert (repo / REGISTRY).read_bytes() == registry
    assert fleet.telemetry_lines(repo) == [first]


@pytest.mark.parametrize(
    ("intent", "value", "message"),
    [
        ("rollback", "101", "--to-percent must be an integer between 0 and 100, or previous"),
        ("rollback", "last", "--to-percent must be an integer between 0 and 100, or previous"),
        ("expand", "10", "--to-percent is only allowed with --intent rollback"),
    ],
)
def test_a_bad_to_percent_flag_is_refused_before_anything_is_written(
    repo: Path, intent: str, value: str, message: str
) -> None:
    registry = (repo / REGISTRY).read_bytes()

    with pytest.raises(RefusalError) as caught:
        apply(repo, intent, to_percent=value)

    assert (caught.value.reason, caught.value.message) == ("to_percent_invalid", message)
    assert (repo / REGISTRY).read_bytes() == registry
    assert not (repo / TELEMETRY).exists()


def test_previous_is_read_from_the_loops_sealed_segments(repo: Path) -> None:
    apply(repo, "expand", expand_step="20")  # 25 -> 45
    # Seal the active file as the loop does (apply itself never rotates).
    folder = repo / SUPERLOOP / "telemetry"
    (folder / "promotion-apply.jsonl").rename(folder / "promotion-apply.20261124T120000Z.jsonl")
    (repo / SUPERLOOP / "promotion-apply-index.json").unlink()
    apply(repo, "resume")

    result = apply(repo, "rollback", to_percent="previous")

    assert result.record["rollout"]["after"]["canaryPercent"] == 25


def test_the_cli_flag(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "system_clock", lambda: FIXED_NOW)
    fleet.write_registry(repo, canary=50)
    argv = ["apply", "--repo", str(repo), "--intent", "rollback", *fleet.gov("INC-1")]

    done = CliRunner().invoke(cli, [*argv, "--to-percent", "20"])
    bad = CliRunner().invoke(cli, [*argv, "--to-percent", "20%"])

    assert done.exit_code == 0, done.output
    assert '"toPercent":20' in done.stdout
    assert rollout(repo) == {"canaryPercent": 20, "manual": True}
    assert bad.exit_code == 1
    assert bad.stderr.splitlines()[-1] == "reason: to_percent_invalid"


def test_records_with_a_target_fit_the_published_record_schema(repo: Path) -> None:
    from jsonschema import Draft202012Validator

    from reconciler.core.artifact_models import json_schema

    validator = Draft202012Validator(json_schema("record"))
    fleet.write_registry(repo, canary=50)
    for value in ("25", "previous", "60"):
        validator.validate(apply(repo, "rollback", to_percent=value).record)
    record = apply(repo, "rollback", to_percent="10").record
    assert not validator.is_valid({**record, "toPercent": 101})
    assert not validator.is_valid({**record, "toPercent": "last"})
