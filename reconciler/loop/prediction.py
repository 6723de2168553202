"""Predicting a pass without making it: what `plan`, `status` and `--dry-run` show.

The same `evaluate_intent` the loop commits with, run over the same ordered sources on the
same state, so a prediction and the later commit can only differ when the state changes in
between (another intent merged first, a new decision, the clock).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from reconciler.core import applying, registry
from reconciler.core.errors import RefusalError
from reconciler.core.passes import IntentSource, Outcome, PassState, evaluate_intent, is_rollback
from reconciler.core.reasons import ReasonCode
from reconciler.inputs import documents
from reconciler.loop import queue, symlinks
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig, LoopPaths
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
    problems = registry.validate_registry(loaded.doc, now, skip_governance_fields=True)
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


def checkout_state(checkout: Checkout, config: LoopConfig, now: datetime) -> PassState:
    """The state a pass of this checkout starts from: its registry and decision files.

    Raises:
        RefusalError: the registry is missing, unreadable, or invalid even for a rollback.
    """
    return load_state(
        config,
        record_files(config.relative_paths(checkout)),
        registry_file=config.layout.registry_file,
        decision_file=config.decision_file,
        base_commit=checkout.head,
        now=now,
    )


def read_pending(checkout: Checkout, config: LoopConfig) -> list[IntentSource]:
    """Read every pending intent of the checkout, in the loop's order, linked to its commit."""
    rel = config.relative_paths(checkout)
    pending = queue.list_pending(checkout, config.intents_dir)
    tracked = symlinks.tracked_intents(checkout, rel)
    adding = queue.find_adding_commits(
        checkout, [item.path for item in pending if item.path in tracked]
    )
    return [queue.read_source(item, adding.get(item.path)) for item in pending]


def predict(
    state: PassState,
    sources: Sequence[IntentSource],
    history: Ledger,
    now: Callable[[], datetime],
) -> list[Outcome]:
    """Evaluate `sources` in order, each on the state the previous one left; write nothing.

    The ledger is updated in memory only, so a later file replaying an earlier one's key in
    the same pass is predicted as `replayed`, exactly as the loop would commit it.
    """
    outcomes = []
    for source in sources:
        outcome = evaluate_intent(state, source, now(), history.find_applied)
        if outcome.status != "replayed":
            history.append(outcome.record)
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def predict_checkout(
    checkout: Checkout, config: LoopConfig, now: Callable[[], datetime]
) -> tuple[PassState, list[Outcome]]:
    """Predict the next pass of a checkout as it is on disk (no lock, nothing written).

    Raises:
        RefusalError: the registry is invalid, or a telemetry file cannot be read.
    """
    state = checkout_state(checkout, config, now())
    sources = read_pending(checkout, config)
    require_usable_registry(state, sources, now())
    if not sources:
        return state, []
    history = Ledger(config.telemetry_file, config.state_file, config.rotate_bytes)
    return state, predict(state, sources, history, now)


def in_tree(root: str, relative: str) -> str:
    """Join a repo-relative path onto another root folder (e.g. a materialised merge)."""
    return os.path.join(root, *relative.split("/"))
