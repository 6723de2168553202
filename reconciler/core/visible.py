"""Visible text (core layer): whether a governance value shows anything when printed.

A governance value (actor, approval reference, rationale, review deadline) that prints as
nothing records no one: `" "`, a tab, U+00A0 or U+200B pass a non-empty check but name nobody.
Such values count as missing everywhere governance is read (apply's flags, intent files,
`intent new`, `dispatch`, the registry's governance block).

A character is visible when its Unicode general category is a letter (L*), number (N*),
punctuation (P*) or symbol (S*), except the few of those that render as blank space: the Hangul
fillers U+115F, U+1160, U+3164, U+FFA0 and U+2800 BRAILLE PATTERN BLANK. Everything else is
invisible: separators (Zs, Zl, Zp: every `str.isspace` character is one of these or a control),
controls (Cc), format characters (Cf: U+200B, U+200C, U+200D, U+2060, U+FEFF, bidi marks),
private-use and unassigned code points (Co, Cn), and combining marks on their own (Mn, Mc,
Me), which have no base character to show on. A lone surrogate (Cs) only comes from
command-line bytes that are not UTF-8: it counts as visible (it shows as U+FFFD), so such a
flag reaches the clearer argument_not_utf8 refusal instead of "is required".
"""

from __future__ import annotations

import unicodedata
from typing import TypeGuard

VISIBLE_CATEGORIES = frozenset("LNPS")
"""First letters of the general categories whose characters are visible."""
BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Letters and symbols that nevertheless render as blank space."""


def is_visible_char(char: str) -> bool:
    """Tell whether one character shows something when printed (see the module docstring)."""
    category = unicodedata.category(char)
    if category == "Cs":  # a command-line byte that is not UTF-8: shown as U+FFFD
        return True
    return category[0] in VISIBLE_CATEGORIES and char not in BLANK_GLYPHS


def has_visible_text(value: object) -> TypeGuard[str]:
    """Return True for a string holding at least one visible character."""
    return isinstance(value, str) and any(map(is_visible_char, value))
