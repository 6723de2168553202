"""The one JSON entry point (core layer): strict stdlib parsing, and a span parser for editing.

`load_json` refuses duplicate keys, NaN/Infinity and deep nesting with a DocumentError;
`compose_json` records where every key and value sits, for `editing.py` to splice at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring

from reconciler.core.errors import DocumentError

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
# Strings or brackets: enough to follow the nesting depth of text that json.loads refused.
_DEPTH_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


@dataclass(slots=True)
class JsonScalar:
    """A string, number, boolean or null, at text[start:end]."""

    start: int
    end: int
    value: object


@dataclass(slots=True)
class JsonMember:
    """One `"key": value` of an object; the key's quotes are at key_start and key_end - 1."""

    key: str
    key_start: int
    key_end: int
    value: JsonNode


@dataclass(slots=True)
class JsonObject:
    """An object from `{` at start to `}` at end - 1."""

    start: int
    end: int = -1
    members: list[JsonMember] = field(default_factory=list)


@dataclass(slots=True)
class JsonArray:
    """An array from `[` at start to `]` at end - 1."""

    start: int
    end: int = -1
    items: list[JsonNode] = field(default_factory=list)


JsonNode = JsonObject | JsonArray | JsonScalar


class _Refused(Exception):
    """A duplicate key or a NaN/Infinity constant, located afterwards by compose_json."""


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
    if _depth(document) > max_depth:
        raise _too_deep(body, max_depth)
    return document


def compose_json(text: str) -> JsonNode:
    """Parse JSON into nodes that record the character span of every key and value."""
    try:
        return _Composer(text).compose()
    except (IndexError, ValueError) as exc:  # scanstring's JSONDecodeError is a ValueError
        position = getattr(exc, "pos", len(text))
        raise _error("syntax", "invalid JSON", text, position) from None


class _Composer:
    """Iterative span parser: an explicit stack of open containers, no recursion."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 1 if text.startswith("\ufeff") else 0
        self.stack: list[tuple[JsonObject | JsonArray, set[str]]] = []

    def compose(self) -> JsonNode:
        root = self._value()
        while self.stack:
            self._step()
        if self._skip() != len(self.text):
            raise _error("syntax", "extra data after the document", self.text, self.pos)
        return root

    def _step(self) -> None:
        container, keys = self.stack[-1]
        members = container.members if isinstance(container, JsonObject) else container.items
        char = self.text[self._skip()]
        if char in "]}":
            container.end = self.pos + 1
            self.pos += 1
            self.stack.pop()
            return
        if members:
            self._expect(",")
        if isinstance(container, JsonObject):
            container.members.append(self._member(keys))
        else:
            container.items.append(self._value())

    def _member(self, keys: set[str]) -> JsonMember:
        start = self._skip()
        if self.text[start] != '"':
            raise _error("syntax", "expected a string key", self.text, start)
        key, end = scanstring(self.text, start + 1)
        if key in keys:
            message = f"duplicate key {json.dumps(key, ensure_ascii=False)}"
            raise _error("duplicate_key", message, self.text, start)
        keys.add(key)
        self.pos = end
        self._expect(":")
        return JsonMember(key, start, end, self._value())

    def _value(self) -> JsonNode:
        text, start = self.text, self._skip()
        char = text[start]
        if char in "{[":
            container: JsonObject | JsonArray = JsonObject(start) if char == "{" else JsonArray(start)
            self.stack.append((container, set()))
            self.pos = start + 1
            return container
        if char == '"':
            value, self.pos = scanstring(text, start + 1)
            return JsonScalar(start, self.pos, value)
        number = _NUMBER.match(text, start)
        if number is not None:
            self.pos = number.end()
            is_float = number.group(1) or number.group(2)
            return JsonScalar(start, self.pos, float(number[0]) if is_float else int(number[0]))
        for literal, value in _LITERALS.items():
            if text.startswith(literal, start):
                self.pos = start + len(literal)
                return JsonScalar(start, self.pos, value)
        raise _error("syntax", "expected a value (NaN and Infinity are not JSON)", text, start)

    def _skip(self) -> int:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
        return self.pos

    def _expect(self, char: str) -> None:
        if self.text[self._skip()] != char:
            raise _error("syntax", f"expected {char!r}", self.text, self.pos)
        self.pos += 1


def _unique_dict(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Refused
    return document


def _refuse(constant: str) -> object:
    raise _Refused(constant)


def _depth(document: object) -> int:
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth)
            stack.extend((item, depth + 1) for item in value)
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
