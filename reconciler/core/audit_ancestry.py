"""Which listed commit is an ancestor of which (core layer), from one topological walk.

`reconcile verify` checks that a record's `git.baseCommit` and `git.intentCommit` are
ancestors of the commit that appended it, for thousands of records: one `git merge-base
--is-ancestor` each would be a process per record. HEAD's first-parent line (the branch the
reconciler commits on) is numbered; every other commit gets the first commit of that line
that contains it (the merge that brought it in), each commit visited once. An ancestor
question about two commits of that line is then two numbers; the rare one about a commit off
the line walks its parents, bounded by the topological order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Listed(NamedTuple):
    """A commit as the walk lists it."""

    sha: str
    parents: tuple[str, ...]


class Ancestry:
    """Ancestor questions over commits listed oldest first in topological order."""

    def __init__(self, commits: Sequence[Listed]) -> None:
        """`commits`: every commit of the range, parents before children; the last is HEAD."""
        self._index = {commit.sha: number for number, commit in enumerate(commits)}
        self._parents = {commit.sha: commit.parents for commit in commits}
        line = []
        sha = commits[-1].sha if commits else None
        while sha is not None and sha in self._index:
            line.append(sha)
            parents = self._parents[sha]
            sha = parents[0] if parents else None
        line.reverse()
        self._on_line = {sha: position for position, sha in enumerate(line)}
        """A commit of HEAD's first-parent line -> its position there."""
        self._brought: dict[str, int] = {}
        """Any other commit -> the position of the first commit of the line containing it."""
        for position, sha in enumerate(line):
            stack = list(self._parents[sha][1:])
            while stack:
                other = stack.pop()
                if other in self._on_line or other in self._brought or other not in self._index:
                    continue
                self._brought[other] = position
                stack.extend(self._parents[other])

    def is_listed(self, sha: str) -> bool:
        """Whether the walk listed `sha`."""
        return sha in self._index

    def is_ancestor(self, ancestor: str, commit: str) -> bool:
        """Whether `ancestor` is a proper ancestor of `commit` (False if either is not listed)."""
        if ancestor == commit or ancestor not in self._index or commit not in self._index:
            return False
        position = self._on_line.get(commit)
        if position is None:
            return self._walk(ancestor, commit)
        if ancestor in self._on_line:
            return self._on_line[ancestor] < position
        return self._brought.get(ancestor, position + 1) <= position

    def _walk(self, ancestor: str, commit: str) -> bool:
        floor = self._index[ancestor]  # an ancestor always comes before in the order
        stack, seen = [commit], {commit}
        while stack:
            for parent in self._parents.get(stack.pop(), ()):
                if parent == ancestor:
                    return True
                if parent not in seen and self._index.get(parent, -1) > floor:
                    seen.add(parent)
                    stack.append(parent)
        return False
