"""Minimal registry edits (core layer): set the owned fields by splicing text at node marks.

`reconcile apply` and the loop pass the operator's registry text and get text back in which
only the owned values changed. A re-parse must equal the intended document, or EditError and
nothing is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, cast

from reconciler.core.errors import DocumentError, EditError
from reconciler.core.jsontext import JsonObject, compose_json, load_json
from reconciler.core.splicing import (
    ChangeTree,
    OwnedPath,
    Scalar,
    Splice,
    apply_splices,
    is_same,
    newline_of,
    top_mapping,
)

if TYPE_CHECKING:
    from yaml.nodes import Node

    from reconciler.core.yamlediting import YamlEdit

_LINE_INDENT = re.compile(r"[ \t]*")


class RegistryText:
    """A registry's text parsed once: its document for validation, its marks for editing."""

    def __init__(self, text: str, fmt: Literal["json", "yaml"]) -> None:
        """Parse `text` (a leading BOM is kept aside).

        Raises:
            DocumentError: the text does not parse.
        """
        self.text = text
        self.fmt = fmt
        # Marks index the text without its BOM (libyaml skips it, PyYAML counts it).
        self._bom = "\ufeff" if text.startswith("\ufeff") else ""
        self._body = text[len(self._bom) :]
        self._editor: _JsonEdit | YamlEdit
        if fmt == "yaml":
            # Imported here: a JSON registry (the bash tool's layout) never loads PyYAML.
            from reconciler.core.yamlediting import YamlEdit

            self._editor = YamlEdit(self._body)
        else:
            self._editor = _JsonEdit(self._body)
        self.document: object = self._editor.document

    @property
    def yaml_tree(self) -> tuple[str, Node | None] | None:
        """The YAML text (without its BOM) and its composed root node; None for JSON."""
        if isinstance(self._editor, _JsonEdit):
            return None
        return self._editor.text, self._editor.root

    def edit(self, changes: Mapping[OwnedPath, Scalar]) -> tuple[str, object]:
        """Return the new text with each owned path set, and the document it reads back as.

        Raises:
            EditError: a path runs through a list or scalar, or the result would not read back
                as the old document with exactly these changes (nothing is written then).
        """
        document = top_mapping(self.document)
        tree = _change_tree(changes)
        # Computed first so a path through a list is refused even when nothing would change.
        expected = _expected(document, tree, ())
        if not _has_changes(document, tree):
            return self.text, document
        new_body = apply_splices(self._body, self._editor.plan(tree))
        return self._bom + new_body, _verify(new_body, self.fmt, expected)

    def edited(self, changes: Mapping[OwnedPath, Scalar]) -> RegistryText:
        """Return the registry after setting each owned path (itself when nothing changes).

        Like `edit`, but the result is parsed once and that parse serves both the
        read-back check and the next edit (the loop chains hundreds of edits in a pass).

        Raises:
            EditError: as `edit`.
        """
        document = top_mapping(self.document)
        tree = _change_tree(changes)
        expected = _expected(document, tree, ())
        if not _has_changes(document, tree):
            return self
        new_body = apply_splices(self._body, self._editor.plan(tree))
        try:
            result = RegistryText(self._bom + new_body, self.fmt)
        except DocumentError as exc:
            raise EditError(f"the edited registry would not parse ({exc.message})") from exc
        if repr(result.document) != repr(expected) and not is_same(result.document, expected):
            raise EditError(
                "the edited registry would not read back as intended; nothing was written"
            )
        return result


def edit_registry(
    text: str, fmt: Literal["json", "yaml"], changes: Mapping[OwnedPath, Scalar]
) -> str:
    """Set each owned path in the registry text with a minimal splice; the rest stays byte for byte.

    Raises:
        DocumentError: the registry text does not parse.
        EditError: a path runs through a list or scalar, or the result would not read back as
            the old document with exactly these changes (nothing is written then).
    """
    return RegistryText(text, fmt).edit(changes)[0]


def _change_tree(changes: Mapping[OwnedPath, Scalar]) -> ChangeTree:
    tree: ChangeTree = {}
    for path, value in changes.items():
        if not path or not isinstance(value, int | str):
            raise EditError(f"cannot set {'.'.join(path) or 'an empty path'} to {value!r}")
        node = tree
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise EditError(f"{'.'.join(path)} runs through another changed value")
            node = child
        if isinstance(node.get(path[-1]), dict):
            raise EditError(f"{'.'.join(path)} is also the parent of another changed value")
        node[path[-1]] = value
    return tree


def _expected(document: dict[str, object], tree: ChangeTree, path: OwnedPath) -> dict[str, object]:
    """The old document with the changes applied; refuses a path through a list or scalar."""
    result = dict(document)
    for key, change in tree.items():
        where, current = (*path, key), result.get(key)
        if isinstance(change, dict):
            if current is not None and not isinstance(current, dict):
                raise _wrong_kind(where, current, "a mapping")
            # A missing or null parent (`pause:`) becomes a mapping, as the planners write it.
            result[key] = _expected(current or {}, change, where)
        elif isinstance(current, dict | list):
            raise _wrong_kind(where, current, "a single value")
        else:
            result[key] = change
    return result


def _has_changes(document: dict[str, object], tree: ChangeTree) -> bool:
    for key, change in tree.items():
        current = document.get(key)
        if isinstance(change, dict):
            if not isinstance(current, dict) or _has_changes(current, change):
                return True
        elif key not in document or not is_same(current, change):
            return True
    return False


