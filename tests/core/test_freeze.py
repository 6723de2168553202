"""Freeze windows (issue 11): parsing, [start, end), cron + wall-clock duration + zone, DST."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reconciler.core import freeze, freeze_parsing, jsontext
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Calendar, Window
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_timestamp, parse_timestamp

SOURCE = "policies/freeze.yaml"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SECOND = timedelta(seconds=1)

YEAR_END = {
    "name": "year-end",
    "start": "2026-12-20T00:00:00Z",
    "end": "2027-01-04T00:00:00Z",
    "reason": "Year-end change freeze (CAB-900)",
}
WEEKENDS = {
    "name": "weekends",
    "cron": "0 18 * * FRI",
    "duration": "62h",
    "timezone": "Europe/Berlin",
    "reason": "No rollouts over the weekend",
}
BUSINESS_HOURS = {
    "name": "business-hours",
    "kind": "allow",
    "cron": "0 8 * * MON-FRI",
    "duration": "10h",
    "timezone": "America/New_York",
    "reason": "Progress only while people are at work",
}
NIGHTLY = {"name": "nightly", "cron": "0 23 * * *", "duration": "2h", "reason": "Backups"}


def at(text: str) -> datetime:
    moment = parse_timestamp(text)
    assert moment is not None, text
    return moment


def calendar(*windows: Mapping[str, object]) -> Calendar:
    return freeze_parsing.parse_calendar({"windows": list(windows)}, SOURCE)


def spans(found: Calendar, moment: datetime) -> list[tuple[str, str, str]]:
    return [
        (
            occurrence.window.name,
            format_timestamp(occurrence.start),
            format_timestamp(occurrence.end),
        )
        for occurrence in freeze.active(found, moment)
    ]


def opens(found: Calendar, moment: datetime) -> str | None:
    when = freeze.next_open(found, moment)
    return None if when is None else format_timestamp(when)


def problems(doc: object) -> list[str]:
    with pytest.raises(RefusalError) as caught:
        freeze_parsing.parse_calendar(doc, SOURCE)
    assert caught.value.reason is ReasonCode.FREEZE_FILE_INVALID
    assert caught.value.message == f"invalid freeze file: {SOURCE}"
    assert caught.value.path == SOURCE
    assert all("\n" not in line for line in caught.value.details)
    return list(caught.value.details)


# Reading the file ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            YEAR_END,
            Window(
                "year-end",
                "deny",
                "Year-end change freeze (CAB-900)",
                start=at("2026-12-20T00:00:00Z"),
                end=at("2027-01-04T00:00:00Z"),
            ),
            id="start and end",
        ),
        pytest.param(
            {"startAt": "2026-12-20T00:00:00Z", "endAt": "2027-01-04T00:00:00Z", "reason": "R"},
            Window("window-1", "deny", "R",
                   start=at("2026-12-20T00:00:00Z"), end=at("2027-01-04T00:00:00Z")),
            id="the bash controller's startAt and endAt, no name",
        ),
        pytest.param(
            {"name": "mixed", "start": "2026-12-20T01:00:00+01:00",
             "endAt": "2026-12-21T00:00:00Z"},
            Window("mixed", "deny", "",
                   start=at("2026-12-20T00:00:00Z"), end=at("2026-12-21T00:00:00Z")),
            id="start with endAt, an offset read as UTC, no reason",
        ),
        pytest.param(
            WEEKENDS,
            Window(
                "weekends",
                "deny",
                "No rollouts over the weekend",
                cron="0 18 * * FRI",
                duration=timedelta(hours=62),
                timezone="Europe/Berlin",
            ),
            id="recurring in a zone",
        ),
        pytest.param(
            BUSINESS_HOURS,
            Window(
                "business-hours",
                "allow",
                "Progress only while people are at work",
                cron="0 8 * * MON-FRI",
                duration=timedelta(hours=10),
                timezone="America/New_York",
            ),
            id="recurring allow window",
        ),
        pytest.param(
            {"name": "n", "cron": "0 23 * * *", "duration": 7200},
            Window("n", "deny", "", cron="0 23 * * *", duration=timedelta(hours=2)),
            id="recurring, UTC by default, duration as a number of seconds",
        ),
        pytest.param(
            {"name": "n", "kind": "deny", "cron": "30 1 * * *", "duration": "1h30m"},
            Window("n", "deny", "", cron="30 1 * * *", duration=timedelta(minutes=90)),
            id="explicit deny, compound duration",
        ),
    ],
)  # fmt: skip
def test_a_window_is_read_as_the_file_declares_it(
    entry: dict[str, object], expected: Window
) -> None:
    assert calendar(entry).windows == (expected,)


def test_the_bash_controllers_json_freeze_file_is_read_unchanged() -> None:
    text = (
        '{"windows": [{"startAt": "2026-12-20T00:00:00Z", "endAt": "2027-01-04T00:00:00Z", '
        '"reason": "Year-end"}, {"startAt": "2027-02-01T00:00:00Z", '
        '"endAt": "2027-02-02T00:00:00Z", "reason": "Migration"}]}'
    )
    found = freeze_parsing.parse_calendar(jsontext.load_json(text), "freeze.json")

    assert [(w.name, w.kind, w.label) for w in found.windows] == [
        ("window-1", "deny", "window-1 (Year-end)"),
        ("window-2", "deny", "window-2 (Migration)"),
    ]
    block = freeze.blocked(found, at("2026-12-24T10:00:00Z"))
    assert block is not None
    assert block.message == "freeze window window-1 (Year-end) until 2027-01-04T00:00:00Z"


@pytest.mark.parametrize(
    "doc",
    [None, {}, {"windows": None}, {"windows": []}],
    ids=["no document", "empty mapping", "windows null", "windows empty"],
)
def test_a_file_without_windows_is_an_empty_calendar(doc: object) -> None:
    found = freeze_parsing.parse_calendar(doc, SOURCE)
    assert found == Calendar()
    assert not found.has_allow
    assert freeze.blocked(found, at("2026-11-24T12:00:00Z")) is None
    assert opens(found, at("2026-11-24T12:00:00Z")) == "2026-11-24T12:00:00Z"
    assert freeze.upcoming(found, at("2026-11-24T12:00:00Z")) is None


def test_a_label_is_the_name_and_the_reason_or_the_name_alone() -> None:
    assert Window("a", "deny", "why").label == "a (why)"
    assert Window("a", "deny", "").label == "a"


def test_a_calendar_limits_progression_to_allow_windows_only_when_it_has_one() -> None:
    assert not calendar(YEAR_END, WEEKENDS).has_allow
    assert calendar(YEAR_END, BUSINESS_HOURS).has_allow


def test_two_hundred_windows_are_allowed() -> None:
    entries = [dict(YEAR_END, name=f"w{n}") for n in range(freeze_parsing.MAX_WINDOWS)]
    assert len(calendar(*entries).windows) == freeze_parsing.MAX_WINDOWS


# Validation: one line per problem -------------------------------------------------------------

CRON_SHAPE = "cron must be a 5-field cron expression such as '0 18 * * FRI'"
DURATION_RANGE = "duration must be a duration between 1s and 366d, e.g. 62h"
START_FORMAT = "start must be an RFC 3339 time such as 2026-12-20T00:00:00Z"
END_FORMAT = "end must be an RFC 3339 time such as 2026-12-20T00:00:00Z"
TEXT_SHAPE = "must be a non-empty string of at most 200 characters"
ONE_LINE = "must be one line without control characters"


def entry(**fields: object) -> dict[str, object]:
    return {"windows": [{"name": "w", **fields}]}


def recurring(**fields: object) -> dict[str, object]:
    return entry(**{"cron": "0 18 * * FRI", "duration": "62h", **fields})


def absolute(**fields: object) -> dict[str, object]:
    return entry(**{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", **fields})


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # The document.
        pytest.param(["a"], ["the document must be a mapping with a `windows` list"], id="a list"),
        pytest.param("windows", ["the document must be a mapping with a `windows` list"],
                     id="a string"),
        pytest.param({"windows": {"name": "w"}}, ["windows must be a list"],
                     id="windows a mapping"),
        pytest.param({"windows": "none"}, ["windows must be a list"], id="windows a string"),
        pytest.param({"windows": [], "freeze": True}, ['unknown key "freeze" (only `windows`)'],
                     id="unknown top-level key"),
        pytest.param({"window": [YEAR_END], "windows": 3},
                     ['unknown key "window" (only `windows`)', "windows must be a list"],
                     id="unknown key and windows not a list"),
        pytest.param({"windows": [YEAR_END] * 51}, ["at most 50 windows are allowed"],
                     id="too many windows"),
        pytest.param({"windows": ["year-end"]}, ["windows[0] must be a mapping"],
                     id="an entry not a mapping"),
        pytest.param({"windows": [YEAR_END, None]}, ["windows[1] must be a mapping"],
                     id="a null entry"),
        # Keys.
        pytest.param(absolute(until="2027-01-04T00:00:00Z"), ['windows[0]: unknown key "until"'],
                     id="unknown key"),
        pytest.param(entry(reason="r"),
                     ["windows[0] (w): give start and end, or cron and duration"],
                     id="neither absolute nor recurring"),
        pytest.param(absolute(cron="0 18 * * FRI"),
                     ["windows[0] (w): give start/end or cron/duration, not both"],
                     id="both start and cron"),
        pytest.param(absolute(duration="1h"),
                     ["windows[0] (w): give start/end or cron/duration, not both"],
                     id="both end and duration"),
        pytest.param(absolute(startAt="2026-12-20T00:00:00Z"),
                     ["windows[0] (w): give start or startAt, not both"],
                     id="both start and startAt"),
        pytest.param(absolute(endAt="2027-01-04T00:00:00Z"),
                     ["windows[0] (w): give end or endAt, not both"], id="both end and endAt"),
        # Text fields.
        pytest.param(absolute(kind="block"), ["windows[0] (w): kind must be deny or allow"],
                     id="unknown kind"),
        pytest.param(absolute(kind=None), ["windows[0] (w): kind must be deny or allow"],
                     id="null kind"),
        pytest.param(absolute(name="a\nb"), [f"windows[0]: name {ONE_LINE}"],
                     id="newline in name"),
        pytest.param(absolute(name="a\tb"), [f"windows[0]: name {ONE_LINE}"], id="tab in name"),
        pytest.param(absolute(reason="freeze\x1b[31m"), [f"windows[0] (w): reason {ONE_LINE}"],
                     id="escape in reason"),
        pytest.param(absolute(reason="a\x7fb"), [f"windows[0] (w): reason {ONE_LINE}"],
                     id="delete in reason"),
        pytest.param(absolute(reason="line\r"), [f"windows[0] (w): reason {ONE_LINE}"],
                     id="carriage return in reason"),
        pytest.param(absolute(name=""), [f"windows[0]: name {TEXT_SHAPE}"], id="empty name"),
        pytest.param(absolute(name="  "), [f"windows[0]: name {TEXT_SHAPE}"], id="blank name"),
        pytest.param(absolute(name=7), [f"windows[0]: name {TEXT_SHAPE}"], id="number as name"),
        pytest.param(absolute(reason="x" * 201), [f"windows[0] (w): reason {TEXT_SHAPE}"],
                     id="over-long reason"),
        # Absolute windows.
        pytest.param(absolute(end="2026-12-19T00:00:00Z"),
                     ["windows[0] (w): end 2026-12-19T00:00:00Z must be after start"],
                     id="end before start"),
        pytest.param(absolute(end="2026-12-20T00:00:00Z"),
                     ["windows[0] (w): end 2026-12-20T00:00:00Z must be after start"],
                     id="end equal to start"),
        pytest.param(absolute(end="2026-12-20T01:00:00+01:00"),
                     ["windows[0] (w): end 2026-12-20T00:00:00Z must be after start"],
                     id="end equal to start in another offset"),
        pytest.param(entry(end="2027-01-04T00:00:00Z"), [f"windows[0] (w): {START_FORMAT}"],
                     id="start missing"),
        pytest.param(entry(startAt="2026-12-20T00:00:00Z"), [f"windows[0] (w): {END_FORMAT}"],
                     id="endAt missing"),
        pytest.param(absolute(start="tomorrow"), [f"windows[0] (w): {START_FORMAT}"],
                     id="start not a time"),
        pytest.param(absolute(start="2026-12-20"), [f"windows[0] (w): {START_FORMAT}"],
                     id="start a date only"),
        pytest.param(absolute(end="2027-02-30T00:00:00Z"), [f"windows[0] (w): {END_FORMAT}"],
                     id="end an impossible date"),
        pytest.param(absolute(start=None, end=None),
                     [f"windows[0] (w): {START_FORMAT}", f"windows[0] (w): {END_FORMAT}"],
                     id="both null"),
        # Recurring windows.
        pytest.param(recurring(cron="0 25 * * *"),
                     ["windows[0] (w): cron '0 25 * * *' is invalid: Bad hour"], id="hour 25"),
        pytest.param(recurring(cron="61 * * * *"),
                     ["windows[0] (w): cron '61 * * * *' is invalid: Bad minute"], id="minute 61"),
        pytest.param(recurring(cron="0 18 * * FRY"),
                     ["windows[0] (w): cron '0 18 * * FRY' is invalid: Bad day-of-week"],
                     id="misspelt weekday"),
        pytest.param(recurring(cron="0 0 30 2 *"),
                     ["windows[0] (w): cron '0 0 30 2 *' is invalid: Bad day-of-month"],
                     id="a day that never comes"),
        pytest.param(recurring(cron="0 0 18 * * FRI"), [f"windows[0] (w): {CRON_SHAPE}"],
                     id="six fields"),
        pytest.param(recurring(cron="0 18 * *"), [f"windows[0] (w): {CRON_SHAPE}"],
                     id="four fields"),
        pytest.param(recurring(cron="@weekly"), [f"windows[0] (w): {CRON_SHAPE}"], id="a macro"),
        pytest.param(recurring(cron=""), [f"windows[0] (w): {CRON_SHAPE}"], id="empty cron"),
        pytest.param(recurring(cron=5), [f"windows[0] (w): {CRON_SHAPE}"], id="cron a number"),
        pytest.param(entry(duration="62h"), [f"windows[0] (w): {CRON_SHAPE}"], id="cron missing"),
        pytest.param(recurring(timezone="Mars/Olympus"),
                     ["windows[0] (w): timezone 'Mars/Olympus' is not a known IANA time zone"],
                     id="unknown time zone"),
        pytest.param(recurring(timezone="CEST"),
                     ["windows[0] (w): timezone 'CEST' is not a known IANA time zone"],
                     id="an abbreviation"),
        pytest.param(recurring(timezone="../../etc/passwd"),
                     ["windows[0] (w): timezone '../../etc/passwd' is not a known IANA time zone"],
                     id="a path"),
        pytest.param(recurring(timezone="/usr/share/zoneinfo/UTC"),
                     ["windows[0] (w): timezone '/usr/share/zoneinfo/UTC' is not a known IANA "
                      "time zone"],
                     id="an absolute path"),
        pytest.param(recurring(timezone=""),
                     ["windows[0] (w): timezone '' is not a known IANA time zone"],
                     id="empty time zone"),
        pytest.param(recurring(timezone=1),
                     ["windows[0] (w): timezone 1 is not a known IANA time zone"],
                     id="time zone a number"),
        pytest.param(recurring(timezone="Nowhere", cron="0 25 * * *"),
                     ["windows[0] (w): timezone 'Nowhere' is not a known IANA time zone"],
                     id="unknown time zone hides the cron check"),
        pytest.param(recurring(duration=None),
                     ["windows[0] (w): duration is required with cron (e.g. 62h)"],
                     id="duration null"),
        pytest.param(entry(cron="0 18 * * FRI"),
                     ["windows[0] (w): duration is required with cron (e.g. 62h)"],
                     id="duration missing"),
        pytest.param(recurring(duration="0s"), [f"windows[0] (w): {DURATION_RANGE}"],
                     id="zero duration"),
        pytest.param(recurring(duration=0), [f"windows[0] (w): {DURATION_RANGE}"],
                     id="zero seconds"),
        pytest.param(recurring(duration="367d"), [f"windows[0] (w): {DURATION_RANGE}"],
                     id="over-long duration"),
        pytest.param(recurring(duration="-1h"), [f"windows[0] (w): {DURATION_RANGE}"],
                     id="negative duration"),
        pytest.param(recurring(duration="a weekend"), [f"windows[0] (w): {DURATION_RANGE}"],
                     id="duration not a duration"),
        pytest.param(recurring(duration=True), [f"windows[0] (w): {DURATION_RANGE}"],
                     id="duration a boolean"),
        pytest.param(entry(timezone="UTC"),
                     [f"windows[0] (w): {CRON_SHAPE}",
                      "windows[0] (w): duration is required with cron (e.g. 62h)"],
                     id="a time zone alone"),
        # Several problems: every one, in order, each naming its window.
        pytest.param(
            {"windows": [
                {"name": "a", "cron": "0 25 * * *", "duration": "0s", "colour": "red"},
                YEAR_END,
                {"startAt": "2027-02-02T00:00:00Z", "endAt": "2027-02-01T00:00:00Z"},
                {"name": "d", "cron": "0 18 * * FRI", "duration": "62h", "timezone": "Mars/X",
                 "reason": "bad\x00"},
            ], "owner": "me"},
            [
                'unknown key "owner" (only `windows`)',
                'windows[0]: unknown key "colour"',
                "windows[0] (a): cron '0 25 * * *' is invalid: Bad hour",
                f"windows[0] (a): {DURATION_RANGE}",
                "windows[2]: end 2027-02-01T00:00:00Z must be after start",
                f"windows[3] (d): reason {ONE_LINE}",
                "windows[3] (d): timezone 'Mars/X' is not a known IANA time zone",
            ],
            id="several problems in several windows",
        ),
    ],
)  # fmt: skip
def test_an_invalid_freeze_file_is_refused_with_one_line_per_problem(
    doc: object, expected: list[str]
) -> None:
    assert problems(doc) == expected


@pytest.mark.parametrize(
    "cron",
    ["0 18 * * FRI", "*/15 9-17 * * 1-5", "0 0 29 2 *", "0 0 L * *", "0 0 * * *"],
    ids=["weekday name", "ranges and steps", "leap day", "last day of month", "midnight"],
)
def test_a_valid_five_field_cron_is_accepted(cron: str) -> None:
    assert calendar({"name": "w", "cron": cron, "duration": "10m"}).windows[0].cron == cron


# [start, end) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "active"),
    [
        ("2026-12-19T23:59:59Z", False),
        ("2026-12-20T00:00:00Z", True),
        ("2026-12-27T12:00:00Z", True),
        ("2027-01-03T23:59:59.999999Z", True),
        ("2027-01-04T00:00:00Z", False),
    ],
    ids=["a second before start", "at start", "inside", "a microsecond before end", "at end"],
)
def test_an_absolute_window_is_active_from_its_start_up_to_but_not_at_its_end(
    moment: str, active: bool
) -> None:
    expected = [("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z")] if active else []
    assert spans(calendar(YEAR_END), at(moment)) == expected


@pytest.mark.parametrize(
    ("moment", "active"),
    [
        ("2026-11-27T16:59:59Z", False),
        ("2026-11-27T17:00:00Z", True),
        ("2026-11-29T12:00:00Z", True),
        ("2026-11-30T06:59:59Z", True),
        ("2026-11-30T07:00:00Z", False),
    ],
    ids=["a second before start", "at start", "inside", "a second before end", "at end"],
)
def test_a_recurring_window_is_active_from_its_start_up_to_but_not_at_its_end(
    moment: str, active: bool
) -> None:
    expected = [("weekends", "2026-11-27T17:00:00Z", "2026-11-30T07:00:00Z")] if active else []
    assert spans(calendar(WEEKENDS), at(moment)) == expected


# DST: the duration is counted on the wall clock of the window's zone -------------------------


@pytest.mark.parametrize(
    ("inside", "start", "end", "hours"),
    [
        ("2027-03-27T12:00:00Z", "2027-03-26T17:00:00Z", "2027-03-29T06:00:00Z", 61),
        ("2026-10-24T12:00:00Z", "2026-10-23T16:00:00Z", "2026-10-26T07:00:00Z", 63),
        ("2027-10-30T12:00:00Z", "2027-10-29T16:00:00Z", "2027-11-01T07:00:00Z", 63),
        ("2026-11-28T12:00:00Z", "2026-11-27T17:00:00Z", "2026-11-30T07:00:00Z", 62),
        ("2027-07-03T12:00:00Z", "2027-07-02T16:00:00Z", "2027-07-05T06:00:00Z", 62),
    ],
    ids=[
        "spring forward 2027",
        "fall back 2026",
        "fall back 2027",
        "winter weekend",
        "summer weekend",
    ],
)
def test_a_weekend_freeze_runs_from_friday_18_00_to_monday_08_00_berlin_time_across_dst(
    inside: str, start: str, end: str, hours: int
) -> None:
    found = calendar(WEEKENDS)
    assert spans(found, at(inside)) == [("weekends", start, end)]
    (occurrence,) = freeze.active(found, at(inside))
    local_start, local_end = occurrence.start.astimezone(BERLIN), occurrence.end.astimezone(BERLIN)
    assert (local_start.strftime("%a %H:%M"), local_end.strftime("%a %H:%M")) == (
        "Fri 18:00",
        "Mon 08:00",
    )
    assert occurrence.end - occurrence.start == timedelta(hours=hours)
    # [start, end) holds on the real clock too.
    assert spans(found, at(start) - SECOND) == []
    assert spans(found, at(end) - SECOND) == [("weekends", start, end)]
    assert spans(found, at(end)) == []
    assert opens(found, at(inside)) == end


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2027-03-28T00:59:59Z", []),
        ("2027-03-28T01:00:00Z", [("w", "2027-03-28T01:00:00Z", "2027-03-28T02:00:00Z")]),
        ("2027-03-29T00:30:00Z", [("w", "2027-03-29T00:30:00Z", "2027-03-29T01:30:00Z")]),
    ],
    ids=["before", "02:30 does not exist: it starts at 03:00 CEST", "the next day at 02:30"],
)
def test_a_start_in_the_skipped_hour_of_spring_forward_runs_when_the_clock_resumes(
    moment: str, expected: list[tuple[str, str, str]]
) -> None:
    found = calendar(
        {"name": "w", "cron": "30 2 * * *", "duration": "1h", "timezone": "Europe/Berlin"}
    )
    assert spans(found, at(moment)) == expected


BERLIN_FOLD = ("45 2 * * *", "Europe/Berlin", ("2026-10-25T00:45:00Z", "2026-10-25T11:45:00Z"))
NEW_YORK_FOLD = ("45 1 * * *", "America/New_York", ("2026-11-01T05:45:00Z", "2026-11-01T16:45:00Z"))


@pytest.mark.parametrize(
    ("window", "moment"),
    [
        pytest.param(BERLIN_FOLD, "2026-10-25T00:45:00Z", id="Berlin, at the start"),
        pytest.param(BERLIN_FOLD, "2026-10-25T01:00:00Z", id="Berlin, 02:00 CET, second pass"),
        pytest.param(BERLIN_FOLD, "2026-10-25T01:15:00Z",
                     id="Berlin, 02:15 CET, before 02:45 on the wall clock"),
        pytest.param(BERLIN_FOLD, "2026-10-25T01:50:00Z", id="Berlin, after the repeated hour"),
        pytest.param(BERLIN_FOLD, "2026-10-25T11:44:59Z", id="Berlin, a second before the end"),
        pytest.param(NEW_YORK_FOLD, "2026-11-01T06:15:00Z", id="New York, 01:15 EST, second pass"),
        pytest.param(NEW_YORK_FOLD, "2026-11-01T06:50:00Z", id="New York, 01:50 EST"),
    ],
)  # fmt: skip
def test_a_window_starting_in_the_repeated_hour_of_fall_back_has_no_hole(
    window: tuple[str, str, tuple[str, str]], moment: str
) -> None:
    cron, zone, (start, end) = window
    found = calendar({"name": "w", "cron": cron, "duration": "10h", "timezone": zone})
    assert spans(found, at(moment)) == [("w", start, end)]
    assert opens(found, at(moment)) == end


@pytest.mark.parametrize(
    "moment", ["2026-10-25T01:00:00Z", "2026-10-25T01:15:00Z", "2026-10-25T02:14:59Z"]
)
def test_next_open_never_answers_a_moment_before_the_one_asked_about(moment: str) -> None:
    found = calendar(
        {
            "name": "a",
            "kind": "allow",
            "cron": "45 2 * * *",
            "duration": "30m",
            "timezone": "Europe/Berlin",
        }
    )
    assert freeze.blocked(found, at(moment)) is None
    assert opens(found, at(moment)) == moment


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-10-25T00:10:00Z", ("2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z")),  # 02:00 CEST
        ("2026-10-25T01:10:00Z", ("2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z")),  # 02:00 CET
        ("2026-10-25T02:10:00Z", ("2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z")),  # 03:00 CET
    ],
    ids=["first pass", "second pass", "after"],
)
def test_an_hourly_window_in_the_repeated_hour_keeps_its_side_of_the_fold(
    moment: str, expected: tuple[str, str]
) -> None:
    found = calendar(
        {"name": "h", "cron": "0 * * * *", "duration": "30m", "timezone": "Europe/Berlin"}
    )
    assert spans(found, at(moment)) == [("h", *expected)]
    assert opens(found, at(moment)) == expected[1]


# Around midnight UTC --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected", "open_at"),
    [
        ("2026-11-24T22:59:59Z", None, "2026-11-24T22:59:59Z"),
        ("2026-11-24T23:00:00Z", ("2026-11-24T23:00:00Z", "2026-11-25T01:00:00Z"),
         "2026-11-25T01:00:00Z"),
        ("2026-11-25T00:00:00Z", ("2026-11-24T23:00:00Z", "2026-11-25T01:00:00Z"),
         "2026-11-25T01:00:00Z"),
        ("2026-11-25T00:59:59Z", ("2026-11-24T23:00:00Z", "2026-11-25T01:00:00Z"),
         "2026-11-25T01:00:00Z"),
        ("2026-11-25T01:00:00Z", None, "2026-11-25T01:00:00Z"),
        ("2027-01-01T00:30:00Z", ("2026-12-31T23:00:00Z", "2027-01-01T01:00:00Z"),
         "2027-01-01T01:00:00Z"),
        ("2026-12-01T00:30:00Z", ("2026-11-30T23:00:00Z", "2026-12-01T01:00:00Z"),
         "2026-12-01T01:00:00Z"),
    ],
    ids=["before", "at start", "at midnight", "a second before end", "at end",
         "across the new year", "across a month end"],
)  # fmt: skip
def test_a_nightly_window_spans_midnight_utc(
    moment: str, expected: tuple[str, str] | None, open_at: str
) -> None:
    found = calendar(NIGHTLY)
    assert spans(found, at(moment)) == ([("nightly", *expected)] if expected else [])
    block = freeze.blocked(found, at(moment))
    if expected is None:
        assert block is None
    else:
        assert block is not None
        assert block.reason is ReasonCode.GUARD_FREEZE_WINDOW
        assert block.message == f"freeze window nightly (Backups) until {expected[1]}"
        assert block.occurrence is not None and block.occurrence.window.name == "nightly"
    assert opens(found, at(moment)) == open_at


# Allow windows, and deny winning over them ------------------------------------------------------

ALLOW_NAMES = "business-hours (Progress only while people are at work)"


@pytest.mark.parametrize(
    ("moment", "open_at"),
    [
        ("2026-11-24T12:59:59Z", "2026-11-24T13:00:00Z"),  # Tue 07:59:59 EST
        ("2026-11-24T13:00:00Z", None),  # Tue 08:00 EST
        ("2026-11-24T22:59:59Z", None),
        ("2026-11-24T23:00:00Z", "2026-11-25T13:00:00Z"),  # Tue 18:00 EST
        ("2026-11-27T23:00:00Z", "2026-11-30T13:00:00Z"),  # Fri 18:00 EST: Monday
        ("2026-11-28T15:00:00Z", "2026-11-30T13:00:00Z"),  # Saturday
        ("2026-03-06T23:00:00Z", "2026-03-09T12:00:00Z"),  # Friday EST, Monday 08:00 EDT
        ("2026-10-30T22:00:00Z", "2026-11-02T13:00:00Z"),  # Friday EDT, Monday 08:00 EST
    ],
    ids=["before 08:00", "at 08:00", "before 18:00", "at 18:00", "friday evening", "saturday",
         "across spring forward", "across fall back"],
)  # fmt: skip
def test_with_an_allow_window_progression_happens_only_while_it_is_active(
    moment: str, open_at: str | None
) -> None:
    found = calendar(BUSINESS_HOURS)
    block = freeze.blocked(found, at(moment))
    if open_at is None:
        assert block is None
        assert opens(found, at(moment)) == moment
        return
    assert block is not None
    assert block.reason is ReasonCode.GUARD_OUTSIDE_ALLOW_WINDOW
    assert block.occurrence is None
    assert (
        block.message == f"outside every allow window ({ALLOW_NAMES}); the next opens at {open_at}"
    )
    assert opens(found, at(open_at)) == open_at
    assert opens(found, at(moment)) == open_at
    assert at(open_at).astimezone(NEW_YORK).strftime("%H:%M") == "08:00"


def test_any_of_several_allow_windows_lets_progression_happen() -> None:
    found = calendar(
        BUSINESS_HOURS,
        {"name": "sat", "kind": "allow", "cron": "0 10 * * SAT", "duration": "2h"},
    )
    assert freeze.blocked(found, at("2026-11-28T11:00:00Z")) is None
    block = freeze.blocked(found, at("2026-11-28T12:00:00Z"))
    assert block is not None
    assert block.message == (
        f"outside every allow window ({ALLOW_NAMES}, sat); the next opens at 2026-11-30T13:00:00Z"
    )
    assert opens(found, at("2026-11-27T23:30:00Z")) == "2026-11-28T10:00:00Z"


def test_a_recurring_allow_window_more_than_a_year_away_does_not_open_within_the_horizon() -> None:
    found = calendar({"name": "leap", "kind": "allow", "cron": "0 0 29 2 *", "duration": "1d"})
    block = freeze.blocked(found, at("2026-11-24T12:00:00Z"))
    assert block is not None
    assert block.message == "outside every allow window (leap); none opens within a year"
    assert freeze.next_open(found, at("2026-11-24T12:00:00Z")) is None
    assert opens(found, at("2027-03-01T00:00:00Z")) == "2028-02-29T00:00:00Z"


def test_an_allow_window_that_never_opens_again_leaves_progression_closed() -> None:
    found = calendar(
        {
            "name": "once",
            "kind": "allow",
            "start": "2026-01-01T00:00:00Z",
            "end": "2026-01-02T00:00:00Z",
        }
    )
    block = freeze.blocked(found, at("2026-11-24T12:00:00Z"))
    assert block is not None
    assert block.reason is ReasonCode.GUARD_OUTSIDE_ALLOW_WINDOW
    assert block.message == "outside every allow window (once); none opens within a year"
    assert freeze.next_open(found, at("2026-11-24T12:00:00Z")) is None


@pytest.mark.parametrize(
    ("moment", "message", "open_at"),
    [
        pytest.param(
            "2026-12-22T15:00:00Z",
            "freeze window year-end (Year-end change freeze (CAB-900)) until 2027-01-04T00:00:00Z",
            "2027-01-04T13:00:00Z",
            id="a deny inside business hours, open on the first business morning after it",
        ),
        pytest.param(
            "2026-12-19T23:00:00Z",
            f"outside every allow window ({ALLOW_NAMES}); the next opens at 2027-01-04T13:00:00Z",
            "2027-01-04T13:00:00Z",
            id="outside allow windows, and the next allow start lies in a freeze",
        ),
    ],
)
def test_an_active_deny_window_wins_over_an_active_allow_window(
    moment: str, message: str, open_at: str
) -> None:
    found = calendar(YEAR_END, BUSINESS_HOURS)
    block = freeze.blocked(found, at(moment))
    assert block is not None
    assert block.message == message
    assert opens(found, at(moment)) == open_at


def test_a_lunch_freeze_inside_business_hours_holds_until_lunch_ends() -> None:
    lunch = {
        "name": "lunch",
        "cron": "0 12 * * *",
        "duration": "1h",
        "timezone": "America/New_York",
    }
    found = calendar(BUSINESS_HOURS, lunch)
    block = freeze.blocked(found, at("2026-11-24T17:30:00Z"))  # 12:30 EST, inside both
    assert block is not None
    assert block.reason is ReasonCode.GUARD_FREEZE_WINDOW
    assert block.message == "freeze window lunch until 2026-11-24T18:00:00Z"
    assert {o.window.name for o in freeze.active(found, at("2026-11-24T17:30:00Z"))} == {
        "business-hours",
        "lunch",
    }
    assert opens(found, at("2026-11-24T17:30:00Z")) == "2026-11-24T18:00:00Z"


# next_open across consecutive and overlapping windows ----------------------------------------


def window(name: str, start: str, end: str, **more: object) -> dict[str, object]:
    return {"name": name, "start": start, "end": end, **more}


@pytest.mark.parametrize(
    ("windows", "moment", "open_at"),
    [
        pytest.param([window("a", "2026-11-24T10:00:00Z", "2026-11-24T12:00:00Z"),
                      window("b", "2026-11-24T12:00:00Z", "2026-11-24T14:00:00Z")],
                     "2026-11-24T11:00:00Z", "2026-11-24T14:00:00Z", id="back to back"),
        pytest.param([window("a", "2026-11-24T10:00:00Z", "2026-11-24T13:00:00Z"),
                      window("b", "2026-11-24T12:00:00Z", "2026-11-24T14:00:00Z")],
                     "2026-11-24T11:00:00Z", "2026-11-24T14:00:00Z", id="overlapping"),
        pytest.param([window("a", "2026-11-24T10:00:00Z", "2026-11-24T12:00:00Z"),
                      window("b", "2026-11-24T12:00:01Z", "2026-11-24T14:00:00Z")],
                     "2026-11-24T11:00:00Z", "2026-11-24T12:00:00Z", id="a second apart"),
        pytest.param([window("a", "2026-11-24T10:00:00Z", "2026-11-24T12:00:00Z"),
                      {"name": "b", "cron": "0 12 * * *", "duration": "1h"},
                      window("c", "2026-11-24T13:00:00Z", "2026-11-24T13:30:00Z")],
                     "2026-11-24T11:00:00Z", "2026-11-24T13:30:00Z",
                     id="absolute then recurring then absolute"),
        pytest.param([{"name": "a", "cron": "0 9 * * *", "duration": "2h"},
                      window("b", "2026-11-24T08:00:00Z", "2026-11-24T09:00:00Z")],
                     "2026-11-24T08:30:00Z", "2026-11-24T11:00:00Z",
                     id="an absolute window runs into a recurring one"),
        pytest.param([window("a", "2026-11-24T10:00:00Z", "2026-11-24T12:00:00Z")],
                     "2026-11-24T09:00:00Z", "2026-11-24T09:00:00Z", id="not yet frozen"),
        pytest.param([window("deny", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z"),
                      {"name": "monday-morning", "cron": "0 8 * * MON", "duration": "2h",
                       "timezone": "America/New_York"},
                      BUSINESS_HOURS],
                     "2026-12-24T15:00:00Z", "2027-01-04T15:00:00Z",
                     id="deny, then outside allow, then an allow start inside another deny"),
    ],
)  # fmt: skip
def test_next_open_walks_past_consecutive_and_overlapping_windows(
    windows: list[Mapping[str, object]], moment: str, open_at: str
) -> None:
    assert opens(calendar(*windows), at(moment)) == open_at


def test_a_message_names_every_active_deny_window_and_the_latest_end() -> None:
    found = calendar(
        window("b", "2026-11-24T12:00:00Z", "2026-11-24T14:00:00Z", reason="rb"),
        window("a", "2026-11-24T10:00:00Z", "2026-11-24T13:00:00Z", reason="ra"),
    )
    block = freeze.blocked(found, at("2026-11-24T12:30:00Z"))
    assert block is not None
    assert block.message == "freeze windows b (rb), a (ra) until 2026-11-24T14:00:00Z"
    assert block.occurrence is not None and block.occurrence.window.name == "a"


@pytest.mark.parametrize(
    ("cron", "duration", "starts"),
    [
        ("0 * * * *", "2h", "2026-01-01T01:00:00Z and 2026-01-01T02:00:00Z"),
        ("0 9,10 * * *", "2h", "2026-01-01T09:00:00Z and 2026-01-01T10:00:00Z"),
        ("0 0 1 * *", "30d", "2026-02-01T00:00:00Z and 2026-03-01T00:00:00Z"),
    ],
    ids=["hourly for 2h", "two starts an hour apart", "monthly for 30 days (February)"],
)
def test_a_recurring_window_that_would_overlap_itself_is_refused(
    cron: str, duration: str, starts: str
) -> None:
    # It would never end (or chain occurrences), and walking them would cost every pass.
    with pytest.raises(RefusalError) as caught:
        calendar({"name": "always", "cron": cron, "duration": duration})
    (problem,) = caught.value.details
    assert problem.startswith(f"windows[0] (always): duration {duration.replace('30d', '720h')}")
    assert f"({starts}): the window would overlap itself" in problem


# upcoming: the next deny window within 7 days -------------------------------------------------


@pytest.mark.parametrize(
    ("windows", "moment", "expected"),
    [
        pytest.param([WEEKENDS], "2026-11-25T12:00:00Z",
                     ("weekends", "2026-11-27T17:00:00Z", "2026-11-30T07:00:00Z"),
                     id="this weekend"),
        pytest.param([WEEKENDS], "2026-11-28T12:00:00Z",
                     ("weekends", "2026-12-04T17:00:00Z", "2026-12-07T07:00:00Z"),
                     id="during a weekend: the next one"),
        pytest.param([WEEKENDS], "2026-11-20T17:00:00Z",
                     ("weekends", "2026-11-27T17:00:00Z", "2026-11-30T07:00:00Z"),
                     id="exactly seven days ahead"),
        pytest.param([WEEKENDS], "2026-10-23T16:00:00Z", None,
                     id="seven days and an hour ahead across fall back"),
        pytest.param([YEAR_END], "2026-12-13T00:00:00Z",
                     ("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z"),
                     id="an absolute window seven days ahead"),
        pytest.param([YEAR_END], "2026-12-12T23:59:59Z", None, id="a second too far"),
        pytest.param([YEAR_END], "2026-12-20T00:00:00Z", None, id="already started"),
        pytest.param([BUSINESS_HOURS], "2026-11-24T00:00:00Z", None,
                     id="allow windows do not count"),
        pytest.param([WEEKENDS, YEAR_END, NIGHTLY], "2026-12-18T12:00:00Z",
                     ("weekends", "2026-12-18T17:00:00Z", "2026-12-21T07:00:00Z"),
                     id="the earliest of several"),
        pytest.param([WEEKENDS, YEAR_END, NIGHTLY], "2026-12-18T20:00:00Z",
                     ("nightly", "2026-12-18T23:00:00Z", "2026-12-19T01:00:00Z"),
                     id="the earliest of several, nightly first"),
    ],
)  # fmt: skip
def test_upcoming_is_the_next_deny_window_starting_within_seven_days(
    windows: list[Mapping[str, object]], moment: str, expected: tuple[str, str, str] | None
) -> None:
    found = freeze.upcoming(calendar(*windows), at(moment))
    got = (
        None
        if found is None
        else (found.window.name, format_timestamp(found.start), format_timestamp(found.end))
    )
    assert got == expected


def test_upcoming_looks_as_far_as_it_is_told() -> None:
    found = calendar(YEAR_END)
    assert freeze.upcoming(found, at("2026-12-01T00:00:00Z")) is None
    soon = freeze.upcoming(found, at("2026-12-01T00:00:00Z"), within=timedelta(days=30))
    assert soon is not None and soon.window.name == "year-end"


def test_touching_occurrences_are_one_freeze_from_the_first_start_to_the_last_end() -> None:
    weekdays = calendar({"name": "weekdays", "cron": "0 0 * * MON-FRI", "duration": "24h"})
    tuesday = at("2026-11-24T12:00:00Z")
    block = freeze.blocked(weekdays, tuesday)
    assert block is not None and block.message == (
        "freeze window weekdays until 2026-11-28T00:00:00Z"  # Saturday, not Wednesday
    )
    assert freeze.next_open(weekdays, tuesday) == at("2026-11-28T00:00:00Z")


def test_a_freeze_chained_from_many_windows_costs_a_bounded_walk() -> None:
    # Two windows that hand over to each other every hour: a freeze with no end.
    chained = calendar(
        {"name": "a", "cron": "0 * * * *", "duration": "59m"},
        {"name": "b", "cron": "59 * * * *", "duration": "1m"},
    )
    block = freeze.blocked(chained, at("2026-11-24T12:30:00Z"))
    assert block is not None and block.message.endswith("with no end found")
    assert freeze.next_open(chained, at("2026-11-24T12:30:00Z")) is None


@pytest.mark.parametrize(
    "zone", ["localtime", "posixrules", "Factory", "posix/Europe/Berlin", "right/UTC"]
)
def test_a_time_zone_only_this_machine_knows_is_refused(zone: str) -> None:
    with pytest.raises(RefusalError) as caught:
        calendar({"name": "w", "cron": "0 18 * * FRI", "duration": "1h", "timezone": zone})
    assert f"timezone {zone!r} is not a known IANA time zone" in caught.value.details[0]
