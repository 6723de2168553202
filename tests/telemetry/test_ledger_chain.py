"""Every record the Ledger appends names the line before it, across rotation."""

from __future__ import annotations

from pathlib import Path

from reconciler.core import audit_chain
from tests.support.ledgers import History, record


def test_records_chain_across_rotation(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.append([record(f"k{n}", n) for n in range(8)], 500)
    files = [*history.sealed(), history.telemetry]
    assert len(files) >= 3  # rotated twice at least
    lines = [
        line for file in files for line in audit_chain.record_lines(file.name, file.read_bytes())
    ]
    assert len(lines) == 8
    assert audit_chain.prev_hash_of(lines[0].data) == audit_chain.GENESIS
    assert audit_chain.check_chain(lines) == []
    # The first record of the active file names the newest sealed segment's last line.
    first_active = next(line for line in lines if line.path == history.telemetry.name)
    before = lines[lines.index(first_active) - 1]
    assert audit_chain.prev_hash_of(first_active.data) == audit_chain.line_hash(before.data)


def test_a_new_ledger_continues_the_chain_of_the_files(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.append([record("a", 0)])
    history.append([record("b", 1)])  # a second Ledger, as the next pass
    data = history.telemetry.read_bytes()
    lines = list(audit_chain.record_lines("t", data))
    assert audit_chain.prev_hash_of(lines[1].data) == audit_chain.line_hash(lines[0].data)
