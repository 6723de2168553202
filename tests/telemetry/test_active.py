"""The active telemetry file against its key index, through the Ledger, on real files.

These were the tests of the old `store` functions (scan_telemetry, load_telemetry, save_index,
find_applied); the same cases now go through `Ledger`, which apply and the loop both use.
The journal's tests moved to tests/test_journal.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from zlib import crc32

import pytest

from reconciler.core import jsontext
from reconciler.core.errors import RefusalError
from reconciler.telemetry.ledger import Ledger


def write_records(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(jsontext.dumps_compact(r) + "\n" for r in records))


def record(key: str | None, status: str = "applied", pad: int = 0) -> dict:
    return {"idempotencyKey": key, "status": status, "padding": "x" * pad}


def paths(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Telemetry file, apply-state file, and the key index beside the state file."""
    state = tmp_path / "state" / "state.json"
    return tmp_path / "telemetry" / "t.jsonl", state, state.parent / "promotion-apply-index.json"


def save_index(telemetry: Path, state: Path) -> None:
    """Write the key index as a full scan of the records builds it."""
    ledger = Ledger(str(telemetry), str(state), trust_indexes=False)
    Path(ledger.index_file).parent.mkdir(parents=True, exist_ok=True)
    Path(ledger.index_file).write_bytes(ledger.active_index_bytes())


def test_scan_indexes_the_last_applied_record_of_each_key(tmp_path: Path) -> None:
    telemetry, state, _ = paths(tmp_path)
    write_records(
        telemetry, [record("a"), record("b"), record("a"), record(None), record("c", "x")]
    )
    ledger = Ledger(str(telemetry), str(state), trust_indexes=False)
    lines = telemetry.read_bytes().splitlines(keepends=True)
    assert ledger.active_keys["a"] == (len(lines[0]) + len(lines[1]), len(lines[2]))
    assert set(ledger.active_keys) == {"a", "b"}
    assert ledger.size == telemetry.stat().st_size


def test_a_missing_telemetry_file_is_empty(tmp_path: Path) -> None:
    telemetry, state, _ = paths(tmp_path)
    ledger = Ledger(str(telemetry), str(state))
    assert (ledger.size, ledger.active_keys, ledger.problem) == (0, {}, None)
    assert ledger.find_applied("a") is None


@pytest.mark.parametrize(
    "bad", ["{oops", "[1, 2]", '"a string"', "\xff"], ids=["truncated", "array", "string", "binary"]
)
def test_a_bad_line_is_reported_with_its_number(tmp_path: Path, bad: str) -> None:
    telemetry, state, _ = paths(tmp_path)
    write_records(telemetry, [record("a")])
    with telemetry.open("a", encoding="latin-1") as handle:
        handle.write(bad + "\n")
    with pytest.raises(RefusalError) as caught:
        Ledger(str(telemetry), str(state), trust_indexes=False)
    assert caught.value.message == f"telemetry file is corrupt: {telemetry}:2"
    problem = Ledger(str(telemetry), str(state)).active_problem
    assert problem is not None
    assert problem.message == f"telemetry file is corrupt: {telemetry}:2"


def test_a_lookup_trusts_a_matching_index_instead_of_parsing_every_record(tmp_path: Path) -> None:
    telemetry, state, index = paths(tmp_path)
    write_records(telemetry, [record("old", pad=5000), record("new")])
    save_index(telemetry, state)
    # Damage the first record and make the index cover the damage (its CRC): a full scan
    # would refuse, so a successful lookup proves that the index's hit was used.
    data = bytearray(telemetry.read_bytes())
    data[0:1] = b"X"
    telemetry.write_bytes(bytes(data))
    doc = json.loads(index.read_text())
    doc["segments"][0]["crc"] = crc32(bytes(data))
    index.write_text(json.dumps(doc))
    ledger = Ledger(str(telemetry), str(state))
    assert ledger.problem is None
    assert ledger.find_applied("new") == record("new")


def test_records_appended_after_the_index_are_read(tmp_path: Path) -> None:
    telemetry, state, _ = paths(tmp_path)
    write_records(telemetry, [record("a")])
    save_index(telemetry, state)
    write_records(telemetry, [record("a"), record("b")])
    ledger = Ledger(str(telemetry), str(state))
    assert set(ledger.active_keys) == {"a", "b"}
    assert ledger.find_applied("b") == record("b")


