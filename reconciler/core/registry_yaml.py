"""Registry YAML that other tools read differently (core layer): refused at the owned fields.

This reconciler reads YAML 1.2's core schema (`yamltext.py`). The registry is read by other
tools too, and many of them read YAML 1.1 (PyYAML's loaders, Go's yaml.v2) or 1.2 with 1.1's
merge keys (ruamel.yaml). Where the readings differ at a field the reconciler reads and
writes, the reconciler would act on a value nobody else sees (`pause: {<<: {manual: true}}` is
paused to PyYAML and ruamel, not paused to us), so `check_owned_fields` refuses the registry
with `registry_yaml_ambiguous`:

- a merge key (a plain `<<` key) in any mapping on the path to an owned field: the root,
  `policy`, `autonomous`, `rollout`, `pause` and `governance`;
- `canaryPercent` read as an integer but not written as a plain decimal (`025` is 21 to YAML 1.1
  and 25 to 1.2, `0o31` is text to 1.1; a sign, hex and octal forms vary across tools and
  versions, so `0x19` and `+25` are refused as well: one spelling, one meaning),
  or written in a form a YAML 1.1 reader takes for a number while we read text (`0b11`, `1:30`),
  or one ruamel.yaml does, as it allows `_` between digits (`._5`, `0o_1`);
- not `pause.manual` written as a YAML 1.1-only boolean (`yes`, `no`, `on`, `off`, `y`, `n`):
  we read it as text, which validation already refuses for expand and resume
  (`registry_invalid`: "must be boolean"), while a rollback writes `true` over it and so
  leaves one reading for every tool (a rollback must always be able to pause). It is named
  with its advice, as a warning.

The same constructs elsewhere in the registry are not ours to refuse: `ambiguity_warnings`
names them for `reconcile validate`. The governance values are replaced by every mutation and
drive nothing, so a differently read value there is only a warning too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.core.applying import CANARY_PATH, GOVERNANCE_PATH, MANUAL_PAUSE_PATH
from reconciler.core.editing import RegistryText
from reconciler.core.errors import DocumentError, RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.splicing import is_same
from reconciler.core.yamltext import STR_TAG, construct_yaml, resolve_plain_tag

Path = tuple[str, ...]
OWNED_MAPPINGS: frozenset[Path] = frozenset(
    {(), *(CANARY_PATH[:n] for n in range(1, len(CANARY_PATH))), MANUAL_PAUSE_PATH[:-1]}
    | {GOVERNANCE_PATH}
)
"""The mappings on the path from the root to an owned field (where a merge key is refused)."""
OWNED_VALUES = frozenset({CANARY_PATH, MANUAL_PAUSE_PATH})
"""The owned fields whose values the reconciler acts on (their spellings are checked)."""
REFUSED_VALUES = frozenset({CANARY_PATH})
"""Where a differently read spelling is refused; at `pause.manual` it is a warning (above)."""

_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
# A node's properties: an optional anchor, then a tag (`!!int 025`, `&a !!str x`, `!x &a y`).
_EXPLICIT_TAG = re.compile(r"(?:&[^\s,\[\]{}]+\s+)?!")
# YAML 1.1's boolean type also has y/Y/n/N; PyYAML leaves them out, ruamel's and Go's 1.1 don't.
_YAML11_SHORT_BOOLS = {"y": True, "Y": True, "n": False, "N": False}
_YAML11 = yaml.resolver.Resolver()
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})
_IMPLICIT = (True, False)  # a plain scalar: its tag comes from its text
_MERGE_PROBLEM = (
    "has a merge key (<<), which YAML 1.1 tools and ruamel.yaml merge into it and this "
    'reconciler reads as a key named "<<"; write the keys out in full'
)
_ADVICE = {
    CANARY_PATH: "write it as a plain decimal integer",
    MANUAL_PAUSE_PATH: "write true or false",
}
_UNREADABLE = object()
"""What a YAML 1.1 reader makes of `=` (the `value` type): an error."""


class Ambiguity(NamedTuple):
    """One place the registry reads differently in other YAML tools."""

    line: int
    column: int
    path: Path
    problem: str
    owned: bool
    """At an owned field (refused) or elsewhere (a warning)."""

    @property
    def message(self) -> str:
        """`line 7, column 9: policy.autonomous.rollout.pause has a merge key ...`."""
        return f"line {self.line}, column {self.column}: {_label(self.path)} {self.problem}"


def check_owned_fields(registry: RegistryText, path: str) -> None:
    """Refuse a registry whose owned fields other YAML tools would read differently.

    Raises:
        RefusalError: `registry_yaml_ambiguous`, one detail line per place.
    """
    owned = [found.message for found in find_ambiguities(registry) if found.owned]
    if owned:
        raise RefusalError(
            ReasonCode.REGISTRY_YAML_AMBIGUOUS,
            f"ambiguous fleet registry YAML at fields the reconciler owns: {path}",
            details=owned,
            path=path,
        )


def ambiguity_warnings(registry: RegistryText) -> list[str]:
    """Name the places other YAML tools read differently that are not refused here."""
    return [
        f"registry YAML {found.message} ({_why_warning(found.path)})"
        for found in find_ambiguities(registry)
        if not found.owned
    ]


def _why_warning(path: Path) -> str:
    if path == MANUAL_PAUSE_PATH:
        return "expand and resume refuse it as not a boolean; a rollback writes true over it"
    return "not a field the reconciler owns: a warning only"


def find_ambiguities(registry: RegistryText) -> list[Ambiguity]:
    """Every merge key and differently read scalar of a YAML registry, in document order."""
    tree = registry.yaml_tree
    if tree is None:
        return []  # JSON has one reading
    text, root = tree
    read11 = _Yaml11Reader()
    found: list[Ambiguity] = []
    for node, path, is_key in _walk(root):
        if is_key:
            mapping = path[:-1]
            if _is_merge_key(text, node):
                found.append(_at(node, mapping, _MERGE_PROBLEM, owned=mapping in OWNED_MAPPINGS))
            elif (reading := _reading(text, node, read11)) is not None:
                key_problem = f"has the key `{_text(node)}`, {reading}; quote it"
                found.append(_at(node, mapping, key_problem, owned=False))
            continue
        field = path if path in OWNED_VALUES else None
        problem = _value_problem(text, node, read11, field)
        if problem is not None:
            found.append(_at(node, path, problem, owned=field in REFUSED_VALUES))
    return sorted(found, key=lambda each: (each.line, each.column))


def _walk(root: Node | None) -> Iterator[tuple[ScalarNode, Path, bool]]:
    """Yield every scalar with its path (a key: the path it names) and whether it is a key."""
    stack: list[tuple[Node, Path]] = [] if root is None else [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, ScalarNode):
            yield node, path, False
        elif isinstance(node, SequenceNode):
            stack.extend((item, (*path, f"[{index}]")) for index, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            children = []
            for key, value in node.value:
                # Keys are strings: `yamltext` refused anything else while composing.
                assert isinstance(key, ScalarNode)
                yield key, (*path, key.value), True
                children.append((value, (*path, key.value)))
            stack.extend(reversed(children))


def _is_merge_key(text: str, node: ScalarNode) -> bool:
    return node.value == "<<" and _is_plain(text, node)


def _is_plain(text: str, node: ScalarNode) -> bool:
    """A plain scalar whose type is implied by its text (no quotes, no explicit tag)."""
    return not node.style and _EXPLICIT_TAG.match(text, node.start_mark.index) is None


def _value_problem(
    text: str, node: ScalarNode, read11: Callable[[str], object], field: Path | None
) -> str | None:
    """Why a value reads differently in other tools; `field`: the owned field it is at."""
    reading = _reading(text, node, read11)
    if field == CANARY_PATH and reading is None:
        ours = construct_yaml(node)
        if _is_int(ours) and not _PLAIN_DECIMAL.match(node.value):
            return (
                f"is written `{_text(node)}`, not as a plain decimal integer: YAML tools disagree "
                f"on such spellings (`025`, `0o31`, `0b11`, `1_0`); write it as {ours}"
            )
    if reading is None:
        return None
    advice = _ADVICE.get(field or (), "quote it if it is text")
    return f"is written `{_text(node)}`, {reading}; {advice}"


def _reading(text: str, node: ScalarNode, read11: Callable[[str], object]) -> str | None:
    """How this reconciler's and another reader's values of a plain scalar differ, or None."""
    if not _is_plain(text, node):
        return None  # quoted or tagged: every reader sees the same type
    value = node.value
    if (
        node.tag == STR_TAG
        and value not in _YAML11_SHORT_BOOLS
        and "_" not in value
        and _yaml11_tag(value) == STR_TAG
    ):
        return None  # text to everyone: the common case, decided without constructing
    ours, theirs = construct_yaml(node), read11(value)
    if theirs is _UNREADABLE:
        return "which YAML 1.1 tools cannot read"
    kinds = (bool, int, float)
    if not is_same(ours, theirs) and (isinstance(ours, kinds) or isinstance(theirs, kinds)):
        # (A timestamp is text to us and a date to YAML 1.1: not a number or flag, not here.)
        return (
            f"which this reconciler (YAML 1.2) reads as {_shown(ours)} and YAML 1.1 tools such "
            f"as PyYAML as {_shown(theirs)}"
        )
    underscored = _underscored_number(value) if isinstance(ours, str) else None
    if underscored is not None:
        return (
            f"which this reconciler reads as {_shown(ours)} and ruamel.yaml (YAML 1.2 with `_` "
            f"between digits) as {_shown(underscored)}"
        )
    return None


def _underscored_number(value: str) -> object | None:
    """The number ruamel.yaml reads where `_` separates digits (`._5`, `0o_1`), else None."""
    if "_" not in value:
        return None
    bare = value.replace("_", "")
    tag = resolve_plain_tag(bare)
    if tag not in _NUMBER_TAGS:
        return None
    try:
        return construct_yaml(ScalarNode(tag, bare))
    except DocumentError:  # more digits than int() takes: a number all the same
        return bare


class _Yaml11Reader:
    """What a YAML 1.1 reader (PyYAML's safe loader, plus y/n) makes of a plain scalar."""

    def __init__(self) -> None:
        self._constructor = SafeConstructor()

    def __call__(self, value: str) -> object:
        if value in _YAML11_SHORT_BOOLS:
            return _YAML11_SHORT_BOOLS[value]
        tag = _yaml11_tag(value)
        construct = SafeConstructor.yaml_constructors.get(tag)
        if construct is None:
            return _UNREADABLE
        try:
            return construct(self._constructor, ScalarNode(tag, value))
        except (yaml.YAMLError, ValueError, OverflowError):
            return _UNREADABLE


def _yaml11_tag(value: str) -> str:
    return str(_YAML11.resolve(ScalarNode, value, _IMPLICIT))  # type: ignore[no-untyped-call]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(node: ScalarNode) -> str:
    value = str(node.value)
    return value if len(value) <= 40 else value[:37] + "..."


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"the text {value!r}"
    return repr(value)


def _at(node: Node, path: Path, problem: str, *, owned: bool) -> Ambiguity:
    return Ambiguity(node.start_mark.line + 1, node.start_mark.column + 1, path, problem, owned)


def _label(path: Path) -> str:
    return ".".join(path).replace(".[", "[") if path else "the top-level mapping"
