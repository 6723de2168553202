"""Adding a window to a freeze file: a splice after the last window, read back exactly.

Pure, table-driven: before and after text. The file's comments, order, indentation and line
ends survive; the new window reads back as the last one.
"""

from __future__ import annotations

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.freeze_parsing import read_calendar
from reconciler.core.freeze_writing import add_window, new_window
from tests.support.gitrepos import FIXED

ENTRY = {
    "name": "n2", "kind": "deny", "start": "2027-01-01T00:00:00Z",
    "end": "2027-01-02T00:00:00Z", "reason": "x",
}  # fmt: skip
ITEM = (
    '  - name: n2\n    kind: deny\n    start: "2027-01-01T00:00:00Z"\n'
    '    end: "2027-01-02T00:00:00Z"\n    reason: x\n'
)
A = "  - name: a\n    start: 2026-01-01T00:00:00Z\n    end: 2026-01-02T00:00:00Z\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "windows:\n" + ITEM),
        ("# only a comment\n", "# only a comment\nwindows:\n" + ITEM),
        ("windows:\n", "windows:\n" + ITEM),
        ("windows: null", "windows:\n" + ITEM),
        ("windows: []  # none yet\n", "windows:  # none yet\n" + ITEM),
        ("windows: # see CAB-1\n", "windows: # see CAB-1\n" + ITEM),
        ("# top\nwindows:\n" + A + "# trailing\n", "# top\nwindows:\n" + A + ITEM + "# trailing\n"),
        ("windows:\n" + A.rstrip("\n"), "windows:\n" + A + ITEM),
        ("windows:\n" + A.replace("  - ", "- ").replace("    ", "  "),
         "windows:\n" + A.replace("  - ", "- ").replace("    ", "  ")
         + ITEM.replace("  - ", "- ").replace("    ", "  ")),
        ("windows:\n-\n    name: a\n    start: 2026-01-01T00:00:00Z\n"
         "    end: 2026-01-02T00:00:00Z\n",
         "windows:\n-\n    name: a\n    start: 2026-01-01T00:00:00Z\n"
         "    end: 2026-01-02T00:00:00Z\n" + ITEM.replace("  - ", "- ").replace("    ", "  ")),
        (("windows:\n" + A).replace("\n", "\r\n"), ("windows:\n" + A + ITEM).replace("\n", "\r\n")),
        ("windows: [{name: a, start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z'}]  # x\n",
         "windows: [{name: a, start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z'}, "
         '{name: n2, kind: deny, start: "2027-01-01T00:00:00Z", end: "2027-01-02T00:00:00Z", '
         "reason: x}]  # x\n"),
    ],
    ids=["empty", "comment only", "null", "explicit null", "flow empty", "null with comment",
         "comments kept", "no final newline", "dash at column 0", "dash on its own line",
         "crlf", "flow"],
)  # fmt: skip
def test_the_new_window_is_spliced_after_the_last_one(before: str, after: str) -> None:
    written = add_window(before, "yaml", ENTRY, "policies/freeze.yaml")
    assert written == after
    assert read_calendar(written, "yaml", "f").windows[-1].name == "n2"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", '{\n  "windows": [\n    {\n      "name": "n2",'),
        ("{}", '{"windows": [{"name": "n2", "kind": "deny"'),
        ('{"windows": []}', '{"windows": [{"name": "n2"'),
        ('{"windows": [{"startAt": "2026-01-01T00:00:00Z", "endAt": "2026-01-02T00:00:00Z"}]}',
         '{"windows": [{"startAt": "2026-01-01T00:00:00Z", "endAt": "2026-01-02T00:00:00Z"}, '
         '{"name": "n2"'),
    ],
    ids=["empty", "empty object", "empty list", "the bash controller's file"],
)  # fmt: skip
def test_the_bash_controllers_json_gets_the_window_appended(before: str, after: str) -> None:
    written = add_window(before, "json", ENTRY, "ops/freeze.json")
    assert written.startswith(after)
    assert read_calendar(written, "json", "f").windows[-1].name == "n2"


def test_a_name_taken_or_an_invalid_file_is_refused() -> None:
    taken = (
        "windows:\n  - name: n2\n    start: 2026-01-01T00:00:00Z\n    end: 2026-01-02T00:00:00Z\n"
    )
    with pytest.raises(RefusalError, match="already has a window named 'n2'"):
        add_window(taken, "yaml", ENTRY, "f")
    with pytest.raises(RefusalError) as caught:
        add_window("windows: 7\n", "yaml", ENTRY, "f")
    assert caught.value.reason == "freeze_file_invalid"


def test_a_new_window_is_checked_as_a_pass_reads_it_and_its_times_are_absolute() -> None:
    entry, window = new_window(name="soon", reason="r", start="1h", end="2d", now=FIXED)
    assert (entry["start"], entry["end"]) == ("2026-11-24T13:00:00Z", "2026-11-26T12:00:00Z")
    assert window.kind == "deny"
    with pytest.raises(RefusalError) as caught:
        new_window(name="x\udcff", reason="r", start="1h", end="2d", now=FIXED)
    assert caught.value.details == ("--name must be UTF-8 text",)
