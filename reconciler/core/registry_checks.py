"""Building blocks of the registry validator (core layer): JSON type tests and rule factories.

A `Check` turns one present (non-null) value into the requirement phrases it fails, so every block
of the registry is a table of `(key, check)` rows. Used by `registry.py` and `registry_policy.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType
from typing import TypeGuard

Block = Mapping[str, object]
Check = Callable[[object], list[str]]
Checks = Sequence[tuple[str, Check]]

EMPTY: Block = MappingProxyType({})


def is_integer(value: object) -> TypeGuard[int]:
    """Return True for a JSON integer: an int that is not a bool (floats like 50.0 are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """Return True for a JSON number: an int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_nonempty_string(value: object) -> TypeGuard[str]:
    """Return True for a string with at least one character."""
    return isinstance(value, str) and value != ""


def requirement(accept: Callable[[object], bool], phrase: str) -> Check:
    """Return a check that fails with `phrase` when `accept` rejects the value."""
    return lambda value: [] if accept(value) else [phrase]


def first_failure(*checks: Check) -> Check:
    """Return a check that reports only the first failing check (the bash tool's if/elif)."""

    def check(value: object) -> list[str]:
        for each in checks:
            if phrases := each(value):
                return phrases
        return []

    return check


def integer_at_least(minimum: int, phrase: str | None = None) -> Check:
    """Return a check for an integer >= `minimum`."""
    text = phrase or f"must be an integer >= {minimum} when present"
    return requirement(lambda value: is_integer(value) and value >= minimum, text)


def number_between(low: float, high: float, phrase: str) -> Check:
    """Return a check for a number in `low..high` inclusive."""
    return requirement(lambda value: is_number(value) and low <= value <= high, phrase)


def string_among(choices: Sequence[str]) -> Check:
    """Return a check for a string that is one of `choices`, reported in that order."""
    return first_failure(
        requirement(lambda value: isinstance(value, str), "must be a string when present"),
        requirement(lambda value: value in choices, f"must be one of {', '.join(choices)}"),
    )


def string_entries(allowed: Collection[str], *, not_array: str, outside: str) -> Check:
    """Return a check for an array of strings drawn from `allowed`; both entry faults are kept."""

    def check(value: object) -> list[str]:
        if not isinstance(value, list):
            return [not_array]
        phrases = []
        if not all(isinstance(entry, str) for entry in value):
            phrases.append("entries must be strings")
        if any(isinstance(entry, str) and entry not in allowed for entry in value):
            phrases.append(outside)
        return phrases

    return check


BOOLEAN = requirement(lambda value: isinstance(value, bool), "must be boolean when present")
NONEMPTY_STRING = requirement(is_nonempty_string, "must be a non-empty string when present")


def check_object(parent: Block, key: str, label: str, problems: list[str]) -> Block | None:
    """Return `parent[key]` (EMPTY when absent or null), or None after noting a wrong type."""
    value = parent.get(key)
    if value is None:
        return EMPTY
    if isinstance(value, Mapping):
        return value
    problems.append(f"{label} must be an object when present")
    return None


def check_fields(block: Block, prefix: str, checks: Checks, problems: list[str]) -> None:
    """Note `<prefix><key> <phrase>` for every present field of `block` that fails its check."""
    for key, check in checks:
        value = block.get(key)
        if value is not None:
            problems.extend(f"{prefix}{key} {phrase}" for phrase in check(value))


def check_block(
    parent: Block, key: str, label: str, checks: Checks, problems: list[str]
) -> Block | None:
    """Check that `parent[key]` is an object when present, then its fields; return it or None."""
    block = check_object(parent, key, label, problems)
    if block is not None:
        check_fields(block, f"{label}.", checks, problems)
    return block
