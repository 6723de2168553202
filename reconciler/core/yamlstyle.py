"""How a YAML file is spelled and laid out (core layer), for the minimal edits in `editing.py`.

Scalar spelling that reads back exactly (plain, quoted, bool case), new block or flow text in
the file's own style, and where in the text a new key goes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.core.yamltext import STR_TAG, resolve_plain_tag

Scalar = int | bool | str
# A nested mapping of new values: what `editing.py` inserts under one key.
NewValues = Mapping[str, "Scalar | NewValues"]

# Characters a plain scalar must not start with (indicators and space), and what it must not
# contain: non-printables and YAML 1.1 line breaks, flow indicators, ": ", " #", an end colon.
_PLAIN_BAD_START = frozenset("-?:,[]{}#&*!|>'\"%@` \t")
_NON_PRINTABLE = "\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff"
_PLAIN_BAD = re.compile(f"[{_NON_PRINTABLE},\\[\\]{{}}]|: | #|:\\Z|\\s\\Z")
# In flow context libyaml refuses any ":" in a plain scalar, and PyYAML ends one at "?".
_FLOW_BAD = re.compile("[:?]")
_NEEDS_DOUBLE = re.compile(f"[{_NON_PRINTABLE}]")
_DOUBLE_ESCAPE = re.compile(f'[{_NON_PRINTABLE}"\\\\]')
_NAMED_ESCAPES = {
    "\x00": "\\0",
    "\x07": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\x0b": "\\v",
    "\x0c": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
# YAML 1.1 readers (PyYAML's default, Go yaml.v2) also take these as booleans.
_YAML11_BOOLS = frozenset({"y", "Y", "n", "N"})
_YAML11 = yaml.resolver.Resolver()
_ANCHOR = re.compile(r"&[^\s,\[\]{}]+[ \t]+")
_HEADER_COMMENT = re.compile(r"[ \t]+#[^\r\n]*")
_COMMENT_GAP = re.compile(r"( +)#")


def is_plain_safe(value: str, *, flow: bool = False) -> bool:
    """Tell whether `value` written plain reads back as this string in YAML 1.2 and YAML 1.1."""
    return (
        bool(value)
        and value[0] not in _PLAIN_BAD_START
        and _PLAIN_BAD.search(value) is None
        and not (flow and _FLOW_BAD.search(value))
        and value not in _YAML11_BOOLS
        and resolve_plain_tag(value) == STR_TAG
        and _YAML11.resolve(ScalarNode, value, (True, False)) == STR_TAG  # type: ignore[no-untyped-call]
    )


def double_quoted(value: str) -> str:
    """Spell `value` double-quoted, escaping quotes, backslashes and every non-printable."""
    return f'"{_DOUBLE_ESCAPE.sub(_escape, value)}"'


def single_quoted(value: str) -> str | None:
    """Spell `value` single-quoted, or None when it needs escapes (newlines, controls)."""
    if _NEEDS_DOUBLE.search(value):
        return None
    return "'" + value.replace("'", "''") + "'"


def render_scalar(
    value: Scalar, style: str | None, original: str = "", *, flow: bool = False
) -> str:
    """Spell a value for a scalar written in `style`, keeping that style where it reads back."""
    if isinstance(value, bool):
        return _bool_text(value, original)
    if isinstance(value, int):
        return str(value)
    if style == "'":
        quoted = single_quoted(value)
        if quoted is not None:
            return quoted
    if not style and (is_plain_safe(value, flow=flow) or _keeps_plain(value, original, flow)):
        return value
    return double_quoted(value)


def _keeps_plain(value: str, original: str, flow: bool) -> bool:
    # An operator's plain timestamp (`changedAt: 2026-11-01T09:00:00Z`) stays plain when the
    # new value is read the same way as the old one by YAML 1.1 readers too: quoting it would
    # be a style change in the diff, and it would not change what such readers already see.
    return (
        bool(original)
        and _PLAIN_BAD.search(value) is None
        and value[:1] not in _PLAIN_BAD_START
        and not (flow and _FLOW_BAD.search(value))
        and resolve_plain_tag(value) == STR_TAG
        and _yaml11_tag(value) == _yaml11_tag(original)
    )


def _yaml11_tag(value: str) -> str:
    if value in _YAML11_BOOLS:
        return "bool"
    return str(_YAML11.resolve(ScalarNode, value, (True, False)))  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Quoting:
    """How new keys and new string values are quoted: None (plain when safe), '"' or "'"."""

    keys: str | None = None
    strings: str | None = None


def block_lines(values: NewValues, indent: int, step: int, newline: str, quoting: Quoting) -> str:
    """Render new keys as block lines at `indent` columns, nesting by `step`."""
    lines = []
    for key, value in values.items():
        head = f"{' ' * indent}{render_scalar(key, quoting.keys)}:"
        if isinstance(value, Mapping):
            nested = Quoting(keys=quoting.keys)  # a new mapping has no sibling strings
            lines.append(head + newline + block_lines(value, indent + step, step, newline, nested))
        else:
            lines.append(f"{head} {render_scalar(value, quoting.strings)}{newline}")
    return "".join(lines)


def flow_pairs(values: NewValues, quoting: Quoting) -> str:
    """Render new keys as `key: value, ...` for a flow mapping."""
    return ", ".join(
        f"{render_scalar(key, quoting.keys, flow=True)}: {_flow_value(value, quoting)}"
        for key, value in values.items()
    )


def sibling_quoting(mapping: MappingNode) -> Quoting:
    """Return the quoting of the mapping's first key and of its first string value."""
    strings = (
        value
        for _, value in mapping.value
        if isinstance(value, ScalarNode) and value.tag == STR_TAG and value.style not in ("|", ">")
    )
    first_key = mapping.value[0][0] if mapping.value else None
    return Quoting(keys=_quote_style(first_key), strings=_quote_style(next(strings, None)))


