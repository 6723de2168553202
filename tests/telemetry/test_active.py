"""The record store: key index, telemetry scanning and the journal, on real files."""

from __future__ import annotations

import json
from pathlib import Path
from zlib import crc32

import pytest

from reconciler import journal as journaling
from reconciler.core import jsontext
from reconciler.core.errors import RefusalError
from reconciler.telemetry import active as store


def write_records(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(jsontext.dumps_compact(r) + "\n" for r in records))


def record(key: str | None, status: str = "applied", pad: int = 0) -> dict:
    return {"idempotencyKey": key, "status": status, "padding": "x" * pad}


def test_scan_indexes_the_last_applied_record_of_each_key(tmp_path: Path) -> None:
    telemetry = tmp_path / "t.jsonl"
    write_records(
        telemetry, [record("a"), record("b"), record("a"), record(None), record("c", "x")]
    )
    view = store.scan_telemetry(str(telemetry))
    lines = telemetry.read_bytes().splitlines(keepends=True)
    assert view.keys["a"] == (len(lines[0]) + len(lines[1]), len(lines[2]))
    assert set(view.keys) == {"a", "b"}
    assert view.size == telemetry.stat().st_size


def test_a_missing_telemetry_file_is_empty(tmp_path: Path) -> None:
    view = store.scan_telemetry(str(tmp_path / "none.jsonl"))
    assert (view.size, view.keys) == (0, {})


@pytest.mark.parametrize(
    "bad", ["{oops", "[1, 2]", '"a string"', "\xff"], ids=["truncated", "array", "string", "binary"]
)
def test_a_bad_line_is_reported_with_its_number(tmp_path: Path, bad: str) -> None:
    telemetry = tmp_path / "t.jsonl"
    write_records(telemetry, [record("a")])
    with telemetry.open("a", encoding="latin-1") as handle:
        handle.write(bad + "\n")
    with pytest.raises(RefusalError) as caught:
        store.scan_telemetry(str(telemetry))
    assert caught.value.message == f"telemetry file is corrupt: {telemetry}:2"


def test_a_lookup_trusts_a_matching_index_instead_of_parsing_every_record(tmp_path: Path) -> None:
    telemetry, index = tmp_path / "t.jsonl", tmp_path / "index.json"
    write_records(telemetry, [record("old", pad=5000), record("new")])
    store.save_index(store.scan_telemetry(str(telemetry)), str(index))
    # Damage the first record and make the index cover the damage (its CRC): a full scan
    # would refuse, so a successful lookup proves that the index's hit was used.
    data = bytearray(telemetry.read_bytes())
    data[0:1] = b"X"
    telemetry.write_bytes(bytes(data))
    doc = json.loads(index.read_text())
    doc["crc"] = crc32(bytes(data))
    index.write_text(json.dumps(doc))
    view = store.load_telemetry(str(telemetry), str(index))
    assert store.find_applied(view, "new") == record("new")


def test_records_appended_after_the_index_are_read(tmp_path: Path) -> None:
    telemetry, index = tmp_path / "t.jsonl", tmp_path / "index.json"
    write_records(telemetry, [record("a")])
    store.save_index(store.scan_telemetry(str(telemetry)), str(index))
    write_records(telemetry, [record("a"), record("b")])
    view = store.load_telemetry(str(telemetry), str(index))
    assert set(view.keys) == {"a", "b"}
    assert store.find_applied(view, "b") == record("b")


def test_a_history_rewritten_under_its_index_is_corrupt(tmp_path: Path) -> None:
    telemetry, index = tmp_path / "t.jsonl", tmp_path / "index.json"
    write_records(telemetry, [record("a")])
    store.save_index(store.scan_telemetry(str(telemetry)), str(index))
    write_records(telemetry, [record("b"), record("a")])
    with pytest.raises(RefusalError) as caught:
        store.load_telemetry(str(telemetry), str(index))
    assert caught.value.reason == "telemetry_corrupt"


def test_a_garbled_index_is_ignored(tmp_path: Path) -> None:
    telemetry, index = tmp_path / "t.jsonl", tmp_path / "index.json"
    write_records(telemetry, [record("a")])
    index.write_text('{"size": "nope"')
    assert set(store.load_telemetry(str(telemetry), str(index)).keys) == {"a"}


def test_the_index_is_relative_so_it_survives_a_moved_checkout(tmp_path: Path) -> None:
    old = tmp_path / "old"
    write_records(old / "telemetry" / "t.jsonl", [record("a")])
    index = old / "state" / "index.json"
    store.save_index(store.scan_telemetry(str(old / "telemetry" / "t.jsonl")), str(index))
    assert json.loads(index.read_text())["telemetryFile"] == "../telemetry/t.jsonl"
    new = tmp_path / "new"
    old.rename(new)
    view = store.load_telemetry(
        str(new / "telemetry" / "t.jsonl"), str(new / "state" / "index.json")
    )
    assert store.find_applied(view, "a") == record("a")


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


@pytest.mark.parametrize(
    "keys",
    [{"a": [1e999, 1]}, {"a": [0, 99999999999]}, {"a": [-1, 5]}, {"a": "x"}, []],
    ids=["huge-float", "past-the-end", "negative", "not-a-span", "not-a-mapping"],
)
def test_a_hostile_index_is_ignored_and_rebuilt(tmp_path: Path, keys: object) -> None:
    telemetry, index = tmp_path / "t.jsonl", tmp_path / "index.json"
    write_records(telemetry, [record("a")])
    store.save_index(store.scan_telemetry(str(telemetry)), str(index))
    doc = json.loads(index.read_text())
    doc["keys"] = keys
    index.write_text(json.dumps(doc))
    view = store.load_telemetry(str(telemetry), str(index))
    assert store.find_applied(view, "a") == record("a")


def test_a_deeply_nested_telemetry_line_is_corrupt_not_a_crash(tmp_path: Path) -> None:
    telemetry = tmp_path / "t.jsonl"
    telemetry.write_text("[" * 200000 + "\n")
    with pytest.raises(RefusalError) as caught:
        store.scan_telemetry(str(telemetry))
    assert caught.value.reason == "telemetry_corrupt"
    view = store.load_telemetry(str(telemetry), str(tmp_path / "i.json"), need_keys=False)
    assert view.indexed is False
