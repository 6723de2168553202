"""`reconcile apply`: one intent + one decision -> one governed registry mutation + record.

The only module that joins the pure core with files, the lock and the journal; it decides
nothing itself. Order (docs/apply.md): arguments, layout, lock, journal recovery, then the
inputs are read (telemetry, decision, registry: a file that cannot be read is passed on as
its refusal) and `core.rules.evaluate` decides in its order (telemetry, idempotency replay,
decision gate, review-by, registry, mode, edit, re-validation); then the journaled write.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from reconciler import journal
from reconciler.adapters import files, locking
from reconciler.core import applied_keys, applying, decision, guards, jsontext, rules, timestamps
from reconciler.core.editing import RegistryText
from reconciler.core.errors import RefusalError, RetryableError
from reconciler.core.reasons import ReasonCode
from reconciler.inputs import documents, guarding, layouts
from reconciler.inputs.fleet import PathFlags
from reconciler.inputs.layouts import Layout
from reconciler.telemetry import index as telemetry_index
from reconciler.telemetry import ledger
from reconciler.telemetry.ledger import Ledger


class ApplyOptions(NamedTuple):
    """Everything `reconcile apply` takes besides the intent itself."""

    repo: str | None
    paths: PathFlags
    """Explicit path flags (--registry-file, ...)."""
    max_decision_age: str | None = None
    lock_timeout: str | None = None
    fleet: str | None = None
    """`--fleet`: the fleet of several to apply to (required there; refused with one)."""


class ApplyResult(NamedTuple):
    """The record printed and stored, and whether it was a replay of an earlier one."""

    record: applying.Record
    replayed: bool
    mismatch: bool
    layout: Layout


def run_apply(
    args: applying.ApplyArgs,
    options: ApplyOptions,
    *,
    now: Callable[[], datetime],
    new_trace_id: Callable[[], str],
) -> ApplyResult:
    """Apply one intent under the repository lock; see the module docstring for the order.

    Raises:
        RefusalError: fail closed; nothing was written.
        RetryableError: the lock stayed busy for the whole --lock-timeout.
    """
    if not options.repo:
        raise RefusalError(ReasonCode.REPO_REQUIRED, "--repo is required")
    request = applying.validate_args(args)
    layout = layouts.resolve_layout(
        layouts.resolve_repo(options.repo), options.paths, fleet=options.fleet, command="apply"
    )
    check_distinct_paths(layout)
    max_age_text = options.max_decision_age or layout.settings.max_decision_age
    # A malformed age must not block a rollback, which never looks at it.
    gated = request.intent != "rollback"
    max_age = documents.parse_duration_option("--max-decision-age", max_age_text) if gated else None
    lock_text = options.lock_timeout or layout.settings.lock_timeout or layouts.DEFAULT_LOCK_TIMEOUT
    lock_timeout = documents.parse_duration_option("--lock-timeout", lock_text) or timedelta(0)
    apply = _Apply(request, layout, now, args.trace_id or new_trace_id())
    folder = os.path.dirname(layout.fleet.registry)
    written = [layout.fleet.state, layout.fleet.telemetry, apply.index_file]
    lock_folders = [files.lockable_folder(path) for path in written]
    # A registry folder that is gone holds no lock and no journal; the rules still replay a
    # key applied before (the bash tool's replay comes before its registry check), and
    # report the decision's and the review-by's problems before the missing registry.
    present = files.is_dir(folder)
    with locking.hold_locks(
        [folder, *lock_folders] if present else lock_folders, lock_timeout.total_seconds()
    ):
        if present:
            journal.recover(folder, allowed=[layout.fleet.registry, *written[:2]])
        return apply.run(max_age, max_age_text, folder)


def check_distinct_paths(layout: Layout) -> None:
    """Refuse a layout in which two files the apply reads or writes are one file.

    Raises:
        RefusalError: e.g. `--apply-state-file` pointing at the registry.
    """
    named = {
        **layout.fleet.files_block(),
        "index": telemetry_index.index_path(layout.fleet.state),
        "journal": journal.journal_path(os.path.dirname(layout.fleet.registry)),
    }
    keys, paths = list(named), list(named.values())
    duplicate = files.first_duplicate(paths)
    if duplicate is not None:
        left, right = duplicate
        raise RefusalError(
            ReasonCode.LAYOUT_PATHS_COLLIDE,
            f"{keys[left]} and {keys[right]} are the same file ({paths[left]}); give each its "
            "own path",
            path=paths[left],
        )


def _ends_with_json_object(view: Ledger) -> bool:
    """Whether the telemetry's last line is a JSON object (true for an empty file).

    A key index that covers a file which is not JSON lines (made by hand for it, with its
    CRC) must not make a `.profile` look like telemetry; records after the covered bytes are
    parsed anyway, so the last line is the one left to check.
    """
    body = view.active.rstrip()
    return not body or applied_keys.loads_record(body[body.rfind(b"\n") + 1 :]) is not None


def _not_json_lines(path: str) -> RefusalError:
    return RefusalError(
        ReasonCode.TELEMETRY_CORRUPT,
        f"telemetry file is corrupt: {path}: its last line is not a JSON object (is it "
        "telemetry at all?); nothing is ever appended to a file that is not JSON lines",
        path=path,
    )


def _guard_inputs(layout: Layout, telemetry: Ledger) -> guards.GuardInputs | None:
    """The progression guards of an apply: the same settings, windows and records as the loop."""
    found = guarding.load_guards(layout, records=ledger.applied_records)
    if found is None:
        return None
    return guards.GuardInputs(
        found.settings,
        found.calendar,
        telemetry.applied_since,
        problem=found.problem,
        upstream=found.upstream,
    )


def deferred_error(verdict: rules.Verdict) -> RetryableError:
    """A guard holds the request: `apply` runs now or not at all, and says what clears it."""
    deferral = verdict.deferral
    assert deferral is not None
    intent = verdict.record.get("intent")
    if deferral.not_before is not None:
        when = f"retry at or after {timestamps.format_timestamp(deferral.not_before)}"
    elif ReasonCode.GUARD_DECISION_PREDATES_CHANGE in deferral.reasons:
        when = "retry once a newer promotion decision is written"
    else:
        when = "no time is known when it clears (see below)"
    return RetryableError(
        deferral.reasons[0],
        f"{intent} deferred by the progression guards ({', '.join(deferral.reasons)}); "
        f"nothing was written; {when}",
        details=deferral.messages,
    )


def _read_registry(path: str) -> documents.LoadedRegistry | RefusalError:
    """The registry, or why it cannot be read: the rules say when that refuses the apply."""
    try:
        return documents.load_registry(path)
    except RefusalError as exc:
        return exc


class _Apply:
    """One apply: read its inputs, let the rules decide, then replay or commit."""

    def __init__(
        self,
        request: applying.ApplyRequest,
        layout: Layout,
        clock: Callable[[], datetime],
        trace_id: str,
    ):
        self.request = request
        self.layout = layout
        self.clock = clock
        self.trace_id = trace_id
        self.fleet = layout.fleet
        self.index_file = telemetry_index.index_path(self.fleet.state)

    def run(self, max_age: timedelta | None, max_age_text: str | None, folder: str) -> ApplyResult:
        key = self.request.idempotency_key
        # Nothing is appended to a file that is not JSON lines (a `.profile` named by a flag)
        # or that lost records its index covered; the rules refuse expand and resume on it,
        # a rollback goes ahead without its line (and, keyed, without its replay check:
        # pausing twice is harmless, not pausing is not). No extra cost: the index's CRC
        # vouches for the file, any other one is parsed.
        telemetry = Ledger(self.fleet.telemetry, self.fleet.state)
        if telemetry.indexed and not _ends_with_json_object(telemetry):
            telemetry.active_problem = _not_json_lines(telemetry.path)
        prior, unverified = None, telemetry.active_problem
        if key:
            prior, unverified = rules.find_prior(telemetry.find_replayed, key)
        loaded = _read_registry(self.layout.fleet.registry)
        current = loaded.parsed if isinstance(loaded, documents.LoadedRegistry) else loaded
        verdict = self.decide(
            max_age, max_age_text, current, prior=prior, telemetry=telemetry, unverified=unverified
        )
        if verdict.status == "replayed":
            return self._replay(verdict)
        if verdict.status == "deferred":
            raise deferred_error(verdict)
        assert isinstance(loaded, documents.LoadedRegistry) and verdict.registry is not None
        self._commit(verdict.record, verdict.registry.text, loaded, telemetry, folder)
        return ApplyResult(verdict.record, replayed=False, mismatch=False, layout=self.layout)

    def decide(
        self,
        max_age: timedelta | None,
        max_age_text: str | None,
        current: RegistryText | RefusalError,
        *,
        prior: applying.Record | None,
        telemetry: Ledger,
        unverified: RefusalError | None,
    ) -> rules.Verdict:
        """Read the decision and decide by the core's rules, in their order.

        Raises:
            RefusalError: the first rule that refuses; nothing was written.
        """
        try:
            found: decision.Decision | RefusalError = documents.load_decision(self.fleet.decision)
        except RefusalError as exc:
            found = exc
        inputs = rules.Inputs(
            request=self.request,
            trace_id=self.trace_id,
            files=self.fleet.files_block(),
            registry=current,
            decision=found,
            max_age=max_age,
            max_age_text=max_age_text,
            prior=prior,
            telemetry_problem=unverified,
            previous_canary=telemetry.previous_canary,  # read only for `--to-percent previous`
            notes=[] if telemetry.indexed else [ReasonCode.TELEMETRY_NOT_APPENDED],
            # A rollback is never held: it reads no guard settings and no freeze file.
            guards=None
            if self.request.intent == "rollback"
            else _guard_inputs(self.layout, telemetry),
            fleet=self.fleet.id if self.layout.is_multi_fleet else None,
        )
        return rules.evaluate(inputs, self.clock)

    def _replay(self, verdict: rules.Verdict) -> ApplyResult:
        assert verdict.prior is not None
        record = verdict.record
        files.check_writable(self.fleet.state, what="apply state file")
        files.atomic_write(
            self.fleet.state, (jsontext.dumps_compact(record) + "\n").encode("utf-8")
        )
        mismatch = applying.is_request_mismatch(verdict.prior, self.request)
        return ApplyResult(record, replayed=True, mismatch=mismatch, layout=self.layout)

    def _commit(
        self,
        record: applying.Record,
        new_text: str,
        loaded: documents.LoadedRegistry,
        telemetry: Ledger,
        folder: str,
    ) -> None:
        if telemetry.indexed:
            telemetry.link(record)  # its telemetry line chains to the one before
        line = (jsontext.dumps_compact(record) + "\n").encode("utf-8")
        data = (b"" if telemetry.ends_with_newline else b"\n") + line
        targets = {
            "fleet registry": loaded.path,
            "apply state file": self.fleet.state,
            "telemetry file": telemetry.path,
            "telemetry index": self.index_file,
        }
        if not telemetry.indexed:
            # Not JSON lines (a rollback's `telemetry_not_appended`): never opened for writing;
            # the record is in the apply-state file and on stdout.
            data = b""
            del targets["telemetry file"], targets["telemetry index"]
        for what, path in targets.items():
            files.check_writable(path, what=what, append=what == "telemetry file")
        replacements = []
        if new_text != loaded.parsed.text:
            current = loaded.parsed.text.encode("utf-8")
            replacements.append(
                journal.plan_replacement(loaded.path, new_text.encode("utf-8"), current)
            )
        replacements.append(journal.plan_replacement(self.fleet.state, line))
        plan = journal.WritePlan(
            replacements=tuple(replacements),
            append_path=telemetry.path,
            append_offset=telemetry.size if data else 0,
            append_data=data,
        )
        journal.commit(plan, journal.journal_path(folder))
        index = telemetry.append_written(data, record) if data else None
        if index is not None:
            # Derived data, checked against the telemetry before use: no fsync needed.
            files.atomic_write(self.index_file, index, durable=False)
