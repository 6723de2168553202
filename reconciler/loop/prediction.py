"""Evaluating a pass's intents in order, and predicting the next pass of a checkout.

The same `evaluate_intent` the loop commits with, run over the same ordered sources on the
same state, so a prediction (`plan`, `status`, `--dry-run`) and the later commit can only
differ when the state changes in between (another intent merged first, a new decision, the
clock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from reconciler.core.passes import IntentSource, Outcome, PassState, evaluate_pass
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig
from reconciler.loop.pass_state import (
    Auditor,
    checkout_state,
    read_pending,
    require_usable_registry,
    with_drift,
    with_trust,
)
from reconciler.telemetry.ledger import Change, Ledger


def predict(
    state: PassState,
    sources: Sequence[IntentSource],
    history: Ledger,
    now: Callable[[], datetime],
    *,
    changes: list[Change] | None = None,
) -> list[Outcome]:
    """Evaluate `sources` in order, each on the state the previous one left; write nothing.

    The ledger is updated in memory only, so a later file replaying an earlier one's key in
    the same pass is predicted as `replayed`, and the guards count the records before it,
    exactly as the loop would commit them. `changes` collects the telemetry files the loop
    would write (`plan` lands them for the next fleet's upstream gate).
    """
    outcomes = []
    for outcome, _when in evaluate_pass(
        state, sources, now, history.find_replayed, history.applied_since,
        previous_canary=history.previous_canary,
    ):  # fmt: skip
        if outcome.status in ("applied", "rejected"):
            written = history.append(outcome.record)
            if changes is not None:
                changes += written
        outcomes.append(outcome)
    return outcomes


def predict_checkout(
    checkout: Checkout,
    config: LoopConfig,
    now: Callable[[], datetime],
    audit: Auditor | None = None,
) -> tuple[PassState, list[Outcome]]:
    """Predict the next pass of a checkout as it is on disk (no lock, nothing written).

    Raises:
        RefusalError: the registry is invalid, or a telemetry file cannot be read.
    """
    state = checkout_state(checkout, config, now())
    state, sources = with_trust(checkout, config, state, read_pending(checkout, config))
    require_usable_registry(state, sources, now())
    if not sources:
        return state, []
    history = Ledger(config.fleet.telemetry, config.fleet.state, config.rotate_bytes)
    state = with_drift(state, audit, checkout, history, sources)
    return state, predict(state, sources, history, now)
