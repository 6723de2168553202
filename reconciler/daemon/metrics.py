"""Prometheus metrics of the daemon (prometheus-client, one private registry)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reconciler.core.outcome_rows import final_rows
from reconciler.core.passes import final_outcomes
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import parse_timestamp

# `*_created` series only add noise to counters nobody resets.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_REFUSALS = tuple(code.value for code in ReasonCode if code.value.startswith("http_"))

if TYPE_CHECKING:
    from reconciler.core.passes import Outcome
    from reconciler.loop.once import PassReport


class Metrics:
    """Every metric the daemon exports, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.intents = Counter(
            "reconciler_intents", "Intents processed, by outcome.", ["status"], registry=r
        )
        self.pass_duration = Histogram(
            "reconciler_pass_duration_seconds",
            "Wall time of one pass (sync, evaluate, commit, push).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.pass_errors = Counter(
            "reconciler_pass_errors", "Passes that failed (each is retried).", registry=r
        )
        self.push_conflicts = Counter(
            "reconciler_push_conflicts", "Pushes rejected because the remote moved.", registry=r
        )
        self.last_success = Gauge(
            "reconciler_last_success_timestamp_seconds",
            "Unix time of the last successful pass.",
            registry=r,
        )
        self.pending = Gauge(
            "reconciler_pending_intents",
            "Intent files waiting in the queue, by fleet.",
            ["fleet"],
            registry=r,
        )
        self.canary = Gauge(
            "reconciler_canary_percent", "Canary percentage.", ["fleet"], registry=r
        )
        self.manual_pause = Gauge(
            "reconciler_manual_pause", "1 when manually paused.", ["fleet"], registry=r
        )
        self.decision_age = Gauge(
            "reconciler_decision_age_seconds",
            "Age of the promotion decision, by fleet.",
            ["fleet"],
            registry=r,
        )
        self.review_remaining = Gauge(
            "reconciler_governance_review_remaining_seconds",
            "Seconds until governance.reviewBy (negative: overdue), by fleet.",
            ["fleet"],
            registry=r,
        )
        self.upstream_ready = Gauge(
            "reconciler_upstream_ready",
            "1 when the fleet's upstream has held its requirement for its soak (after:), else 0.",
            ["fleet"],
            registry=r,
        )
        self.webhook_requests = Counter(
            "reconciler_webhook_requests", "Webhook requests, by HTTP code.", ["code"], registry=r
        )
        self.webhook_deliveries = Counter(
            "reconciler_webhook_deliveries",
            "Forge webhook requests (GitHub, GitLab, Gitea), by provider and outcome.",
            ["provider", "outcome"],
            registry=r,
        )
        self.http_refusals = Counter(
            "reconciler_http_refusals",
            "Requests and connections the HTTP server refused, by reason code.",
            ["reason"],
            registry=r,
        )
        self.deferred = Gauge(
            "reconciler_deferred_intents",
            "Intents the last pass deferred, by fleet and reason code.",
            ["fleet", "reason"],
            registry=r,
        )
        self.freeze_active = Gauge(
            "reconciler_freeze_active",
            "1 while a freeze window (or no allow window) holds progression.",
            ["fleet"],
            registry=r,
        )
        self.budget_remaining = Gauge(
            "reconciler_guard_budget_remaining",
            "What the rolling budget still allows: kind=expands (count) or percent.",
            ["fleet", "kind"],
            registry=r,
        )
        self.audit_findings = Gauge(
            "reconciler_audit_findings",
            "Unresolved findings of the audit after the last pass (reconcile verify), by kind.",
            ["kind"],
            registry=r,
        )
        self.audit_seconds = Gauge(
            "reconciler_audit_duration_seconds",
            "How long the last pass's incremental audit took.",
            registry=r,
        )
        self.next_deferred = Gauge(
            "reconciler_next_deferred_seconds",
            "Seconds until the earliest notBefore of a deferred intent (-1: none).",
            registry=r,
        )
        self._fleets: set[str] = set()
        """The fleets labelled after the last pass (one gone since drops its series)."""
        for status in ("applied", "replayed", "deferred", "rejected"):
            self.intents.labels(status=status)
        for code in ("202", "401", "405"):
            self.webhook_requests.labels(code=code)
        for reason in HTTP_REFUSALS:
            self.http_refusals.labels(reason=reason)

    def record_pass(self, report: PassReport, seconds: float, finished_at: float) -> None:
        """Count a successful pass's outcomes and conflicts."""
        self.pass_duration.observe(seconds)
        for outcome in final_outcomes(report.outcomes):  # each file once, as it ended
            self.intents.labels(status=outcome.status).inc()
        if report.attempts > 1:
            self.push_conflicts.inc(report.attempts - 1)
        self.last_success.set(finished_at)

    def record_fleets(
        self, report: Mapping[str, Any], held: Sequence[Outcome], now: datetime
    ) -> None:
        """Set every fleet's gauges from the `status` report read after a pass.

        `held`: the intents the pass deferred (by their fleet). A fleet whose state could
        not be read keeps its last values (the page shows why); a fleet gone since drops out.
        """
        if "fleets" in report:
            fleets = [(doc["fleet"], doc) for doc in report["fleets"]]
        else:  # one fleet: labelled with its registry's fleetId, as before fleets
            fleets = [(report["posture"]["fleetId"], report)]
        labels = {str(fleet) for fleet, _doc in fleets}
        for fleet in self._fleets - labels:
            self._drop_fleet(fleet)
        self._fleets = labels
        by_fleet: dict[str, list[Outcome]] = {}
        for outcome in held:
            fleet = outcome.state.fleet_id or fleets[0][0]
            by_fleet.setdefault(str(fleet), []).append(outcome)
        self.record_deferred(by_fleet)
        for fleet, doc in fleets:
            if doc.get("problem") is None:
                self._record_fleet(str(fleet), doc, now)

    def _record_fleet(self, fleet: str, doc: Mapping[str, Any], now: datetime) -> None:
        posture, decision = doc["posture"], doc["decision"]
        self.pending.labels(fleet=fleet).set(len(final_rows(doc["pending"])))
        self.canary.labels(fleet=fleet).set(posture["canaryPercent"])
        self.manual_pause.labels(fleet=fleet).set(1 if posture["manualPause"] else 0)
        if decision.get("ageSeconds") is not None:
            self.decision_age.labels(fleet=fleet).set(decision["ageSeconds"])
        review_by = parse_timestamp(doc["governance"]["reviewBy"])
        if review_by is not None:
            self.review_remaining.labels(fleet=fleet).set((review_by - now).total_seconds())
        self.record_guards(fleet, doc["guards"])

    def _drop_fleet(self, fleet: str) -> None:
        """Remove a fleet's series (it is no longer reconciled here)."""
        for gauge in (
            self.pending, self.canary, self.manual_pause, self.decision_age,
            self.review_remaining, self.freeze_active, self.upstream_ready,
        ):  # fmt: skip
            with contextlib.suppress(KeyError):
                gauge.remove(fleet)
        for kind in ("expands", "percent"):
            with contextlib.suppress(KeyError):
                self.budget_remaining.remove(fleet, kind)

    def record_deferred(self, held: Mapping[str, Sequence[Outcome]]) -> None:
        """Set the deferred intents by fleet and reason to those still deferred (others drop)."""
        counts: dict[tuple[str, str], int] = {}
        for fleet, outcomes in held.items():
            for outcome in outcomes:
                for reason in outcome.reasons:
                    counts[fleet, reason] = counts.get((fleet, reason), 0) + 1
        self.deferred.clear()
        for (fleet, reason), count in counts.items():
            self.deferred.labels(fleet=fleet, reason=reason).set(count)

    def record_guards(self, fleet: str, state: Mapping[str, Any]) -> None:
        """Set the freeze and budget gauges from the guard state (`guard_state.describe_guards`)."""
        window = state.get("freeze")
        self.freeze_active.labels(fleet=fleet).set(1 if window and window["blocked"] else 0)
        upstream = state.get("upstream")
        if upstream is not None:
            self.upstream_ready.labels(fleet=fleet).set(1 if upstream["ready"] else 0)
        else:  # no after: (or guards off): no series
            with contextlib.suppress(KeyError):
                self.upstream_ready.remove(fleet)
        budget = state.get("budget")
        for kind, key in (("expands", "expandsLeft"), ("percent", "percentLeft")):
            left = budget.get(key) if budget else None
            if left is not None:
                self.budget_remaining.labels(fleet=fleet, kind=kind).set(left)
                continue
            try:  # that budget is off (now): no series rather than a stale one
                self.budget_remaining.remove(fleet, kind)
            except KeyError:
                pass

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
