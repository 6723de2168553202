"""What the JSON and YAML registry editors share (core layer): change trees and splices."""

from __future__ import annotations

from typing import TypeAlias

from reconciler.core.errors import EditError

OwnedPath = tuple[str, ...]
Scalar = int | bool | str
# The changes as a tree, in the order the caller listed them: {"policy": {"autonomous": ...}}.
ChangeTree: TypeAlias = dict[str, "ChangeTree | Scalar"]
# (start, end, new_text): text[start:end] becomes new_text.
Splice = tuple[int, int, str]


def is_same(left: object, right: object) -> bool:
    """Deep equality that also compares types: True != 1, 1 != 1.0; dict order is ignored."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        assert isinstance(right, dict)
        return left.keys() == right.keys() and all(is_same(v, right[k]) for k, v in left.items())
    if isinstance(left, list):
        assert isinstance(right, list)
        return len(left) == len(right) and all(map(is_same, left, right))
    return left == right or left != left and right != right  # NaN reads back as NaN


def apply_splices(text: str, splices: list[Splice]) -> str:
    """Return `text` with every splice made; overlapping splices are refused.

    Raises:
        EditError: two splices overlap.
    """
    # Equivalent to splicing in reverse order (pre-commit's migrate_config), in one pass. The
    # sort is stable: at one position a nested mapping's lines come before its parent's.
    pieces: list[str] = []
    cursor = 0
    for start, end, new_text in sorted(splices, key=lambda splice: splice[0]):
        if start < cursor:
            raise EditError("two edits of the registry overlap; edit the file by hand")
        pieces += (text[cursor:start], new_text)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def newline_of(text: str) -> str:
    """Return the text's line break: CRLF if it uses one anywhere, else LF."""
    return "\r\n" if "\r\n" in text else "\n"


def top_mapping(document: object) -> dict[str, object]:
    """Return the document as a mapping, or refuse to edit it.

    Raises:
        EditError: the top level is not a mapping.
    """
    if not isinstance(document, dict):
        raise EditError("the registry is not a mapping at the top level; fix the file by hand")
    return document
