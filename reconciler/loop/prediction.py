"""Evaluating a pass's intents in order, and predicting the next pass of a checkout.

The same `evaluate_intent` the loop commits with, run over the same ordered sources on the
same state, so a prediction (`plan`, `status`, `--dry-run`) and the later commit can only
differ when the state changes in between (another intent merged first, a new decision, the
clock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from reconciler.core.passes import IntentSource, Outcome, PassState, Record, evaluate_pass
from reconciler.core.upstream import UpstreamFacts, UpstreamGate
from reconciler.inputs import upstreams
from reconciler.inputs.layouts import Layout
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
from reconciler.loop.queue import PendingFile
from reconciler.telemetry import ledger
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
    *,
    pending: Sequence[PendingFile] | None = None,
    predicted: Mapping[str, Predicted] | None = None,
) -> tuple[PassState, list[Outcome]]:
    """Predict the next pass of a checkout as it is on disk (no lock, nothing written).

    `pending`: the fleet's pending files when the caller already listed them; none pending
    then starts no git process (`status` over many idle fleets). `predicted`: the fleets
    predicted before this one (several fleets, upstream first): its upstream gate reads its
    upstream as they leave it, as the pass does (`with_predicted_upstream`).

    Raises:
        RefusalError: the registry is invalid, or a telemetry file cannot be read.
    """
    rel = config.relative_paths(checkout)  # checked once, for the state and the intents
    state = checkout_state(checkout, config, now(), rel)
    if predicted:
        state = with_predicted_upstream(state, config.layout, predicted)
    if pending is not None and not pending:
        require_usable_registry(state, [], now())
        return state, []
    state, sources = with_trust(
        checkout, config, rel, state, read_pending(checkout, config, rel, pending)
    )
    require_usable_registry(state, sources, now())
    if not sources:
        return state, []
    history = Ledger(config.fleet.telemetry, config.fleet.state, config.rotate_bytes)
    state = with_drift(state, audit, checkout, history, sources)
    return state, predict(state, sources, history, now)


class Predicted(NamedTuple):
    """A fleet as a dry run's predictions leave it: its state and the records they add."""

    state: PassState
    records: list[Record]

    @classmethod
    def of(cls, state: PassState, outcomes: Sequence[Outcome]) -> Predicted:
        """The fleet after `outcomes`, predicted from `state`: the last state, the applied."""
        return cls(
            outcomes[-1].state if outcomes else state,
            [outcome.record for outcome in outcomes if outcome.status == "applied"],
        )


def with_predicted_upstream(
    state: PassState, layout: Layout, predicted: Mapping[str, Predicted]
) -> PassState:
    """The state, its upstream gate reading the upstream as predicted (a dry run, `status`).

    The upstream's committed records, then the ones its predicted intents add; its canary and
    pause as its last predicted intent leaves them.
    """
    upstream = layout.upstream
    guards = state.guards
    if upstream is None or guards is None or guards.upstream is None:
        return state
    found = predicted.get(upstream.id)
    if found is None:
        return state
    view = found.state.view

    def facts() -> UpstreamFacts:
        base = upstreams.read_facts(upstream, ledger.applied_records)
        return base._replace(
            canary=view.canary_percent,
            paused=view.manual_pause,
            records=[*base.records, *found.records],
        )

    gate = UpstreamGate(guards.upstream.requirement, facts)
    return state._replace(guards=guards._replace(upstream=gate))
