"""The one YAML entry point (core layer): YAML 1.2 core schema on PyYAML, text in, values out.

Aliases, duplicate keys, extra documents and deep nesting become a DocumentError before any
Python value is built. `editing.py` uses `compose_yaml` for node marks to splice at.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, ClassVar

import yaml
from yaml.composer import Composer
from yaml.constructor import BaseConstructor, ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from reconciler.core.errors import DocumentError

STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"

# YAML 1.2.2 core schema (section 10.3.2). `\Z`, not `$`: `$` also matches before a final "\n".
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)\Z")
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)\Z")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
)
# libyaml parses flow collections with a C recursion; past this many brackets the pure-Python
# parser (whose composer below stops at max_depth) is used so no libyaml build can overflow.
_C_BRACKET_LIMIT = 1000
# What may sit between a previous node's end and an alias: indicators, space, comments, and
# the anchor or tag that starts the parent (its start mark is there, not at the bracket).
_BEFORE_ALIAS = re.compile(r"(?:[\s:,?\[{-]|#[^\n]*|[&!][^\s,\[\]{}]*)*\*")


class Resolver(BaseResolver):
    """Implicit tags of the YAML 1.2 core schema only (no yes/no, timestamps, merge, 0777)."""

    yaml_implicit_resolvers: dict[Any, Any] = {}
    yaml_path_resolvers: dict[Any, Any] = {}

    def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
        """Tag a node; BaseResolver's version, minus the path resolvers this schema lacks."""
        if kind is ScalarNode:
            if implicit[0]:
                for tag, pattern in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if pattern.match(value):
                        return str(tag)
            return STR_TAG
        return _SEQ_TAG if kind is SequenceNode else _MAP_TAG


Resolver.add_implicit_resolver(_NULL_TAG, _NULL_RE, ["~", "n", "N", ""])
Resolver.add_implicit_resolver(_BOOL_TAG, _BOOL_RE, list("tTfF"))
Resolver.add_implicit_resolver(_INT_TAG, _INT_RE, list("-+0123456789"))
Resolver.add_implicit_resolver(_FLOAT_TAG, _FLOAT_RE, list("-+.0123456789"))


class Constructor(BaseConstructor):
    """Builds dicts, lists and core-schema scalars; any other tag is an error."""

    yaml_constructors: ClassVar[dict[str | None, Any]] = {}
    yaml_multi_constructors: ClassVar[dict[str | None, Any]] = {}

    def construct_null(self, node: Node) -> None:
        """Construct a null, checking an explicit `!!null` too."""
        self._checked(node, _NULL_RE, "null")

    def construct_bool(self, node: Node) -> bool:
        """Construct true/false in any of the three spellings."""
        return self._checked(node, _BOOL_RE, "bool").lower() == "true"

    def construct_int(self, node: Node) -> int:
        """Construct a decimal (leading zeros stay decimal), 0o octal or 0x hex integer."""
        value = self._checked(node, _INT_RE, "int")
        try:
            if value.startswith(("0o", "0x")):
                return int(value[2:], 8 if value[1] == "o" else 16)
            return int(value, 10)
        except ValueError as exc:  # more digits than int() allows
            raise ConstructorError(None, None, str(exc), node.start_mark) from exc

    def construct_float(self, node: Node) -> float:
        """Construct a float, including .inf and .nan."""
        value = self._checked(node, _FLOAT_RE, "float")
        special = value.lstrip("+-").lower()
        if special == ".inf":
            return -math.inf if value.startswith("-") else math.inf
        if special == ".nan":
            return math.nan
        return float(value)

    def construct_document(self, node: Node) -> Any:
        """Build a checked document (a tree: no aliases, bounded depth) without generators."""
        if isinstance(node, ScalarNode):
            if node.tag == STR_TAG:
                return node.value
            return self.yaml_constructors.get(node.tag, Constructor.construct_unknown)(self, node)
        if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
            return [self.construct_document(item) for item in node.value]
        if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
            return self._construct_mapping(node)
        return self.construct_unknown(node)

    def _construct_mapping(self, node: MappingNode) -> dict[str, object]:
        data: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = self.construct_document(key_node)
            if not isinstance(key, str):
                raise _error("syntax", "mapping keys must be strings", key_node.start_mark)
            if key in data:
                message = f"duplicate key {json.dumps(key, ensure_ascii=False)}"
                raise _error("duplicate_key", message, key_node.start_mark)
            data[key] = self.construct_document(value_node)
        return data

    def construct_unknown(self, node: Node) -> None:
        """Refuse tags outside the core schema (!!binary, !!timestamp, local tags)."""
        raise ConstructorError(None, None, f"unsupported tag {node.tag!r}", node.start_mark)

    def _checked(self, node: Node, pattern: re.Pattern[str], kind: str) -> str:
        value = self.construct_scalar(node)  # type: ignore[arg-type]
        if not isinstance(value, str) or not pattern.match(value):
            raise ConstructorError(None, None, f"invalid {kind} {value!r}", node.start_mark)
        return value


