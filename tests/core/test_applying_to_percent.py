"""A rollback's `toPercent` on values: the flag, the target, the mutation, the record (issue 11).

A rollback may lower the canary in the same mutation that pauses; a target it cannot reach
(above the current canary, `previous` with no expand to go back to, telemetry that cannot
tell) is a note and the rollback still pauses, never a refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.core import applying, rules
from reconciler.core.decision import Decision
from reconciler.core.editing import RegistryText
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from tests.support.gitrepos import EXAMPLE

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FILES = {
    "registryFile": "policies/registry.yaml",
    "promotionStateFile": "policies/promotion/decision.json",
    "applyStateFile": "policies/state/promotion-apply-state.json",
    "applyTelemetryFile": "policies/telemetry/promotion-apply.jsonl",
}
EXAMPLE_TEXT = (EXAMPLE / "registry.yaml").read_text()  # canaryPercent: 25, running
ABOVE = ReasonCode.ROLLBACK_TARGET_ABOVE_CURRENT
UNKNOWN = ReasonCode.ROLLBACK_TARGET_UNKNOWN
CORRUPT = RefusalError(ReasonCode.TELEMETRY_CORRUPT, "telemetry file is corrupt: t:3")


def args(intent: str = "rollback", to_percent: str | None = None) -> applying.ApplyArgs:
    return applying.ApplyArgs(
        intent, None, "bob", "INC-9", "spike", "2099-01-01T00:00:00Z", to_percent=to_percent
    )


def request(to_percent: str | None = None, intent: str = "rollback") -> applying.ApplyRequest:
    return applying.validate_args(args(intent, to_percent))


def registry(canary: int = 50, *, manual: bool = False) -> RegistryText:
    text = EXAMPLE_TEXT.replace("canaryPercent: 25 ", f"canaryPercent: {canary} ", 1)
    text = text.replace("manual: false ", f"manual: {'true' if manual else 'false'} ", 1)
    return RegistryText(text, "yaml")


def evaluate(
    to_percent: str | None,
    *,
    canary: int = 50,
    previous: Callable[[], int | None] | None = None,
    **changes: Any,
) -> rules.Verdict:
    values: dict[str, Any] = {
        "request": request(to_percent),
        "trace_id": "trace-1",
        "files": FILES,
        "registry": registry(canary),
        "decision": Decision("hold", "gates-1", "2026-11-24T06:00:00Z"),
        "previous_canary": previous,
    }
    values.update(changes)
    return rules.evaluate(rules.Inputs(**values), lambda: NOW)


# The flag -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("25", 25), ("100", 100), ("025", 25), ("previous", "previous")],
)
def test_a_to_percent_flag_is_a_whole_percentage_or_previous(text: str, value: object) -> None:
    assert applying.parse_to_percent(text) == value
    assert request(text).to_percent == value


@pytest.mark.parametrize(
    "text", ["101", "-1", "25%", "2.5", " 25", "Previous", "prev", "\u0662\u0665", "1" * 7]
)
def test_any_other_to_percent_flag_is_refused_before_anything_is_written(text: str) -> None:
    with pytest.raises(RefusalError) as caught:
        request(text)
    assert caught.value.reason == ReasonCode.TO_PERCENT_INVALID
    assert caught.value.message == (
        "--to-percent must be an integer between 0 and 100, or previous"
    )


@pytest.mark.parametrize("intent", ["expand", "resume"])
def test_to_percent_on_expand_or_resume_is_refused(intent: str) -> None:
    with pytest.raises(RefusalError) as caught:
        request("10", intent)
    assert caught.value.reason == ReasonCode.TO_PERCENT_INVALID
    assert caught.value.message == "--to-percent is only allowed with --intent rollback"


def test_an_empty_to_percent_flag_is_not_given() -> None:
    assert request("").to_percent is None


# The target -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "previous", "target", "notes"),
    [
        (None, None, None, ()),
        (25, None, 25, ()),
        (0, None, 0, ()),
        (50, None, 50, ()),  # the current canary: nothing to lower, no note
        (60, None, None, (ABOVE,)),
        ("previous", 25, 25, ()),
        ("previous", 75, None, (ABOVE,)),  # the canary was lowered by hand since
        ("previous", None, None, (UNKNOWN,)),
    ],
)
def test_the_rollback_target_and_its_notes(
    asked: applying.ToPercent | None,
    previous: int | None,
    target: int | None,
    notes: tuple[ReasonCode, ...],
) -> None:
    wanted = request()._replace(to_percent=asked)
    assert applying.rollback_target(wanted, 50, lambda: previous) == (target, notes)


def test_previous_is_read_only_for_a_previous_rollback() -> None:
    def unexpected() -> int | None:
        raise AssertionError("the records were read")

    assert applying.rollback_target(request("10"), 50, unexpected) == (10, ())
    assert applying.rollback_target(request(), 50, unexpected) == (None, ())


def test_previous_without_a_lookup_or_with_unreadable_telemetry_is_unknown() -> None:
    def corrupt() -> int | None:
        raise CORRUPT

    wanted = request("previous")
    assert applying.rollback_target(wanted, 50, None) == (None, (UNKNOWN,))
    assert applying.rollback_target(wanted, 50, corrupt) == (
        None,
        (UNKNOWN, ReasonCode.TELEMETRY_CORRUPT),
    )


# Through the rules ---------------------------------------------------------------------------


def test_a_rollback_to_25_from_50_lowers_the_canary_and_pauses_in_one_mutation() -> None:
    verdict = evaluate("25")

    record = verdict.record
    assert record["toPercent"] == 25
    assert record["rollout"] == {
        "before": {"canaryPercent": 50, "manualPause": False},
        "after": {"canaryPercent": 25, "manualPause": True},
        "changed": {"canaryPercent": True, "manualPause": True},
    }
    assert record["reasonCodes"] == []
    assert list(record).index("toPercent") == list(record).index("expandStep") + 1
    assert verdict.registry is not None
    before, after = registry(50).text.splitlines(), verdict.registry.text.splitlines()
    pairs = zip(before, after, strict=True)
    changed = {b.split(":")[0].strip(): (b, a) for b, a in pairs if b != a}
    assert set(changed) == {"canaryPercent", "manual", "actor", "approvalRef", "rationale",
                            "changedAt", "reviewBy"}  # fmt: skip
    line, edited = changed["canaryPercent"]
    assert edited == line.replace("canaryPercent: 50", "canaryPercent: 25")  # comment kept


def test_a_rollback_to_0_empties_the_canary() -> None:
    verdict = evaluate("0")
    assert verdict.record["rollout"]["after"] == {"canaryPercent": 0, "manualPause": True}


def test_a_target_above_the_current_canary_pauses_and_leaves_it() -> None:
    verdict = evaluate("60")

    record = verdict.record
    assert verdict.status == "applied"
    assert record["toPercent"] == 60
    assert record["rollout"]["after"] == {"canaryPercent": 50, "manualPause": True}
    assert record["rollout"]["changed"] == {"canaryPercent": False, "manualPause": True}
    assert record["reasonCodes"] == [str(ABOVE)]


def test_previous_goes_back_to_the_canary_before_the_last_raise() -> None:
    record = evaluate("previous", previous=lambda: 25).record
    assert record["toPercent"] == "previous"
    assert record["rollout"]["after"] == {"canaryPercent": 25, "manualPause": True}


@pytest.mark.parametrize("found", [None, CORRUPT], ids=["no-expand", "telemetry-corrupt"])
def test_previous_that_cannot_be_found_pauses_and_notes_it(found: RefusalError | None) -> None:
    def previous() -> int | None:
        if found is not None:
            raise found
        return None

    record = evaluate("previous", previous=previous).record

    assert record["rollout"]["after"] == {"canaryPercent": 50, "manualPause": True}
    codes = {str(UNKNOWN)} | ({str(found.reason)} if found else set())
    assert set(record["reasonCodes"]) == codes


def test_a_rollback_without_a_target_has_no_to_percent_field() -> None:
    record = evaluate(None).record
    assert "toPercent" not in record
    assert record["rollout"]["after"] == {"canaryPercent": 50, "manualPause": True}


def test_an_already_paused_fleet_still_has_its_canary_lowered() -> None:
    verdict = evaluate("10", registry=registry(50, manual=True))
    assert verdict.record["rollout"]["changed"] == {"canaryPercent": True, "manualPause": False}
    assert verdict.record["reasonCodes"] == []


def test_a_replayed_rollback_key_replays_its_record_and_reads_no_target() -> None:
    prior = evaluate("25").record

    def unexpected() -> int | None:
        raise AssertionError("the records were read")

    verdict = evaluate(
        "previous",
        previous=unexpected,
        registry=registry(25, manual=True),
        prior=prior,
        request=request("previous")._replace(idempotency_key="inc-9"),
    )

    assert verdict.status == "replayed"
    assert verdict.record["toPercent"] == 25
    assert ReasonCode.IDEMPOTENCY_REQUEST_MISMATCH in verdict.record["reasonCodes"]


@pytest.mark.parametrize(
    ("first", "again", "mismatch"),
    [(25, 25, False), ("previous", "previous", False), (25, 10, True), (None, 10, True),
     (25, None, True)],
)  # fmt: skip
def test_a_replay_with_another_rollback_target_is_a_request_mismatch(
    first: applying.ToPercent | None, again: applying.ToPercent | None, mismatch: bool
) -> None:
    prior = {"intent": "rollback", **({"toPercent": first} if first is not None else {})}
    wanted = request()._replace(to_percent=again)
    assert applying.is_request_mismatch(prior, wanted) is mismatch
