"""Audit drift as the rules see it (core layer): what `reconcile verify` found unresolved.

The loop audits the history incrementally after each pass (reports/audit.py, docs/audit.md)
and passes the unresolved `hand_edit`, `record_chain_broken` and `trust_file_unapproved`
findings here: while any is
left, expand and resume are refused (`audit_drift`); a rollback still pauses and an `adopt`
intent records the current owned values as the new baseline (the way out besides a revert).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Drift(NamedTuple):
    """The unresolved blocking findings of the audit, and the recorded baseline."""

    blocking: tuple[str, ...] = ()
    """One line per unresolved blocking finding (`core/audit_drift.BLOCKING_KINDS`)."""
    baseline: Mapping[str, Any] | None = None
    """The last applied record's `rollout.after` (what an adopt records as `before`); None
    when there is no record."""