_CONSTRUCTORS: dict[str | None, Callable[..., Any]] = {
    _NULL_TAG: Constructor.construct_null,
    _BOOL_TAG: Constructor.construct_bool,
    _INT_TAG: Constructor.construct_int,
    _FLOAT_TAG: Constructor.construct_float,
    None: Constructor.construct_unknown,
}
for _tag, _function in _CONSTRUCTORS.items():
    Constructor.add_constructor(_tag, _function)


class PyLoader(Reader, Scanner, Parser, Composer, Constructor, Resolver):
    """Pure-Python loader that refuses aliases and deep nesting while composing.

    Used without libyaml and for bracket-heavy (hostile) text.
    """

    def __init__(self, stream: str, max_depth: int) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        Constructor.__init__(self)
        Resolver.__init__(self)
        self.max_depth = max_depth
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Refuse an alias before PyYAML resolves it to the anchored node."""
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _error("alias", "aliases are not allowed", mark)
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        """Compose a sequence one level deeper."""
        self._enter()
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        """Compose a mapping one level deeper."""
        self._enter()
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self._depth -= 1

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > self.max_depth:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _too_deep(self.max_depth, mark)


if yaml.__with_libyaml__:  # pragma: no branch - without libyaml, PyLoader does it all
    from yaml._yaml import CParser

    class CLoader(CParser, Constructor, Resolver):
        """libyaml parser and composer with this module's constructor and resolver."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Constructor.__init__(self)
            Resolver.__init__(self)


def load_yaml(text: str, *, max_depth: int = 64) -> object:
    """Parse one YAML 1.2 document to plain values; refuse anything unsafe with DocumentError."""
    return construct_yaml(compose_yaml(text, max_depth=max_depth))


def compose_yaml(text: str, *, max_depth: int = 64) -> Node | None:
    """Compose one checked document; marks index `text` with any leading BOM removed."""
    body = text[1:] if text.startswith("\ufeff") else text
    from_c = yaml.__with_libyaml__ and body.count("[") + body.count("{") <= _C_BRACKET_LIMIT
    try:
        # The pure-Python reader checks the characters as soon as it is created.
        loader = CLoader(body) if from_c else PyLoader(body, max_depth)
        node = _compose_single(loader)
        loader.dispose()
    except RecursionError:
        raise DocumentError("nesting is too deep to parse", kind="too_deep") from None
    except yaml.YAMLError as exc:
        raise _from_yaml_error(exc, body, from_c=from_c) from None
    if node is not None:
        _check_graph(node, body, max_depth)
    return node


def construct_yaml(node: Node | None) -> object:
    """Build plain values from a node that `compose_yaml` returned."""
    if node is None:
        return None
    try:
        return Constructor().construct_document(node)
    except yaml.YAMLError as exc:
        raise _from_yaml_error(exc, "", from_c=False) from None


