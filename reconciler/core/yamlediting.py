"""Minimal YAML edits (core layer): splice owned values at PyYAML node marks.

Loaded only for YAML registries, by `editing.RegistryText`; JSON edits live in editing.py.
"""

from __future__ import annotations

from typing import cast

from yaml.nodes import MappingNode

from reconciler.core import yamlstyle
from reconciler.core.splicing import ChangeTree, Splice, is_same, newline_of, top_mapping
from reconciler.core.yamltext import compose_yaml, construct_yaml


class YamlEdit:
    """Plans the splices for one YAML text: replace values in place, insert missing keys."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.root = cast(MappingNode, compose_yaml(text))
        self.document = construct_yaml(self.root)
        self.newline = newline_of(text)

    def plan(self, tree: ChangeTree) -> list[Splice]:
        """Return the splices that set every value of `tree`."""
        return self._plan(self.root, top_mapping(self.document), tree)

    def _plan(self, node: MappingNode, data: dict[str, object], tree: ChangeTree) -> list[Splice]:
        splices: list[Splice] = []
        values = {key.value: value for key, value in node.value}
        missing: ChangeTree = {}
        for key, change in tree.items():
            value_node, current = values.get(key), data.get(key)
            if value_node is None:
                missing[key] = change
            elif isinstance(value_node, MappingNode):  # _expected allowed only a nested change
                splices += self._plan(
                    value_node, cast(dict[str, object], current), cast(ChangeTree, change)
                )
            elif isinstance(change, dict):  # a null: `pause:` becomes `pause: {manual: true}`
                quoting = yamlstyle.Quoting(keys=yamlstyle.sibling_quoting(node).keys)
                new_text = "{" + yamlstyle.flow_pairs(change, quoting) + "}"
                splices.append(yamlstyle.scalar_splice(self.text, value_node, new_text))
            elif not is_same(current, change):
                original = value_node.value if isinstance(current, bool | str) else ""
                new_text = yamlstyle.render_scalar(
                    change, value_node.style, original, flow=node.flow_style is True
                )
                splices.append(yamlstyle.scalar_splice(self.text, value_node, new_text))
        if missing:
            splices.append(self._insert(node, missing))
        return splices

    def _insert(self, node: MappingNode, missing: ChangeTree) -> Splice:
        # New keys and strings are quoted like those already beside them ('x' stays 'x').
        quoting = yamlstyle.sibling_quoting(node)
        if node.flow_style:
            at, separator = yamlstyle.flow_insertion_point(self.text, node)
            return at, at, separator + yamlstyle.flow_pairs(missing, quoting)
        at = yamlstyle.block_insertion_point(self.text, node)
        column = node.value[0][0].start_mark.column  # block keys share their first key's column
        step = yamlstyle.indent_step(self.root)
        lines = yamlstyle.block_lines(missing, column, step, self.newline, quoting)
        if at == len(self.text) and not self.text.endswith("\n"):
            # Keep the file's missing final newline: the new lines go after a new break.
            lines = self.newline + lines[: -len(self.newline)]
        return at, at, lines
