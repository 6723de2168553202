"""a Markdown list item cannot open a block, leading spaces or not.

A list item's content starts at its first non-space within four columns of the marker, so
`-    # x` is a heading inside the item and `-  - x` a nested list: the block marker after up
to three leading spaces must be escaped as at the start.
"""

from __future__ import annotations

import pytest

from reconciler.render.markdown import item


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("   # heading", "-    \\# heading"),
        (" - nested", "-  \\- nested"),
        ("  > quote", "-   \\> quote"),
        ("  1. ordered", "-   1\\. ordered"),
        ("# heading", "- \\# heading"),
        ("    # code", "-     # code"),  # five spaces after the marker: a code block, verbatim
    ],
)
def test_a_block_marker_after_leading_spaces_is_escaped(value: str, shown: str) -> None:
    assert item(value) == shown