def resolve_plain_tag(value: str) -> str:
    """Return the tag a plain scalar spelled `value` gets under the YAML 1.2 core schema."""
    return _RESOLVER.resolve(ScalarNode, value, (True, False))


def _compose_single(loader: Any) -> Node | None:
    if not loader.check_node():
        return None
    node: Node = loader.get_node()
    event = loader.peek_event()
    if not isinstance(event, yaml.StreamEndEvent):
        message = "expected one document, found another; split the file"
        raise _error("multiple_documents", message, event.start_mark)
    return node


def _check_graph(root: Node, text: str, max_depth: int) -> None:
    """Refuse aliases (a node object reached twice, recursive ones too), deep nesting, odd keys.

    Nodes are marked when first reached, so an alias is found before the walk follows it.
    """
    seen = {id(root)}
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise _too_deep(max_depth, node.start_mark)
        children = _children(node)
        for child in children:
            if id(child) in seen:
                raise _error("alias", "aliases are not allowed", _alias_mark(root, text))
            seen.add(id(child))
            if type(child) is not ScalarNode:
                stack.append((child, depth + 1))


def _alias_mark(root: Node, text: str) -> yaml.Mark:
    """Mark the first alias: the `*` after the previous sibling, in document order.

    Anchors precede their aliases, so the first node met twice is met at its alias.
    """
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, root.start_mark.index)]
    while stack:
        node, search_from = stack.pop()
        if id(node) in seen:
            match = _BEFORE_ALIAS.match(text, search_from)
            return node.start_mark if match is None else _mark_at(text, match.end() - 1)
        seen.add(id(node))
        children = _children(node)
        starts = [node.start_mark.index] + [child.end_mark.index for child in children]
        stack.extend(reversed(list(zip(children, starts[:-1], strict=True))))
    return root.start_mark  # pragma: no cover - only called once an alias was seen


def _children(node: Node) -> list[Node]:
    if type(node) is not MappingNode:
        return list(node.value) if type(node) is SequenceNode else []
    children: list[Node] = []
    for key, value in node.value:
        if type(key) is not ScalarNode:
            raise _error("syntax", "mapping keys must be strings", key.start_mark)
        children += (key, value)
    return children


def _mark_at(text: str, index: int) -> yaml.Mark:
    column = index - (text.rfind("\n", 0, index) + 1)
    return yaml.Mark("<text>", index, text.count("\n", 0, index), column, None, 0)


def _too_deep(max_depth: int, mark: yaml.Mark) -> DocumentError:
    return _error("too_deep", f"nesting is deeper than {max_depth} levels", mark)


def _error(kind: str, problem: str, mark: yaml.Mark) -> DocumentError:
    line, column = mark.line + 1, mark.column + 1
    return DocumentError(
        f"line {line}, column {column}: {problem}", kind=kind, line=line, column=column
    )


def _from_yaml_error(exc: yaml.YAMLError, text: str, *, from_c: bool) -> DocumentError:
    if isinstance(exc, ReaderError):
        # libyaml reports a byte offset into the UTF-8 text; the Python reader a str index.
        offset = exc.position
        if from_c:
            offset = len(text.encode("utf-8")[:offset].decode("utf-8", "ignore"))
        character = exc.character
        code = ord(character) if isinstance(character, str) else int(character)
        return _error("syntax", f"{exc.reason} (#x{code:x})", _mark_at(text, offset))
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        problem = " ".join(str(exc.problem or "invalid YAML").split())
        kind = "too_deep" if "maximum nesting depth" in problem else "syntax"
        if exc.context:
            problem += f" ({' '.join(str(exc.context).split())})"
        return _error(kind, problem, exc.problem_mark)
    return DocumentError(" ".join(str(exc).split()), kind="syntax")  # pragma: no cover


_RESOLVER = Resolver()
