"""Commit trailers of the loop (core layer): their keys, in order, and how to read them back.

Kept apart from commit_messages so `reconcile history` reads trailers without importing the
intent evaluation.
"""

from __future__ import annotations

TRAILER_KEYS = (
    "Reconcile-Intent",
    "Reconcile-Status",
    "Reconcile-Action",
    "Fleet",
    "Idempotency-Key",
    "Trace-Id",
    "Decision",
    "Decision-Trace-Id",
    "Actor",
    "Approval-Ref",
    "Canary",
    "Manual-Pause",
    "Intent-Commit",
    "Reason-Codes",
)


def parse_trailers(text: str) -> dict[str, str]:
    """Read `Key: value` trailer lines (as `git log --format=%(trailers:unfold,only)` prints)."""
    found: dict[str, str] = {}
    for line in text.split("\n"):  # not splitlines(): U+2028 and friends are no break here
        key, sep, value = line.partition(":")
        if sep and key and " " not in key:
            found[key] = value.strip()
    return found