def _wrong_kind(path: OwnedPath, current: object, wanted: str) -> EditError:
    kinds: dict[type, str] = {dict: "a mapping", list: "a list"}
    kind = kinds.get(type(current), f"the value {current!r}")
    return EditError(f"{'.'.join(path)} is {kind}, not {wanted}; fix the registry by hand")


def _verify(new_body: str, fmt: str, expected: dict[str, object]) -> object:
    try:
        if fmt == "json":
            reread = load_json(new_body)
        else:
            from reconciler.core.yamltext import load_yaml

            reread = load_yaml(new_body)
    except DocumentError as exc:
        raise EditError(f"the edited registry would not parse ({exc.message})") from exc
    # repr is a fast, type-strict first try; it differs when only the key order does.
    if repr(reread) != repr(expected) and not is_same(reread, expected):
        raise EditError("the edited registry would not read back as intended; nothing was written")
    return reread


class _JsonEdit:
    """Plans the splices for one JSON text, in the separators and indentation it already uses."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.document = load_json(text)
        self.newline = newline_of(text)
        self.separator = ": "  # the file's `"key": value` separator, known once composed
        self.step = "  "  # the file's indent step, known once composed

    def plan(self, tree: ChangeTree) -> list[Splice]:
        # Composed only now: most calls change nothing and return before this.
        root = cast(JsonObject, compose_json(self.text))
        self.separator = self._separator(root, self.separator)
        self.step = self._step(root)
        return self._plan(root, top_mapping(self.document), tree, self._spans_lines(root))

    def _spans_lines(self, node: JsonObject) -> bool:
        return "\n" in self.text[node.start : node.end]

    def _plan(
        self, node: JsonObject, data: dict[str, object], tree: ChangeTree, pretty: bool
    ) -> list[Splice]:
        """Splices for `tree` under `node`; `pretty`: the object holding `node` spans lines."""
        splices: list[Splice] = []
        members = {member.key: member.value for member in node.members}
        missing: ChangeTree = {}
        for key, change in tree.items():
            value_node, current = members.get(key), data.get(key)
            if value_node is None:
                missing[key] = change
            elif isinstance(value_node, JsonObject):  # _expected allowed only a nested change
                splices += self._plan(
                    value_node,
                    cast(dict[str, object], current),
                    cast(ChangeTree, change),
                    self._spans_lines(node),
                )
            elif isinstance(change, dict):  # a null parent becomes an object
                new_text = self._new_object(change, value_node.start, node, self._spans_lines(node))
                splices.append((value_node.start, value_node.end, new_text))
            elif not is_same(current, change):
                splices.append((value_node.start, value_node.end, self._inline(change, node)))
        if missing:
            splices.append(self._insert(node, missing, pretty))
        return splices

    def _new_object(self, value: ChangeTree, start: int, node: JsonObject, pretty: bool) -> str:
        """An object in its surroundings' style: pretty where they span lines, else inline."""
        if not pretty:
            return self._inline(value, node)
        return self._pretty(value, self._line_indent(start), self._separator(node, self.separator))

    def _insert(self, node: JsonObject, missing: ChangeTree, pretty: bool) -> Splice:
        if not node.members:  # `{}` (or `{ }`): rewritten whole, in its surroundings' style
            return node.start, node.end, self._new_object(missing, node.start, node, pretty)
        # After the last value, so a trailing newline and the closing brace keep their place.
        at = node.members[-1].value.end
        separator = self._separator(node, self.separator)
        if "\n" not in self.text[node.start : node.end]:
            pairs = self._inline(missing, node)[1:-1]
            return at, at, _item_separator(separator) + pairs
        indent = self._member_indent(node) or self._line_indent(node.start) + self.step
        lead = f",{self.newline}{indent}"
        members = (
            f"{lead}{_dumps(key)}{separator}{self._pretty(value, indent, separator)}"
            for key, value in missing.items()
        )
        return at, at, "".join(members)

    def _pretty(self, value: ChangeTree | Scalar, indent: str, separator: str) -> str:
        if not isinstance(value, dict):
            return _dumps(value)
        inner = indent + self.step
        members = (
            f"{self.newline}{inner}{_dumps(key)}{separator}{self._pretty(item, inner, separator)}"
            for key, item in value.items()
        )
        return "{" + ",".join(members) + self.newline + indent + "}"

    def _inline(self, value: ChangeTree | Scalar, node: JsonObject) -> str:
        separator = self._separator(node, self.separator)
        separators = (_item_separator(separator), separator)
        return json.dumps(value, ensure_ascii=False, separators=separators)

    def _separator(self, node: JsonObject, default: str) -> str:
        """The text between a key and its value (`": "` or `":"`), from the first member."""
        if not node.members:
            return default
        first = node.members[0]
        separator = self.text[first.key_end : first.value.start]
        return separator if "\n" not in separator else default

    def _line_indent(self, index: int) -> str:
        line_start = self.text.rfind("\n", 0, index) + 1
        return _LINE_INDENT.match(self.text, line_start)[0]  # type: ignore[index]

    def _step(self, root: JsonObject) -> str:
        """The indent step: root members' indentation beyond the root's own line; or 2 spaces."""
        if not root.members:
            return "  "
        outer, inner = self._line_indent(root.start), self._member_indent(root) or ""
        return inner[len(outer) :] if inner.startswith(outer) and len(inner) > len(outer) else "  "

    def _member_indent(self, node: JsonObject) -> str | None:
        """The indentation of the object's last member; None when it does not start its line."""
        key_start = node.members[-1].key_start
        indent = self.text[self.text.rfind("\n", 0, key_start) + 1 : key_start]
        return None if indent.strip() else indent


def _item_separator(separator: str) -> str:
    return ", " if separator.endswith(" ") else ","


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
