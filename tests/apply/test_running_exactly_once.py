"""Exactly once in `reconcile apply`, against edits of its key index and its telemetry.

In-process applies on real files with a fixed clock. The index is a cache: a key it lacks is
searched for in the records. Telemetry that lost records the index covered refuses every
apply with a key (`telemetry_corrupt`) and leaves the index alone; a keyless rollback still
pauses; `repair-index` accepts the files as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.inputs.fleet import PathFlags
from reconciler.loop.repair import repair_index
from reconciler.reports import validation
from tests.support import fleet
from tests.support.applying import apply
from tests.support.fleet import FIXED_NOW, SUPERLOOP

TELEMETRY = SUPERLOOP / "telemetry" / "promotion-apply.jsonl"
INDEX = SUPERLOOP / "promotion-apply-index.json"


def refusal(repo: Path, intent: str = "expand", **kw: Any) -> RefusalError:
    with pytest.raises(RefusalError) as caught:
        apply(repo, intent, **kw)
    return caught.value


def telemetry_report(repo: Path) -> dict[str, Any]:
    report: dict[str, Any] = validation.validate_repo(str(repo), PathFlags(), now=lambda: FIXED_NOW)
    telemetry: dict[str, Any] = report["telemetry"]
    return telemetry


def applied(repo: Path, key: str) -> int:
    return sum(
        1
        for record in fleet.telemetry_lines(repo)
        if record["idempotencyKey"] == key and record["status"] == "applied"
    )


@pytest.fixture
def keyed(repo: Path) -> Path:
    """Two applies with keys a and b, and their index."""
    apply(repo, idempotency_key="a")
    apply(repo, "rollback", idempotency_key="b")
    assert (repo / INDEX).exists()
    return repo


def test_a_key_removed_from_the_index_replays(keyed: Path) -> None:
    doc = json.loads((keyed / INDEX).read_text())
    del doc["keys"]["a"]  # size and CRC still match the telemetry
    (keyed / INDEX).write_text(json.dumps(doc))
    report = telemetry_report(keyed)
    assert report["reasonCode"] == "telemetry_index_mismatch"
    assert report["summary"] == (
        f"the key index {keyed / INDEX} disagrees with the records (1 applied key(s) missing, "
        "e.g. 'a'); run `reconcile repair-index`"
    )

    result = apply(keyed, idempotency_key="a")

    assert result.replayed
    assert applied(keyed, "a") == 1


def test_an_index_that_lost_every_key_still_replays_each(keyed: Path) -> None:
    doc = json.loads((keyed / INDEX).read_text())
    doc["keys"] = {}
    (keyed / INDEX).write_text(json.dumps(doc))

    assert apply(keyed, idempotency_key="a").replayed
    assert apply(keyed, "rollback", idempotency_key="b").replayed
    assert not apply(keyed, idempotency_key="c").replayed
    assert [applied(keyed, key) for key in "abc"] == [1, 1, 1]


def test_a_hand_written_record_the_index_does_not_know_replays(keyed: Path) -> None:
    telemetry = keyed / TELEMETRY
    first = json.loads(telemetry.read_text().splitlines()[0])
    hand = json.dumps({**first, "idempotencyKey": "hand"}, indent=None, ensure_ascii=True)
    telemetry.write_text(telemetry.read_text() + hand.replace("hand", "\\u0068and") + "\n")

    assert apply(keyed, idempotency_key="hand").replayed


@pytest.mark.parametrize("keep", [0, 1], ids=["emptied", "last-record-cut"])
def test_truncated_telemetry_refuses_keyed_applies_until_repair_index(
    keyed: Path, keep: int
) -> None:
    telemetry = keyed / TELEMETRY
    telemetry.write_text("".join(telemetry.read_text().splitlines(keepends=True)[:keep]))
    index = (keyed / INDEX).read_bytes()
    registry = (keyed / SUPERLOOP / "registry.v1.json").read_bytes()

    error = refusal(keyed, "resume", idempotency_key="b")

    assert error.reason is ReasonCode.TELEMETRY_CORRUPT
    assert error.message.startswith(f"telemetry file {telemetry} is shorter than its key index")
    assert "run `reconcile repair-index` on purpose" in error.message
    assert (keyed / SUPERLOOP / "registry.v1.json").read_bytes() == registry
    assert refusal(keyed, idempotency_key="new").reason is ReasonCode.TELEMETRY_CORRUPT
    # A rollback, keyed or not, still pauses, and leaves the telemetry and index as they were.
    for key in (None, "b"):
        fleet.write_registry(keyed, canary=25, manual=False)
        before = telemetry.read_bytes()
        record = apply(keyed, "rollback", idempotency_key=key).record
        assert record["rollout"]["after"]["manualPause"] is True
        assert "telemetry_not_appended" in record["reasonCodes"]
        assert telemetry.read_bytes() == before
    assert (keyed / INDEX).read_bytes() == index
    assert telemetry_report(keyed)["reasonCode"] == "telemetry_corrupt"
    assert refusal(keyed, idempotency_key="new").reason is ReasonCode.TELEMETRY_CORRUPT

    repair_index(str(keyed), commit=False, now=lambda: FIXED_NOW)

    assert telemetry_report(keyed)["ok"] is True
    assert not apply(keyed, idempotency_key="new").replayed


def test_a_record_changed_under_the_index_is_corrupt(keyed: Path) -> None:
    telemetry = keyed / TELEMETRY
    text = telemetry.read_text()
    telemetry.write_text(text.replace('"status":"applied"', '"status":"rejectd"', 1))

    assert refusal(keyed, idempotency_key="a").message == (
        f"telemetry file {telemetry} changed within the {len(text)} bytes its key index covers: "
        "applied keys may be missing; check its git history and restore it, or run "
        "`reconcile repair-index` on purpose to accept the files as they are"
    )


def test_records_appended_by_another_writer_are_read(keyed: Path) -> None:
    telemetry = keyed / TELEMETRY
    first = json.loads(telemetry.read_text().splitlines()[0])
    with telemetry.open("a") as handle:
        handle.write(json.dumps({**first, "idempotencyKey": "other"}) + "\n")

    assert apply(keyed, idempotency_key="other").replayed
    assert telemetry_report(keyed)["ok"] is True
