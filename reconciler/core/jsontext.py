"""The one JSON entry point (core layer): strict stdlib parsing, and a span parser for editing.

`load_json` refuses duplicate keys, NaN/Infinity and deep nesting with a DocumentError;
`compose_json` records where every key and value sits, for `editing.py` to splice at.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]

from reconciler.core.errors import DocumentError

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SEPARATORS = re.compile(r"[ \t\n\r,:]*")
_TOKEN = re.compile(
    r'[ \t\n\r,:]*(?:(")|([{[])|([]}])'
    r"|(-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?)|(true|false|null))"
)
_QUOTE, _OPEN, _CLOSE, _NUMBER, _FRACTION, _EXPONENT, _LITERAL = range(1, 8)
_NO_KEY = ("", -1, -1)
_LITERALS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
# Strings or brackets: enough to find where a text nests too deep, without parsing it.
_DEPTH_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


# Plain slotted classes, not dataclasses: class creation is on every command's start-up path.
class JsonScalar:
    """A string, number, boolean or null, at text[start:end]."""

    __slots__ = ("start", "end", "value")

    def __init__(self, start: int, end: int, value: object) -> None:
        self.start, self.end, self.value = start, end, value


class JsonMember:
    """One `"key": value` of an object; the key's quotes are at key_start and key_end - 1."""

    __slots__ = ("key", "key_start", "key_end", "value")

    def __init__(self, key: str, key_start: int, key_end: int, value: JsonNode) -> None:
        self.key, self.key_start, self.key_end, self.value = key, key_start, key_end, value


class JsonObject:
    """An object from `{` at start to `}` at end - 1."""

    __slots__ = ("start", "end", "members")

    def __init__(self, start: int) -> None:
        self.start, self.end = start, -1
        self.members: list[JsonMember] = []


class JsonArray:
    """An array from `[` at start to `]` at end - 1."""

    __slots__ = ("start", "end", "items")

    def __init__(self, start: int) -> None:
        self.start, self.end = start, -1
        self.items: list[JsonNode] = []


JsonNode = JsonObject | JsonArray | JsonScalar


class _Refused(Exception):
    """A duplicate key or a NaN/Infinity constant, located afterwards by compose_json."""


def dumps_compact(value: object) -> str:
    """Serialise JSON the way the bash tool's jq -c did: no spaces, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def load_json(text: str, *, max_depth: int = 64) -> object:
    """Parse JSON to plain values; refuse duplicates, NaN/Infinity and deep nesting."""
    body = text[1:] if text.startswith("\ufeff") else text
    try:
        document = json.loads(body, object_pairs_hook=_unique_dict, parse_constant=_refuse)
    except json.JSONDecodeError as exc:
        message = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise DocumentError(message, kind="syntax", line=exc.lineno, column=exc.colno) from None
    except _Refused:
        compose_json(body)  # raises the located DocumentError
        raise DocumentError("invalid JSON", kind="syntax") from None  # pragma: no cover
    except RecursionError:
        raise _too_deep(body, max_depth) from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit limit
        raise DocumentError(f"invalid JSON: {exc}", kind="syntax") from None
    # Each level needs a bracket, so a text with few of them needs no walk.
    if body.count("[") + body.count("{") > max_depth and _depth(document) > max_depth:
        raise _too_deep(body, max_depth)
    return document


def compose_json(text: str) -> JsonNode:
    """Parse JSON into nodes that record the character span of every key and value.

    Only for text that `load_json` accepted (or to locate what it refused): "," and ":" are
    skipped like whitespace, so the parser is a flat loop over tokens with a container stack.
    """
    try:
        return _compose(text)
    except (IndexError, ValueError) as exc:  # scanstring's JSONDecodeError is a ValueError
        raise _error("syntax", "invalid JSON", text, getattr(exc, "pos", 0)) from None


def _compose(text: str) -> JsonNode:
    stack: list[JsonObject | JsonArray] = []
    keys: list[set[str]] = []
    key = _NO_KEY  # an object member's key, waiting for its value
    token_at, pos = _TOKEN.match, 1 if text.startswith("\ufeff") else 0
    while True:
        token = token_at(text, pos)
        if token is None:
            raise _unexpected(text, pos)
        kind = token.lastindex or 0
        start, pos = token.start(kind), token.end()
        if kind == _CLOSE:
            stack[-1].end = pos
            keys.pop()
            if len(stack) == 1:
                return _finish(text, pos, stack.pop())
            stack.pop()
            continue
        value: object = None
        if kind == _QUOTE:
            value, pos = scanstring(text, pos)
        parent = stack[-1] if stack else None
        if isinstance(parent, JsonObject) and key is _NO_KEY:
            key = _new_key(text, keys[-1], value, start, pos)
            continue
        node = JsonScalar(start, pos, value) if kind == _QUOTE else _node(token, kind, start, pos)
        if isinstance(parent, JsonObject):
            parent.members.append(JsonMember(*key, node))
            key = _NO_KEY
        elif parent is not None:
            parent.items.append(node)
        elif kind != _OPEN:
            return _finish(text, pos, node)
        if isinstance(node, JsonObject | JsonArray):
            stack.append(node)
            keys.append(set())


def _node(token: re.Match[str], kind: int, start: int, end: int) -> JsonNode:
    if kind == _OPEN:
        return JsonObject(start) if token[_OPEN] == "{" else JsonArray(start)
    if kind == _NUMBER:
        is_float = token[_FRACTION] or token[_EXPONENT]
        return JsonScalar(start, end, float(token[_NUMBER]) if is_float else int(token[_NUMBER]))
    return JsonScalar(start, end, _LITERALS[token[_LITERAL]])


def _new_key(text: str, keys: set[str], key: object, start: int, end: int) -> tuple[str, int, int]:
    if not isinstance(key, str):
        raise _error("syntax", "expected a string key", text, start)
    if key in keys:
        message = f"duplicate key {json.dumps(key, ensure_ascii=False)}"
        raise _error("duplicate_key", message, text, start)
    keys.add(key)
    return key, start, end


def _finish(text: str, pos: int, root: JsonNode) -> JsonNode:
    if _WHITESPACE.match(text, pos).end() != len(text):  # type: ignore[union-attr]
        raise _error("syntax", "extra data after the document", text, pos)
    return root


def _unexpected(text: str, pos: int) -> DocumentError:
    start = _SEPARATORS.match(text, pos).end()  # type: ignore[union-attr]
    special = text.startswith(("NaN", "Infinity", "-Infinity"), start)
    problem = "NaN and Infinity are not allowed in JSON" if special else "expected a value"
    return _error("syntax", problem, text, start)


def _unique_dict(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Refused
    return document


def _refuse(constant: str) -> object:
    raise _Refused(constant)


def _depth(document: object) -> int:
    deepest = 0
    stack = [(document, 1)] if isinstance(document, dict | list) else []
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _too_deep(text: str, max_depth: int) -> DocumentError:
    depth = 0
    for token in _DEPTH_TOKEN.finditer(text):
        if token[0] in "[{":
            depth += 1
            if depth > max_depth:
                message = f"nesting is deeper than {max_depth} levels"
                return _error("too_deep", message, text, token.start())
        elif token[0] in "]}":
            depth -= 1
    return DocumentError(f"nesting is deeper than {max_depth} levels", kind="too_deep")


def _error(kind: str, problem: str, text: str, position: int) -> DocumentError:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    message = f"line {line}, column {column}: {problem}"
    return DocumentError(message, kind=kind, line=line, column=column)