def _quote_style(node: Node | None) -> str | None:
    style = getattr(node, "style", None)
    return style if style in ('"', "'") else None


def indent_step(root: Node) -> int:
    """Detect the indent step: the offset of the first block mapping nested in another; or 2."""
    queue = [root]
    for node in queue:
        if isinstance(node, SequenceNode):
            queue.extend(node.value)
        elif isinstance(node, MappingNode):
            queue.extend(value for _, value in node.value)
            if _is_block_mapping(node):
                column = node.value[0][0].start_mark.column
                for _, value in node.value:
                    if _is_block_mapping(value):
                        return int(value.value[0][0].start_mark.column - column)
    return 2


def block_insertion_point(text: str, mapping: MappingNode) -> int:
    """Return where a new key line goes: just after the line on which the last value ends."""
    last = mapping.value[-1][1]
    while isinstance(last, MappingNode | SequenceNode) and not last.flow_style and last.value:
        last = last.value[-1][1] if isinstance(last, MappingNode) else last.value[-1]
    end = last.end_mark.index
    if isinstance(last, ScalarNode) and last.style in ("|", ">"):
        header_end, header = _block_header(text, last)
        if "+" in header.split("#")[0]:
            # Kept trailing line breaks belong to the value; the end mark may sit after the
            # next line's indentation, so step back to that line's start.
            line_start = text.rfind("\n", 0, end) + 1
            return line_start if not text[line_start:end].strip() else end
        end = header_end + len(text[header_end:end].rstrip())
    newline = text.find("\n", end)
    return len(text) if newline < 0 else newline + 1


def flow_insertion_point(text: str, mapping: MappingNode) -> tuple[int, str]:
    """Return where `key: value` goes in a flow mapping, and the separator to put before it."""
    if mapping.value:
        return mapping.value[-1][1].end_mark.index, ", "
    return text.index("{", mapping.start_mark.index) + 1, ""


def scalar_splice(text: str, node: ScalarNode, new_text: str) -> tuple[int, int, str]:
    """Return the splice that puts `new_text` in place of a scalar's value.

    An anchor is kept; an empty null (`key:`) gets a space; a block scalar (`|`, `>`) is
    replaced up to its last content character, so the line breaks that end it (and the next
    key) stay put, and a comment on its header line is kept.
    """
    start, end = node.start_mark.index, node.end_mark.index
    anchor = _ANCHOR.match(text, start, end)
    start = anchor.end() if anchor else start
    if node.style in ("|", ">"):
        header_end, header = _block_header(text, node)
        content = text[header_end:end].rstrip()
        content_end = header_end + len(content) if content else node.start_mark.index + len(header)
        comment = _HEADER_COMMENT.search(header)
        return start, content_end, new_text + (comment[0] if comment else "")
    if start == end and text[start - 1 : start] not in (" ", "\t"):
        new_text = " " + new_text
    gap = _COMMENT_GAP.match(text, end)
    if gap and start < end:
        # Keep a trailing comment in its column (`manual: false   # ...` -> `true    #`).
        width = len(gap[1]) + (end - start) - len(new_text)
        return start, gap.end(1), new_text + " " * max(width, 1)
    return start, end, new_text


def _block_header(text: str, node: ScalarNode) -> tuple[int, str]:
    start, end = node.start_mark.index, node.end_mark.index
    header_end = text.find("\n", start, end)
    header_end = end if header_end < 0 else header_end
    return header_end, text[start:header_end].rstrip()


def _flow_value(value: Scalar | NewValues, quoting: Quoting) -> str:
    if isinstance(value, Mapping):
        return "{" + flow_pairs(value, Quoting(keys=quoting.keys)) + "}"
    return render_scalar(value, quoting.strings, flow=True)


def _is_block_mapping(node: Node) -> bool:
    return isinstance(node, MappingNode) and not node.flow_style and bool(node.value)


def _bool_text(value: bool, original: str) -> str:
    text = "true" if value else "false"
    if original.isupper():
        return text.upper()
    if original[:1].isupper():
        return text.capitalize()
    return text


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"
