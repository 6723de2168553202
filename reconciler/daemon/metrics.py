"""Prometheus metrics of the daemon (prometheus-client, one private registry)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reconciler.core.reasons import ReasonCode

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
            "reconciler_pending_intents", "Intent files waiting in the queue.", registry=r
        )
        self.canary = Gauge(
            "reconciler_canary_percent", "Canary percentage.", ["fleet"], registry=r
        )
        self.manual_pause = Gauge(
            "reconciler_manual_pause", "1 when manually paused.", ["fleet"], registry=r
        )
        self.decision_age = Gauge(
            "reconciler_decision_age_seconds", "Age of the promotion decision.", registry=r
        )
        self.review_remaining = Gauge(
            "reconciler_governance_review_remaining_seconds",
            "Seconds until governance.reviewBy (negative: overdue).",
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
        for status in ("applied", "replayed", "deferred", "rejected"):
            self.intents.labels(status=status)
        for code in ("202", "401", "405"):
            self.webhook_requests.labels(code=code)
        for reason in HTTP_REFUSALS:
            self.http_refusals.labels(reason=reason)

    def record_pass(self, report: PassReport, seconds: float, finished_at: float) -> None:
        """Count a successful pass's outcomes and conflicts."""
        self.pass_duration.observe(seconds)
        for outcome in report.outcomes:
            self.intents.labels(status=outcome.status).inc()
        if report.attempts > 1:
            self.push_conflicts.inc(report.attempts - 1)
        self.last_success.set(finished_at)

    def record_deferred(self, fleet: str, outcomes: Sequence[Outcome]) -> None:
        """Set the deferred intents by reason to those still deferred (others drop out)."""
        counts: dict[str, int] = {}
        for outcome in outcomes:
            for reason in outcome.reasons:
                counts[reason] = counts.get(reason, 0) + 1
        self.deferred.clear()
        for reason, count in counts.items():
            self.deferred.labels(fleet=fleet, reason=reason).set(count)

    def record_guards(self, fleet: str, state: Mapping[str, Any]) -> None:
        """Set the freeze and budget gauges from the guard state (`guard_state.describe_guards`)."""
        window = state.get("freeze")
        self.freeze_active.labels(fleet=fleet).set(1 if window and window["blocked"] else 0)
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
