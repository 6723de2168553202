"""Adding a window to a freeze file (core layer): what `reconcile freeze new` writes.

Text -> text, as the registry editor does: the new window is spliced in after the last one
(YAML block or flow sequence, or the bash controller's JSON), so the file's comments, order
and formatting survive; a missing or empty file gets a fresh `windows:` list. The result is
parsed again and must hold exactly the old windows plus the new one, or nothing is written.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.core import freeze_parsing, jsontext, yamlstyle, yamltext
from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Window
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_duration, format_timestamp, resolve_deadline

Entry = dict[str, str]
Format = Literal["yaml", "json"]
_ORDER = ("name", "kind", "start", "end", "cron", "duration", "timezone", "reason")


def new_window(
    *,
    name: str,
    reason: str,
    kind: str = "deny",
    start: str | None = None,
    end: str | None = None,
    cron: str | None = None,
    duration: str | None = None,
    timezone: str | None = None,
    now: datetime,
) -> tuple[Entry, Window]:
    """The file entry of a new window and the window it reads as, checked as a pass reads it.

    `start`/`end` may be RFC 3339 times or relative to `now` (`2d`); the file holds the
    absolute UTC times.

    Raises:
        RefusalError: `freeze_file_invalid`, one detail line per problem.
    """
    entry: Entry = {"name": name, "kind": kind}
    for key, value in (("start", start), ("end", end)):
        if value is None:
            continue
        moment = resolve_deadline(value, now)
        entry[key] = format_timestamp(moment) if moment is not None else value
    for key, text in (("cron", cron), ("duration", duration), ("timezone", timezone)):
        if text is not None:
            entry[key] = text
    entry["reason"] = reason
    window, found = freeze_parsing.parse_window(dict(entry), 1)
    problems = [problem.replace("windows[0]", "the new window", 1) for problem in found]
    problems += [
        f"--{key} must be UTF-8 text" for key, value in entry.items() if not _is_utf8(value)
    ]
    if problems or window is None:
        raise RefusalError(
            ReasonCode.FREEZE_FILE_INVALID, "the new freeze window is invalid", details=problems
        )
    return {key: entry[key] for key in _ORDER if key in entry}, window


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate-escaped byte of a command-line argument
        return False
    return True


def add_window(text: str, fmt: Format, entry: Entry, source: str) -> str:
    """Return `text` with `entry` appended to its windows, checked by reading it back.

    Raises:
        RefusalError: `freeze_file_invalid`: the file is invalid already, has a window of
            the same name, or could not be edited so that it reads back as intended.
    """
    before = freeze_parsing.read_calendar(text, fmt, source)
    if any(window.name == entry["name"] for window in before.windows):
        raise RefusalError(
            ReasonCode.FREEZE_FILE_INVALID,
            f"{source} already has a window named {entry['name']!r}; choose another --name",
            path=source,
        )
    edited = _add_json(text, entry) if fmt == "json" else _add_yaml(text, entry)
    after = freeze_parsing.read_calendar(edited, fmt, source)
    wanted, _ = freeze_parsing.parse_window(dict(entry), len(before.windows) + 1)
    if after.windows != (*before.windows, wanted):
        raise RefusalError(  # pragma: no cover - a splice that does not read back
            ReasonCode.FREEZE_FILE_INVALID,
            f"could not add the window to {source} so that it reads back exactly; add it by hand",
            path=source,
        )
    return edited


# YAML ------------------------------------------------------------------------------------------


def _yaml_value(value: str, *, flow: bool = False) -> str:
    return value if yamlstyle.is_plain_safe(value, flow=flow) else yamlstyle.double_quoted(value)


def _block_item(entry: Entry, indent: str, newline: str) -> str:
    lines = [
        f"{indent}{'- ' if number == 0 else '  '}{key}: {_yaml_value(value)}"
        for number, (key, value) in enumerate(entry.items())
    ]
    return newline.join(lines) + newline


def _flow_item(entry: Entry) -> str:
    pairs = ", ".join(f"{key}: {_yaml_value(value, flow=True)}" for key, value in entry.items())
    return "{" + pairs + "}"


def _add_yaml(text: str, entry: Entry) -> str:
    newline = "\r\n" if "\r\n" in text else "\n"
    root = yamltext.compose_yaml(text) if text.strip() else None
    fresh = f"windows:{newline}{_block_item(entry, '  ', newline)}"
    if root is None:
        return text + ("" if not text or text.endswith("\n") else newline) + fresh
    assert isinstance(root, MappingNode)  # parse_calendar refused anything else
    key, value = next(((k, v) for k, v in root.value if k.value == "windows"), (None, None))
    if key is None or value is None:
        return text + ("" if text.endswith("\n") else newline) + fresh
    if isinstance(value, SequenceNode) and value.value and not value.flow_style:
        at = _line_end(text, _last_index(value.value[-1]))
        # The column of the sequence's `-` (its start mark), whatever the items hold.
        item = _block_item(entry, " " * value.start_mark.column, newline)
        return text[:at] + ("" if text[:at].endswith("\n") else newline) + item + text[at:]
    if isinstance(value, SequenceNode) and value.value:
        close = value.end_mark.index - 1  # the `]`
        return text[:close] + ", " + _flow_item(entry) + text[close:]
    # `windows:`, `windows: null` or `windows: []`: the value goes, the block list comes after
    # the key's line (and after its comment, which stays where it was).
    start, end = value.start_mark.index, value.end_mark.index
    if text[start:end].strip():
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        text = text[:start] + text[end:]
    at = _line_end(text, key.end_mark.index)
    item = _block_item(entry, "  ", newline)
    return text[:at] + ("" if text[:at].endswith("\n") else newline) + item + text[at:]


def _last_index(node: Node) -> int:
    """Where the last scalar under `node` ends."""
    if isinstance(node, ScalarNode):
        return int(node.end_mark.index)
    children: list[Node] = []
    if isinstance(node, MappingNode):
        children = [value for _, value in node.value] or [key for key, _ in node.value]
    elif isinstance(node, SequenceNode):
        children = list(node.value)
    return _last_index(children[-1]) if children else int(node.end_mark.index)


def _line_end(text: str, index: int) -> int:
    """The index after the newline ending the line `index` is on (or the text's end)."""
    stop = text.find("\n", index)
    return len(text) if stop < 0 else stop + 1


# JSON ------------------------------------------------------------------------------------------


def _add_json(text: str, entry: Entry) -> str:
    item = json.dumps(entry, ensure_ascii=False)
    if not text.strip():
        return json.dumps({"windows": [entry]}, indent=2, ensure_ascii=False) + "\n"
    root = jsontext.compose_json(text)
    assert isinstance(root, jsontext.JsonObject)  # parse_calendar refused anything else
    member = next((m for m in root.members if m.key == "windows"), None)
    if member is None:
        close = root.end - 1
        comma = ", " if root.members else ""
        return text[:close].rstrip() + f'{comma}"windows": [{item}]' + text[close:]
    array = member.value
    if isinstance(array, jsontext.JsonArray):
        close = array.end - 1
        comma = ", " if array.items else ""
        return text[:close].rstrip() + comma + item + text[close:]
    return text[: array.start] + f"[{item}]" + text[array.end :]


def window_text(window: Window) -> str:
    """One line naming a window: kind, name, when, reason (what `freeze new` prints)."""
    if window.cron is not None:
        assert window.duration is not None
        when = f"cron '{window.cron}' for {format_duration(window.duration)} ({window.timezone})"
    else:
        assert window.start is not None and window.end is not None
        when = f"{format_timestamp(window.start)} to {format_timestamp(window.end)}"
    return f"{window.kind} window {window.name}: {when}" + (
        f"; {window.reason}" if window.reason else ""
    )
