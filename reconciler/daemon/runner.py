"""`reconcile --watch`: one pass at start, then a pass whenever something relevant changes.

Triggers (local file changes, debounced; the remote branch moving, polled with --push; the
webhook; the periodic resync) only mark a pass as wanted, so any number of them during a
pass coalesce into exactly one follow-up pass. A failing pass is logged with its cause and
retried with capped exponential backoff and jitter; nothing but a signal ends the daemon.
SIGTERM/SIGINT let the current intent's commit finish (the pass stops between intents),
push it when configured, release the lock and exit 0, with a hard deadline behind it.
When passes run is `scheduling.Scheduler`'s; the clocks are injected (tests fake them).
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from reconciler.adapters.clock import SYSTEM_MONOTONIC, MonotonicClock
from reconciler.core import passes
from reconciler.core.errors import ReconcileError
from reconciler.core.passes import Outcome
from reconciler.core.timestamps import format_timestamp
from reconciler.daemon.file_watch import FileWatch
from reconciler.daemon.http import Endpoints, PageAssets, PageSnapshot, serve
from reconciler.daemon.logs import EventLog
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.scheduling import Scheduler
from reconciler.daemon.triggers import Triggers
from reconciler.daemon.webhooks import MAX_BODY, Forges
from reconciler.inputs import layouts
from reconciler.loop import checkout as checkouts
from reconciler.loop.config import LoopConfig, load_configs
from reconciler.loop.once import OnceOptions, PassReport, run_once, usable_fleets
from reconciler.reports import audit_state, auditing, status, status_page

MIN_DEFERRED_WAKE = 1.0
"""Seconds: the earliest a pass runs again for a deferred intent's notBefore."""


class DaemonOptions(NamedTuple):
    """The flags of `reconcile --watch` (durations in seconds)."""

    repo: str = "."
    push: bool = False
    remote: str | None = None
    branch: str | None = None
    interval: float = 30.0
    resync: float = 600.0
    debounce: float = 0.2
    host: str = "127.0.0.1"
    port: int = 9464
    token: str | None = None
    webhook_secret: str | None = None
    webhook_max_body: int = MAX_BODY
    shutdown_timeout: float = 30.0
    log_format: str = "text"
    lock_timeout: str | None = None
    fleets: tuple[str, ...] = ()
    """`--fleet`: reconcile only these fleets (empty: every fleet)."""


_EMPTY_PAGE: dict[str, Any] = {
    "generatedAt": None,
    "repo": None,
    "head": None,
    "fleets": [],
    "history": [],
    "audit": None,
    "warnings": ["no successful pass yet"],
}