def test_a_history_rewritten_under_its_index_is_corrupt(tmp_path: Path) -> None:
    telemetry, state, _ = paths(tmp_path)
    write_records(telemetry, [record("a")])
    save_index(telemetry, state)
    write_records(telemetry, [record("b"), record("a")])
    ledger = Ledger(str(telemetry), str(state))
    assert ledger.active_problem is not None
    assert ledger.active_problem.reason == "telemetry_corrupt"
    assert not ledger.indexed
    with pytest.raises(RefusalError) as caught:
        ledger.find_applied("c")
    assert caught.value.reason == "telemetry_corrupt"


def test_a_garbled_index_is_ignored(tmp_path: Path) -> None:
    telemetry, state, index = paths(tmp_path)
    write_records(telemetry, [record("a")])
    index.parent.mkdir(parents=True)
    index.write_text('{"size": "nope"')
    ledger = Ledger(str(telemetry), str(state))
    assert (set(ledger.active_keys), ledger.problem) == ({"a"}, None)


def test_the_index_is_relative_so_it_survives_a_moved_checkout(tmp_path: Path) -> None:
    old = tmp_path / "old"
    telemetry, state, index = paths(old)
    write_records(telemetry, [record("a")])
    save_index(telemetry, state)
    assert json.loads(index.read_text())["telemetryFile"] == "../telemetry/t.jsonl"
    new = tmp_path / "new"
    old.rename(new)
    telemetry, state, _ = paths(new)
    ledger = Ledger(str(telemetry), str(state))
    assert ledger.problem is None
    assert ledger.find_applied("a") == record("a")


@pytest.mark.parametrize(
    "keys",
    [{"a": [0, 1e999, 1]}, {"a": [0, 0, 99999999999]}, {"a": [0, -1, 5]}, {"a": "x"}, []],
    ids=["huge-float", "past-the-end", "negative", "not-a-span", "not-a-mapping"],
)
def test_a_hostile_index_is_ignored_and_rebuilt(tmp_path: Path, keys: object) -> None:
    telemetry, state, index = paths(tmp_path)
    write_records(telemetry, [record("a")])
    save_index(telemetry, state)
    doc = json.loads(index.read_text())
    doc["keys"] = keys
    index.write_text(json.dumps(doc))
    ledger = Ledger(str(telemetry), str(state))
    assert ledger.find_applied("a") == record("a")


def test_a_deeply_nested_telemetry_line_is_corrupt_not_a_crash(tmp_path: Path) -> None:
    telemetry, state, _ = paths(tmp_path)
    telemetry.parent.mkdir(parents=True)
    telemetry.write_text("[" * 200000 + "\n")
    with pytest.raises(RefusalError) as caught:
        Ledger(str(telemetry), str(state), trust_indexes=False)
    assert caught.value.reason == "telemetry_corrupt"
    ledger = Ledger(str(telemetry), str(state))
    assert ledger.indexed is False


def test_apply_takes_its_own_appended_line_and_gets_the_index_to_write(tmp_path: Path) -> None:
    telemetry, state, index = paths(tmp_path)
    write_records(telemetry, [record("a")])
    telemetry.write_bytes(telemetry.read_bytes().rstrip(b"\n"))  # a torn last newline
    ledger = Ledger(str(telemetry), str(state))
    assert not ledger.ends_with_newline
    line = b"\n" + (jsontext.dumps_compact(record("b")) + "\n").encode()
    with telemetry.open("ab") as handle:  # what apply's journal does
        handle.write(line)
    new_index = ledger.append_written(line, record("b"))
    assert new_index is not None
    index.parent.mkdir(parents=True)
    index.write_bytes(new_index)
    again = Ledger(str(telemetry), str(state))
    assert again.problem is None
    assert set(again.active_keys) == {"a", "b"}
    assert again.find_applied("a") == record("a")
    assert again.find_applied("b") == record("b")
    assert again.active_segment.search is not None  # the keys came from the index we wrote
