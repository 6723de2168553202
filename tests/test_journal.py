"""The roll-forward journal of reconciler/journal.py, on real files.

Moved from tests/telemetry/test_active.py (the journal is not telemetry), unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from zlib import crc32

import pytest

from reconciler import journal as journaling
from reconciler.core.errors import RefusalError


def test_a_journal_rolls_forward_idempotently_and_is_removed(tmp_path: Path) -> None:
    target, telemetry = tmp_path / "registry.json", tmp_path / "t.jsonl"
    target.write_text("old")
    telemetry.write_text('{"a":1}\n')
    replacement = journaling.plan_replacement(str(target), b"new")
    plan = journaling.WritePlan((replacement,), str(telemetry), 8, b'{"b":2}\n')
    journal = journaling.journal_path(str(tmp_path))
    journaling.commit(plan, journal)
    assert target.read_text() == "new"
    assert telemetry.read_text() == '{"a":1}\n{"b":2}\n'
    assert not Path(journal).exists()


def test_recover_completes_a_leftover_journal_and_sweeps_temp_files(tmp_path: Path) -> None:
    target, telemetry = tmp_path / "registry.json", tmp_path / "t.jsonl"
    target.write_text("old")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / ".index.json.reconciler-tmp-123").write_text("junk")
    journal = {
        "schemaVersion": "v1",
        "replacements": [{"path": "registry.json", "text": "new", "before": [crc32(b"old"), 3]}],
        "append": {"path": "t.jsonl", "offset": 0, "text": '{"b":2}\n'},
    }
    Path(journaling.journal_path(str(tmp_path))).write_text(json.dumps(journal))
    allowed = [str(target), str(telemetry), str(state_dir / "state.json")]
    assert journaling.recover(str(tmp_path), allowed) is True
    assert target.read_text() == "new"
    assert telemetry.read_text() == '{"b":2}\n'
    assert list(state_dir.iterdir()) == []
    assert journaling.recover(str(tmp_path), allowed) is False


def test_an_unreadable_journal_is_kept_and_refused(tmp_path: Path) -> None:
    journal = Path(journaling.journal_path(str(tmp_path)))
    journal.write_text("{not json")
    with pytest.raises(RefusalError) as caught:
        journaling.recover(str(tmp_path), [])
    assert caught.value.reason == "journal_corrupt"
    assert journal.exists()


def write_journal(folder: Path, replacements: list[dict], append: dict) -> None:
    doc = {"schemaVersion": "v1", "replacements": replacements, "append": append}
    Path(journaling.journal_path(str(folder))).write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("after_crash", "expected"),
    [
        ('{"a":1}\n{"b"', '{"a":1}\n{"b":2}\n'),
        ('{"a":1}\n{"b":2}\n', '{"a":1}\n{"b":2}\n'),
        ('{"a":1}\n', '{"a":1}\n{"b":2}\n'),
        ('{"a":1}\n{"b"\n{"c":3}\n', '{"a":1}\n{"c":3}\n{"b":2}\n'),
        ('{"a":1}\n{"c":3}\n', '{"a":1}\n{"c":3}\n{"b":2}\n'),
        ('{"a":1}\n{"b":2}\n{"c":3}\n', '{"a":1}\n{"b":2}\n{"c":3}\n'),
        ('{"a":1}\n{"c":3}\n{"b":2}\n', '{"a":1}\n{"c":3}\n{"b":2}\n'),
    ],
    ids=[
        "torn-line",
        "complete-line",
        "nothing-written",
        "torn-then-another-repo-appended",
        "another-repo-appended-first",
        "complete-then-another-repo",
        "ours-landed-after-another",
    ],
)
def test_recovery_puts_the_line_in_the_telemetry_exactly_once_losing_nothing(
    tmp_path: Path, after_crash: str, expected: str
) -> None:
    telemetry = tmp_path / "t.jsonl"
    telemetry.write_text(after_crash)
    write_journal(tmp_path, [], {"path": "t.jsonl", "offset": 8, "text": '{"b":2}\n'})
    assert journaling.recover(str(tmp_path), [str(telemetry)]) is True
    assert telemetry.read_text() == expected


@pytest.mark.parametrize(
    "journal",
    [
        '{"replacements": [], "append": {"path": "t", "offset": 1e999, "text": ""}}',
        '{"replacements": [], "append": {"path": "t", "offset": -1, "text": ""}}',
        "[" * 100000,
        '{"replacements": [{"path": "t", "text": "", "before": [1e999, 1]}], "append": {}}',
    ],
    ids=["huge-offset", "negative-offset", "deep-nesting", "huge-crc"],
)
def test_a_hostile_journal_is_refused_not_a_crash(tmp_path: Path, journal: str) -> None:
    Path(journaling.journal_path(str(tmp_path))).write_text(journal)
    with pytest.raises(RefusalError) as caught:
        journaling.recover(str(tmp_path), [str(tmp_path / "t")])
    assert caught.value.reason == "journal_corrupt"
