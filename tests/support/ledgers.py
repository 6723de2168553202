"""Telemetry histories on real files, built by the Ledger itself as the loop builds them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters import files
from reconciler.telemetry.ledger import Ledger

START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


class History:
    """A telemetry folder and the state folder with its two indexes."""

    def __init__(self, root: Path) -> None:
        self.telemetry = root / "telemetry" / "promotion-apply.jsonl"
        self.state = root / "state" / "promotion-apply-state.json"
        self.index = self.state.parent / "promotion-apply-index.json"
        self.segments = self.state.parent / "promotion-apply-segments.json"

    def ledger(self, rotate_bytes: int | None = None, **kw: Any) -> Ledger:
        return Ledger(str(self.telemetry), str(self.state), rotate_bytes, **kw)

    def append(self, records: list[dict[str, Any]], rotate_bytes: int | None = None) -> None:
        """Append records as the loop does, writing each change to disk."""
        ledger = self.ledger(rotate_bytes)
        for record in records:
            write(ledger.append(record))

    def sealed(self) -> list[Path]:
        return sorted(
            (p for p in self.telemetry.parent.iterdir() if p != self.telemetry),
            key=lambda p: p.name,
        )


def write(changes: list[tuple[str, bytes | None]]) -> None:
    """Write a Ledger's file changes to disk (git does this in the loop)."""
    for path, data in changes:
        if data is None:
            os.remove(path)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(data)


def record(key: str | None, minute: float, status: str = "applied", **extra: Any) -> dict[str, Any]:
    """A record timed `minute` minutes after START (padded: about 200 bytes)."""
    when = START + timedelta(minutes=minute)
    return {
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": status,
        "idempotencyKey": key,
        "padding": "x" * 35,  # 120 before records gained their 85-byte prevHash
        **extra,
    }


def unchained(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """A record as found, without the `prevHash` the Ledger chained it with."""
    return None if found is None else {k: v for k, v in found.items() if k != "prevHash"}


@contextmanager
def counting_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record the base name of every file read through `files.read_bounded`."""
    opened: list[str] = []
    real = files.read_bounded

    def read_bounded(path: str, limit: int, **kw: Any) -> bytes | None:
        opened.append(os.path.basename(path))
        return real(path, limit, **kw)

    monkeypatch.setattr(files, "read_bounded", read_bounded)
    yield opened
