"""The one vocabulary of human output (docs/output.md): pause, changes, times, absences."""

from __future__ import annotations

import pytest

from reconciler.render import vocabulary as words


@pytest.mark.parametrize(
    ("value", "shown"), [(True, "paused"), (False, "running"), (None, "-"), ("maybe", "maybe")]
)
def test_the_manual_pause_is_a_word(value: object, shown: str) -> None:
    assert words.pause(value) == shown


def test_a_change_is_before_arrow_after() -> None:
    assert words.canary_change({"before": 25, "after": 50}) == "25% -> 50%"
    assert words.pause_change({"before": False, "after": True}) == "running -> paused"
    assert words.pause_change({"before": True, "after": True}) == "paused -> paused"
    # An unparsed trailer (history): no arrow, the text as written.
    assert words.canary_change({"before": "?", "after": None}) == "?"
    assert words.canary_change(None) == words.pause_change(None) == "-"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-11-02T11:30:00+02:00", "2026-11-02T09:30:00Z"),
        ("2026-11-02T09:30:00.5z", "2026-11-02T09:30:00Z"),
        ("2026-11-02T09:30:00Z", "2026-11-02T09:30:00Z"),
        ("next tuesday", "next tuesday"),  # not a time: as typed
        (None, "-"),
        ("", "-"),
    ],
)
def test_a_time_is_utc_with_z(value: str | None, shown: str) -> None:
    assert words.utc_time(value) == shown


def test_commits_reasons_and_absences() -> None:
    assert words.short_commit("0123456789abcdef0123") == "0123456789ab"
    assert words.short_commit(None) == words.short_commit("") == "-"
    assert words.reasons(["a_b", "c"]) == "a_b, c"
    assert words.reasons([]) == "-"
    assert words.percent(0) == "0%" and words.percent(True) == "True"
    assert words.shown(0) == "0" and words.shown("") == "-"
