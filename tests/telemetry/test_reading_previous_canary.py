"""`Ledger.previous_canary`: a rollback's `toPercent: previous`, read newest first.

The canary before the newest applied expand that raised it: the active file first, then the
sealed segments newest to oldest, stopping at the first match (older segments are never
opened), on real files rotated by the Ledger itself as the loop rotates them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from tests.support.ledgers import History, counting_reads, record

SEALED = re.compile(r"promotion-apply\.\d{8}T\d{6}Z(-\d+)?\.jsonl")
ROTATE = 900
"""Bytes: a record here is about 300, so every third record seals the active file."""


def expand(minute: float, before: int, after: int, **extra: Any) -> dict[str, Any]:
    return record(f"e{minute}", minute, intent="expand", rollout=posture(before, after), **extra)


def other(minute: float, intent: str = "resume", canary: int = 50) -> dict[str, Any]:
    return record(f"o{minute}", minute, intent=intent, rollout=posture(canary, canary))


def posture(before: int, after: int) -> dict[str, Any]:
    return {
        "before": {"canaryPercent": before, "manualPause": False},
        "after": {"canaryPercent": after, "manualPause": False},
    }


def sealed_reads(opened: list[str]) -> list[str]:
    return [name for name in opened if SEALED.fullmatch(name)]


def test_previous_is_the_canary_before_the_newest_expand_that_raised_it(tmp_path) -> None:
    history = History(tmp_path)
    history.append([expand(0, 10, 25), expand(1, 25, 50), other(2, "rollback")])

    assert history.ledger().previous_canary() == 25


@pytest.mark.parametrize(
    "records",
    [
        [],
        [other(0, "rollback"), other(1, "resume")],
        [expand(0, 100, 100)],  # at 100: did not raise it
        [expand(0, 25, 50, status="rejected")],
        [record("x", 0, intent="expand")],  # no rollout block (not one of ours)
        [record("y", 0, intent="expand", rollout={"before": {"canaryPercent": True}})],
    ],
    ids=["empty", "no-expand", "expand-at-100", "rejected", "no-rollout", "bool-canary"],
)
def test_no_expand_that_raised_the_canary_is_none(tmp_path, records: list[Any]) -> None:
    history = History(tmp_path)
    history.append(records)

    assert history.ledger().previous_canary() is None


def test_a_match_in_the_active_file_opens_no_sealed_segment_nor_their_index(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = History(tmp_path)
    history.append([*(expand(n, n, n + 1) for n in range(9)), expand(9, 40, 60)], ROTATE)
    assert len(history.sealed()) == 3

    with counting_reads(monkeypatch) as opened:
        assert history.ledger().previous_canary() == 40

    assert sealed_reads(opened) == []
    assert history.segments.name not in opened


def test_the_newest_segment_holding_an_expand_is_the_last_one_read(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = History(tmp_path)
    older = [expand(n, 10, 20) for n in range(6)]  # two segments, never to be opened
    newest = [other(6), expand(7, 20, 35), other(8)]  # the third segment
    history.append([*older, *newest, other(9, "rollback")], ROTATE)
    sealed = history.sealed()
    assert len(sealed) == 3
    for segment in sealed[:2]:  # same size, not JSON: opening one would be telemetry_corrupt
        segment.write_bytes(b"#" * segment.stat().st_size)

    with counting_reads(monkeypatch) as opened:
        assert history.ledger().previous_canary() == 20

    assert sealed_reads(opened) == [sealed[2].name]


def test_an_expand_found_in_an_old_sealed_segment(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = History(tmp_path)
    history.append([expand(0, 5, 10), *(other(n) for n in range(1, 11))], ROTATE)
    sealed = history.sealed()

    with counting_reads(monkeypatch) as opened:
        assert history.ledger().previous_canary() == 5

    assert sealed_reads(opened) == [segment.name for segment in reversed(sealed)]


def test_within_a_file_the_last_appended_expand_wins(tmp_path) -> None:
    history = History(tmp_path)
    # File order, not timestamps: the newest append is what the registry went through last.
    history.append([expand(5, 10, 25), expand(1, 25, 50)])

    assert history.ledger().previous_canary() == 25


def test_a_broken_line_newer_than_the_match_is_telemetry_corrupt(tmp_path) -> None:
    history = History(tmp_path)
    history.append([expand(0, 10, 25)])
    with history.telemetry.open("a") as file:
        file.write('{"status": "applied", "intent": "exp\n')  # a torn line: maybe an expand

    with pytest.raises(RefusalError) as caught:
        history.ledger().previous_canary()
    assert caught.value.reason == "telemetry_corrupt"


def test_a_missing_segment_that_must_be_read_is_telemetry_corrupt(tmp_path) -> None:
    history = History(tmp_path)
    history.append([expand(0, 5, 10), *(other(n) for n in range(1, 6))], ROTATE)
    history.sealed()[0].unlink()

    with pytest.raises(RefusalError) as caught:
        history.ledger().previous_canary()
    assert caught.value.reason == "telemetry_corrupt"


def test_the_answer_sees_records_appended_in_memory(tmp_path) -> None:
    # The loop appends each intent's record before the next intent is decided.
    history = History(tmp_path)
    history.append([expand(0, 10, 25)], ROTATE)
    ledger = history.ledger(ROTATE)
    for n in range(1, 4):
        ledger.append(other(n))
    ledger.append(expand(4, 25, 50))

    assert ledger.previous_canary() == 25
