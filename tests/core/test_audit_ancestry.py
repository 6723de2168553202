"""Ancestor questions answered from one topological walk (merges included)."""

from __future__ import annotations

import itertools

from reconciler.core.audit_ancestry import Ancestry, Listed

# a - b - m - d - n        (HEAD's first-parent line: a b m d n)
#  \     /       /
#   s1-s2       t          (s1, s2 merged by m; t, off an old base, merged by n)
#         \- u             (u: a side commit never merged: not listed)
HISTORY = [
    Listed("a", ()),
    Listed("s1", ("a",)),
    Listed("b", ("a",)),
    Listed("s2", ("s1",)),
    Listed("m", ("b", "s2")),
    Listed("t", ("b",)),
    Listed("d", ("m",)),
    Listed("n", ("d", "t")),
]
ANCESTORS = {
    "a": set(),
    "s1": {"a"},
    "b": {"a"},
    "s2": {"a", "s1"},
    "m": {"a", "b", "s1", "s2"},
    "t": {"a", "b"},
    "d": {"a", "b", "s1", "s2", "m"},
    "n": {"a", "b", "s1", "s2", "m", "t", "d"},
}


def test_every_pair_is_answered_as_a_full_walk_would() -> None:
    ancestry = Ancestry(HISTORY)
    names = [commit.sha for commit in HISTORY]
    for ancestor, commit in itertools.product(names, names):
        assert ancestry.is_ancestor(ancestor, commit) is (ancestor in ANCESTORS[commit]), (
            ancestor,
            commit,
        )


def test_a_commit_the_walk_did_not_list_is_no_ancestor() -> None:
    ancestry = Ancestry(HISTORY)
    assert not ancestry.is_listed("u")
    assert not ancestry.is_ancestor("u", "n")
    assert not ancestry.is_ancestor("a", "u")
