"""A fleet's upstream (inputs layer): what its `after:`/`requires:` gate reads, lazily.

The gate (`core/upstream.UpstreamGate`) calls `read_facts` only when an expand or resume of
the downstream fleet is assessed: the upstream's registry now and its applied records (its
telemetry, oldest first). Every path builds it here through `guarding.load_guards`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.core import registry, upstream
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import parse_timestamp
from reconciler.core.upstream import UpstreamFacts, UpstreamGate
from reconciler.inputs import documents
from reconciler.inputs.confinement import Layout
from reconciler.inputs.fleet import Fleet

Record = Mapping[str, Any]


AppliedRecords = Callable[[str, str], Sequence[Record]]
"""(telemetry file, state file) -> the applied records, oldest first
(`telemetry.ledger.applied_records`)."""


def upstream_gate(layout: Layout, records: AppliedRecords | None) -> UpstreamGate | None:
    """The fleet's upstream gate; None without `after:` (or with one fleet).

    Without `records` the upstream cannot be read: the gate never opens (fail closed).
    """
    settings = layout.fleet_settings
    if settings is None or settings.after is None or layout.upstream is None:
        return None
    requirement, problems = upstream.parse_requires(settings.after, settings.requires)
    if requirement is None:  # refused when the layout was resolved (fleets_invalid)
        raise AssertionError(f"fleets.{settings.id}: {problems}")
    found, refused = layout.upstream, layout.upstream_refused
    return UpstreamGate(requirement, lambda: read_facts(found, records, refused))


def read_facts(
    fleet: Fleet, records: AppliedRecords | None, refused: RefusalError | None = None
) -> UpstreamFacts:
    """The upstream's registry now and its applied records, oldest first.

    Raises:
        RefusalError: the registry or the telemetry cannot be read, or the upstream's
            layout is `refused` (its folder leads outside the repository): the gate holds.
    """
    if records is None:
        raise RefusalError(
            ReasonCode.GUARD_UPSTREAM_NOT_READY, "this path does not read upstream records"
        )
    if refused is not None:
        raise refused
    loaded = documents.load_registry(fleet.registry)
    doc = loaded.doc if isinstance(loaded.doc, dict) else {}
    view = registry.view_registry(doc)
    applied = records(fleet.telemetry, fleet.state)
    changed = view.governance.changed_at
    return UpstreamFacts(
        canary=view.canary_percent,
        paused=view.manual_pause,
        records=applied,
        changed_at=parse_timestamp(changed) if changed else None,
    )