def _shown(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


class _PassRecord:
    """What the status page says about the passes: the last one, its time, the errors."""

    def __init__(self) -> None:
        self.last_success: datetime | None = None
        self.last_attempt: datetime | None = None
        self.seconds: float | None = None
        self.errors = 0
        self.last_error: dict[str, str] | None = None

    def succeeded(self, at: datetime, seconds: float) -> None:
        self.last_success = self.last_attempt = at
        self.seconds = round(seconds, 3)
        self.last_error = None

    def failed(self, at: datetime, reason: str, message: str) -> None:
        self.last_attempt = at
        self.errors += 1
        self.last_error = {"reason": reason, "message": message[:500]}


class Daemon:
    """One controller process; `run` blocks until a signal (or `triggers.stop()`)."""

    def __init__(
        self,
        options: DaemonOptions,
        *,
        now: Callable[[], datetime],
        clock: MonotonicClock = SYSTEM_MONOTONIC,
        rng: random.Random | None = None,
        page: PageAssets | None = None,
    ) -> None:
        """`now` is the wall clock; `clock` times the passes and every wait (tests fake both).

        `page`: how to draw the status page (`/`); None serves no page.
        """
        self.options = options
        self.page_assets = page
        self.page_data: dict[str, Any] | None = None
        """The last successful pass's status, history and audit (`status_page.page_document`)."""
        self.page: PageSnapshot | None = None
        """What `/` and `/api/status` send: rebuilt after every pass, never per request."""
        self.passes = _PassRecord()
        self.now = now
        self.clock = clock
        self.log = EventLog(options.log_format, now)
        self.metrics = Metrics()
        self.triggers = Triggers(clock)
        self.scheduler = Scheduler(
            self._pass,
            triggers=self.triggers,
            debounce=options.debounce,
            log=self.log,
            rng=rng or random.Random(),
            after_pass=self._publish_page,
        )
        self.health = self.scheduler.health
        self.stop_signal: str | None = None
        self.next_not_before: datetime | None = None
        """The earliest notBefore of the intents the last pass deferred (None: none)."""
        self.metrics.next_deferred.set_function(self._seconds_to_next_deferred)
        self.configs: list[LoopConfig] = load_configs(
            options.repo, fleets=options.fleets, keep_refused=True
        )
        """Every fleet reconciled (`--fleet`: those named), upstream first."""
        self.config = self.configs[0]
        """The repository's settings (remote, branch, pushes): the first fleet's."""
        # A repository the passes could never work in is refused at start, not retried (one
        # fleet of several refused is that fleet's refusal at each pass: the others go on).
        checkout = checkouts.open_checkout(self.config.layout.repo)
        usable_fleets(self.configs, checkout)
        # The forges' pushes that ask for a pass: to the branch a --push pass syncs with,
        # taken once at start like the polled one (None, a detached HEAD: any branch).
        branch = options.branch or self.config.branch or checkout.branch or None
        forges = Forges(options.webhook_secret, branch, options.webhook_max_body)
        self.server = serve(
            options.host,
            options.port,
            Endpoints(
                self.metrics,
                self.health.is_ready,
                lambda: self.triggers.fire("webhook"),
                options.token,
                log=self.log,
                clock=clock.monotonic,
                forges=forges,
                page=lambda: self.page,
                assets=page,
            ),
        )

    @property
    def port(self) -> int:
        """The port the HTTP server listens on (useful with port 0)."""
        return int(self.server.server_address[1])

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; return the exit code (0)."""
        self._install_signals()
        return self.serve()

    def serve(self) -> int:
        """Watch, serve HTTP and run passes until `triggers.stop()`; return 0.

        `run` without the signal handling (which only the main thread may install).
        """
        try:
            self._start_triggers()
            self.log(
                "daemon.start",
                repo=self.config.layout.repo,
                listen=f"{self.options.host}:{self.port}",
                push=self.options.push,
                pid=os.getpid(),
            )
            self.scheduler.run()
        finally:
            self.triggers.stop()  # ends the watcher and the timers too
            self.server.shutdown()
            self.server.server_close()
        self.log("daemon.stop")
        return 0

    # Passes -------------------------------------------------------------------------

    def _pass(self, reasons: set[str]) -> bool:
        """Run one pass; log and count what it did. True when it succeeded."""
        started = self.clock.monotonic()
        self.log("pass.start", reasons=",".join(sorted(reasons)))
        options = OnceOptions(
            repo=self.options.repo,
            push=self.options.push,
            remote=self.options.remote,
            branch=self.options.branch,
            lock_timeout=self.options.lock_timeout,
            stop=self.triggers.stopping.is_set,
            audit=auditing.auditor(self.options.repo),
            fleets=self.options.fleets,
        )
        try:
            report = run_once(options, now=self.now)
        except ReconcileError as exc:
            return self._failed(str(exc.reason), exc.message)
        except Exception as exc:  # noqa: BLE001 - a daemon never dies of one pass
            import traceback

            trace = "".join(traceback.format_exception(exc)).strip()
            return self._failed("unexpected", f"{type(exc).__name__}: {exc}", trace)
        seconds = self.clock.monotonic() - started
        self.passes.succeeded(self.now(), seconds)
        self.metrics.record_pass(report, seconds, self.now().timestamp())
        self._log_report(report, seconds)
        held = passes.still_deferred(report.outcomes)  # not those a rollback superseded
        self._schedule_deferred(held)
        self._read_status(held, self._audit())
        return True

    # The gauges and the status page -------------------------------------------------

    def _read_status(self, held: Sequence[Outcome], audit: dict[str, Any]) -> None:
        """Read every fleet's state once, after a successful pass: the gauges and the page.

        Requests never read git. `held`: the intents this pass deferred; `audit`: the summary
        of the audit this pass just ran (not run again for the page).
        """
        try:
            report = status.repo_status(
                self.options.repo, now=self.now, audit=audit, fleets=self.options.fleets
            )
        except Exception as exc:  # noqa: BLE001 - best effort: the next pass reads again
            if self.page_assets is not None:  # the page keeps the previous pass's data
                self.log("page.failed", "warn", error=f"{type(exc).__name__}: {exc}")
            return
        self.metrics.record_fleets(report, held, self.now())
        if self.page_assets is None:
            return
        try:
            self.page_data = status_page.page_document(
                self.options.repo, now=self.now, report=report
            )
        except Exception as exc:  # noqa: BLE001 - the page keeps the previous pass's data
            self.log("page.failed", "warn", error=f"{type(exc).__name__}: {exc}")

    def _publish_page(self) -> None:
        """Build the page's bytes from the last data and the controller's state, once."""
        if self.page_assets is None:
            return
        backoff = self.scheduler.backoff
        retry_at = self.now() + timedelta(seconds=backoff) if backoff is not None else None
        controller = {
            "lastPassAt": _shown(self.passes.last_success),
            "lastPassSeconds": self.passes.seconds,
            "lastAttemptAt": _shown(self.passes.last_attempt),
            "failures": self.health.failures,
            "errorsTotal": self.passes.errors,
            "lastError": self.passes.last_error if self.health.failures else None,
            "backoffSeconds": None if backoff is None else round(backoff, 1),
            "retryAt": _shown(retry_at),
            "ready": self.health.is_ready(),
        }
        doc = dict(self.page_data or _EMPTY_PAGE, controller=controller)
        try:  # a value no one can encode must not take the page (or the schedule) down
            self.page = PageSnapshot(
                html=self.page_assets.render(doc).encode("utf-8"),
                json=json.dumps(doc, ensure_ascii=True).encode("ascii"),
            )
        except Exception as exc:  # noqa: BLE001 - the last good page stays
            self.log("page.failed", "warn", error=type(exc).__name__)

    def _audit(self) -> dict[str, Any]:
        """Verify the commits since the last check (incremental) and export what is open.

        Returns the summary the status page shows (the page does not audit again).
        """
        started = self.clock.monotonic()
        try:
            found, state = audit_state.cached_blocking_findings(
                layouts.resolve_repo(self.options.repo)
            )
        except ReconcileError as exc:
            self.log("audit.failed", reason=str(exc.reason), message=exc.message)
            return status.audit_problem(exc)
        self.metrics.audit_seconds.set(self.clock.monotonic() - started)
        for kind, count in audit_state.unresolved_counts(state).items():
            self.metrics.audit_findings.labels(kind=kind).set(count)
        if found:
            self.log(
                "audit.drift",
                blocking=len(found),
                first=audit_state.finding_line(found[0]),
            )
        return status.audit_summary(found, state)

    def _schedule_deferred(self, held: Sequence[Outcome]) -> None:
        """Wake for the earliest `notBefore` of the intents this pass deferred (`held`)."""
        times = [o.not_before for o in held if o.not_before is not None]
        self.next_not_before = earliest = min(times, default=None)
        if earliest is None:
            return
        # At least a second ahead: a wall clock a little behind the monotonic one must not
        # turn a deferral that is just about to clear into a busy loop of passes.
        delay = max((earliest - self.now()).total_seconds(), MIN_DEFERRED_WAKE)
        self.scheduler.wake_at = self.clock.monotonic() + delay
        self.log("pass.wake", notBefore=format_timestamp(earliest), inSeconds=round(delay, 3))

    def _seconds_to_next_deferred(self) -> float:
        """`reconciler_next_deferred_seconds` at scrape time (-1: nothing deferred waits)."""
        if self.next_not_before is None:
            return -1.0
        return max((self.next_not_before - self.now()).total_seconds(), 0.0)

    def _failed(self, reason: str, message: str, trace: str | None = None) -> bool:
        self.passes.failed(self.now(), reason, message)
        self.metrics.pass_errors.inc()
        if reason == "push_conflict":
            # Every attempt of the pass lost its push race.
            self.metrics.push_conflicts.inc(self.config.push_attempts)
        self.log("pass.failed", "error", reason=reason, error=message, traceback=trace)
        return False

    def _log_report(self, report: PassReport, seconds: float) -> None:
        several = self.config.layout.is_multi_fleet
        for outcome, commit in zip(report.outcomes, report.commits, strict=True):
            self.log(
                "intent",
                "warn" if outcome.status == "rejected" else "info",
                fleet=outcome.state.fleet_id if several else None,
                intent=outcome.source.shown_path,
                action=outcome.action,
                status=outcome.status,
                commit=commit or None,
                traceId=outcome.trace_id,
                reasons=",".join(outcome.reasons) or None,
            )
        counts = passes.status_counts(report.outcomes)  # each file once, as it ended
        self.log(
            "pass.done",
            applied=counts["applied"],
            replayed=counts["replayed"],
            deferred=counts["deferred"],
            rejected=counts["rejected"],
            head=report.head[:12],
            pushed=report.pushed,
            attempts=report.attempts,
            seconds=round(seconds, 3),
            # Entries of the intents folder that are not intents; `reconcile status` lists them.
            ignored=len(report.ignored) or None,
        )

    # Triggers and signals -----------------------------------------------------------

    def _start_triggers(self) -> None:
        FileWatch(self.options, self.configs, self.log, lambda: self.triggers.fire("watch")).start(
            debounce_ms=max(int(self.options.debounce * 1000), 1), stop=self.triggers.stopping
        )
        self.scheduler.every(self.options.resync, lambda: self.triggers.fire("resync"), "resync")
        if self.options.push:
            self.scheduler.every(self.options.interval, self._poll_remote, "poll")

    def _poll_remote(self) -> None:
        """Fire when the remote branch's head differs from the local one (`git ls-remote`)."""
        try:
            checkout = checkouts.open_checkout(self.config.layout.repo)
            remote = self.options.remote or self.config.remote
            branch = self.options.branch or self.config.branch_for(checkout)
            out = checkout.git.text("ls-remote", "--", remote, f"refs/heads/{branch}")
        except ReconcileError as exc:
            self.log("poll.failed", "warn", reason=str(exc.reason), error=exc.message)
            return
        wanted = f"\trefs/heads/{branch}"
        remote_head = next(
            (line.split("\t")[0] for line in out.splitlines() if line.endswith(wanted)), ""
        )
        if remote_head and remote_head != checkout.head:
            self.triggers.fire("remote")

    def _install_signals(self) -> None:
        """SIGTERM/SIGINT reach a stopper thread through the signal wakeup fd.

        The kernel may deliver a signal to any thread; Python runs its handler only in the
        main thread, and only when that thread next runs bytecode, which an idle controller
        blocked in a wait may not do for minutes. The C-level wakeup fd is written at once
        whichever thread got the signal, so a thread reading it stops the daemon at once. The
        handler itself does nothing (it must exist to replace the default action); nothing in
        this path takes a lock the interrupted thread could hold.
        """
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

        def on_signal(_signum: int, _frame: object) -> None:
            """Replace the default action; the stopper thread does the work."""

        def stopper() -> None:
            while True:
                data = os.read(read_end, 1)
                if data and data[0] in (signal.SIGTERM, signal.SIGINT):
                    break
            self.stop_signal = signal.Signals(data[0]).name
            self.health.stopping = True
            deadline = threading.Timer(self.options.shutdown_timeout, self._deadline)
            deadline.daemon = True
            deadline.start()
            self.log("daemon.stopping", signal=self.stop_signal)  # a thread, not a handler
            self.triggers.stop()

        threading.Thread(target=stopper, name="reconciler-stopper", daemon=True).start()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _deadline(self) -> None:
        self.log("daemon.deadline", "error", seconds=self.options.shutdown_timeout)
        os._exit(1)  # the crash-safe pass makes even this safe; the next start recovers
