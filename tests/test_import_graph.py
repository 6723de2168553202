"""The package's import graph has no cycle (issue 10); import-linter checks the layers."""

from __future__ import annotations

import grimp


def import_cycles(package: str) -> list[list[str]]:
    """Every group of modules that import one another in a circle (Tarjan's SCCs > 1)."""
    graph = grimp.build_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in graph.modules:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_of_the_package_imports_itself_in_a_circle() -> None:
    # Type-only imports count too: they are how the last cycles crept in.
    assert import_cycles("reconciler") == []
