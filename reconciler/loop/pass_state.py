"""The state a pass starts from: the registry (validated), the decision, the pending intents.

The loop, `plan`, `status` and `dispatch` all load it here, so what they evaluate is the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Mapping, Sequence
from datetime import datetime

from reconciler.core import applying, registry, rules
from reconciler.core.drift import Drift
from reconciler.core.errors import RefusalError
from reconciler.core.guard_settings import PassGuards
from reconciler.core.passes import IntentSource, PassState, is_rollback
from reconciler.core.reasons import ReasonCode
from reconciler.core.trust import Provenance, Trust
from reconciler.inputs import documents, guarding, trusting
from reconciler.loop import provenance, queue, symlinks
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig
from reconciler.loop.paths import LoopPaths
from reconciler.telemetry import ledger
from reconciler.telemetry.ledger import Ledger


def record_files(rel: LoopPaths) -> dict[str, str]:
    """The `files` block of a loop record: repo-relative paths."""
    return {
        "registryFile": rel.registry,
        "promotionStateFile": rel.decision,
        "applyStateFile": rel.state,
        "applyTelemetryFile": rel.telemetry,
    }


def load_state(
    config: LoopConfig,
    files: Mapping[str, str],
    *,
    registry_file: str,
    decision_file: str,
    base_commit: str,
    now: datetime,
    guards: PassGuards | None = None,
    trust: Trust | RefusalError | None = None,
) -> PassState:
    """Read the registry (validated) and the decision into a PassState.

    A registry a rollback can still be applied to (its problems are outside the fields a
    rollback needs) is not refused here: the state carries the problem, and
    `require_usable_registry` decides once the pending intents are known.

    Raises:
        RefusalError: the registry is missing or unreadable, or invalid so that not even a
            rollback could be applied (`registry_invalid`).
    """
    loaded = documents.load_registry(registry_file)
    problems = rules.registry_problems(loaded.doc, now)
    invalid = None
    if problems:
        invalid = RefusalError(
            ReasonCode.REGISTRY_INVALID,
            f"invalid fleet registry: {loaded.path}; no intent was consumed",
            details=problems,
            path=loaded.path,
        )
        if applying.is_refused_by("rollback", problems):
            raise invalid
    assert isinstance(loaded.doc, dict)
    try:
        found, problem = documents.load_decision(decision_file), None
    except RefusalError as exc:
        found, problem = None, _repo_relative(exc, decision_file, files["promotionStateFile"])
    return PassState(
        registry=loaded.parsed,
        view=registry.view_registry(loaded.doc),
        decision=found,
        decision_problem=problem,
        max_age=config.max_age,
        max_age_text=config.max_age_text,
        files=dict(files),
        base_commit=base_commit,
        registry_problem=invalid,
        guards=guards,
        trust=trust,
        fleet_id=config.fleet.id if config.layout.is_multi_fleet else None,
    )


def require_usable_registry(
    state: PassState, sources: Sequence[IntentSource], now: datetime
) -> None:
    """Refuse a pass on an invalid registry unless a rollback is pending.

    An invalid registry stops the pass and consumes nothing (the intents apply once it is
    fixed). A rollback must always be able to pause the fleet, so when one is pending and the
    problems are outside what it needs, the pass runs: the rollback is applied with
    `registry_invalid_elsewhere`, and expand/resume are rejected with `registry_invalid`
    (left pending, one queued before the rollback would undo it once the registry is fixed).

    Raises:
        RefusalError: `registry_invalid`, every problem listed; nothing was consumed.
    """
    if state.registry_problem is None:
        return
    if not any(is_rollback(source, now) for source in sources):
        raise state.registry_problem


def _repo_relative(exc: RefusalError, absolute: str, relative: str) -> RefusalError:
    """The decision's problem naming the file repo-relative: it goes into committed records.

    (`plan` reads the decision from a temporary copy of the base commit, whose path would
    otherwise differ from the loop's.)
    """
    return RefusalError(
        exc.reason,
        exc.message.replace(absolute, relative),
        details=[detail.replace(absolute, relative) for detail in exc.details],
        path=relative,
    )


def checkout_state(
    checkout: Checkout, config: LoopConfig, now: datetime, rel: LoopPaths
) -> PassState:
    """The state a pass of this checkout starts from: its registry and decision files.

    `rel`: the fleet's files as `config.relative_paths` returned them.

    Raises:
        RefusalError: the registry is missing, unreadable, or invalid even for a rollback.
    """
    return load_state(
        config,
        record_files(rel),
        registry_file=config.fleet.registry,
        decision_file=config.fleet.decision,
        base_commit=checkout.head,
        now=now,
        guards=guarding.load_guards(config.layout, records=ledger.applied_records),
    )


def read_pending(
    checkout: Checkout,
    config: LoopConfig,
    rel: LoopPaths,
    pending: Sequence[queue.PendingFile] | None = None,
) -> list[IntentSource]:
    """Read every pending intent of the checkout, in the loop's order, linked to its commit.

    `rel`: the fleet's files as `config.relative_paths` returned them. `pending`: the
    intents folder's pending files when the caller already listed them.
    """
    if pending is None:
        pending = queue.list_pending(checkout, config.fleet.intents)
    return read_sources(checkout, pending, symlinks.tracked_intents(checkout, rel))


def read_sources(
    checkout: Checkout, pending: Sequence[queue.PendingFile], tracked: Container[str]
) -> list[IntentSource]:
    """Read `pending` (those in `tracked` are committed: linked to the commit that added them)."""
    adding = queue.find_adding_commits(
        checkout, [item.path for item in pending if item.path in tracked]
    )
    return [queue.read_source(item, adding.get(item.path)) for item in pending]


def with_trust(
    checkout: Checkout,
    config: LoopConfig,
    rel: LoopPaths,
    state: PassState,
    sources: list[IntentSource],
) -> tuple[PassState, list[IntentSource]]:
    """The state with the pass's trust and the sources with their provenance (`trust:` set).

    `rel`: the fleet's files, as `config.relative_paths` checked them. Read only when an
    intent is pending: an idle pass loads no trust file and walks no git history for it.
    """
    if not sources:
        return state, sources
    found = trusting.load_trust(config.layout)
    trust = provenance.pass_trust(checkout, found, rel.decision)
    return state._replace(trust=trust), with_provenance(checkout, trust, sources)


def with_provenance(
    checkout: Checkout, found: Trust | RefusalError | None, sources: list[IntentSource]
) -> list[IntentSource]:
    """The sources with who wrote and who brought in each (only when the pass has trust).

    With trust settings that cannot be read, provenance would not be asked for: every
    intent is refused on them first (a rollback noted).
    """
    if found is None or isinstance(found, RefusalError):
        return sources
    committed = {source.path: source.blob for source in sources if source.intent_commit}
    proven = provenance.intent_provenance(checkout, committed, found.signers)
    return [
        source._replace(provenance=proven.get(source.path, Provenance(committed=False)))
        for source in sources
    ]


Auditor = Callable[[Checkout, "str | None"], Sequence[str]]
"""(checkout, fleet id or None for the one fleet) -> the unresolved blocking findings of the
history's audit that hold that fleet, one line each (the commands pass reports/audit_state's
incremental check; the loop cannot import reports)."""


def with_drift(
    state: PassState,
    audit: Auditor | None,
    checkout: Checkout,
    history: Ledger,
    sources: Sequence[IntentSource],
) -> PassState:
    """The state with the audit's drift, read when an intent is pending.

    An audit that cannot run is drift too (fail closed): expand and resume wait for it.
    """
    if audit is None or not sources:
        return state
    try:
        blocking = tuple(audit(checkout, state.fleet_id))
    except RefusalError as exc:
        blocking = (f"the audit could not run: {exc.message}",)
    except Exception as exc:  # noqa: BLE001 - hostile history must never stop a rollback
        blocking = (f"the audit could not run: {type(exc).__name__}",)
    try:
        baseline = history.last_applied_rollout()
    except RefusalError:
        baseline = None  # an adopt then records the file as it is on both sides
    return state._replace(drift=Drift(blocking, baseline))


def in_tree(root: str, relative: str) -> str:
    """Join a repo-relative path onto another root folder (e.g. a materialised merge)."""
    return os.path.join(root, *relative.split("/"))
