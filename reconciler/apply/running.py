"""The apply service: one intent + one decision -> one governed registry mutation + record.

The only module that joins the pure core with files, the lock and the journal. Order matters
and is deliberate (docs/apply.md): arguments, layout, lock, journal recovery, idempotency
replay (before the decision gate; a rollback replays only onto a paused fleet), decision
gate, registry validation, edit, re-validation, then the journaled write.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from reconciler import journal
from reconciler.adapters import files, locking
from reconciler.core import (
    applied_keys,
    applying,
    decision,
    jsontext,
    registry,
)
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.inputs import documents, layouts
from reconciler.inputs.layouts import Layout
from reconciler.telemetry import index as telemetry_index
from reconciler.telemetry.ledger import Ledger

REGISTRY_FOOTER = "failed to read/validate fleet registry"
"""The bash tool's line after a registry error; runbooks grep for it."""


class ApplyOptions(NamedTuple):
    """Everything `reconcile apply` takes besides the intent itself."""

    repo: str | None
    paths: Mapping[str, str | None]
    """Explicit path flags: registryFile, promotionStateFile, applyStateFile, applyTelemetryFile."""
    max_decision_age: str | None = None
    lock_timeout: str | None = None


class ApplyResult(NamedTuple):
    """The record printed and stored, and whether it was a replay of an earlier one."""

    record: applying.Record
    replayed: bool
    mismatch: bool
    layout: Layout


def validation_error(reason: ReasonCode, message: str, problems: list[str]) -> RefusalError:
    """Return the refusal for a registry with problems (one detail line each)."""
    return RefusalError(reason, message, details=problems)


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
    layout = layouts.resolve_layout(layouts.resolve_repo(options.repo), options.paths)
    check_distinct_paths(layout)
    max_age_text = options.max_decision_age or layout.settings.max_decision_age
    # A malformed age must not block a rollback, which never looks at it.
    gated = request.intent != "rollback"
    max_age = documents.parse_duration_option("--max-decision-age", max_age_text) if gated else None
    lock_text = options.lock_timeout or layout.settings.lock_timeout or layouts.DEFAULT_LOCK_TIMEOUT
    lock_timeout = documents.parse_duration_option("--lock-timeout", lock_text) or timedelta(0)
    apply = _Apply(request, layout, now, args.trace_id or new_trace_id())
    folder = os.path.dirname(layout.registry_file)
    if not files.is_dir(folder):
        # Nothing to lock or write; report the decision's and the review-by's problems first,
        # in the bash tool's order.
        apply.gate(max_age, max_age_text)
        applying.check_review_by(request, now())
        raise RefusalError(
            ReasonCode.REGISTRY_MISSING,
            f"fleet registry file not found: {layout.registry_file}",
            path=layout.registry_file,
            footer=REGISTRY_FOOTER,
        )
    written = [layout.paths["applyStateFile"], layout.paths["applyTelemetryFile"], apply.index_file]
    lock_folders = [folder, *(files.lockable_folder(path) for path in written)]
    with locking.hold_locks(lock_folders, lock_timeout.total_seconds()):
        journal.recover(folder, allowed=[layout.registry_file, *written[:2]])
        return apply.run(max_age, max_age_text, folder)


def _view_of(loaded: documents.LoadedRegistry) -> registry.RegistryView:
    """The registry's view; a document that is not a mapping reads as the defaults."""
    return registry.view_registry(loaded.doc if isinstance(loaded.doc, dict) else {})


def check_distinct_paths(layout: Layout) -> None:
    """Refuse a layout in which two files the apply reads or writes are one file.

    Raises:
        RefusalError: e.g. `--apply-state-file` pointing at the registry.
    """
    named = {
        **layout.paths,
        "index": telemetry_index.index_path(layout.paths["applyStateFile"]),
        "journal": journal.journal_path(os.path.dirname(layout.registry_file)),
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


class _Apply:
    """One apply under the lock: replay, or gate, plan, check and commit."""

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
        self.paths = layout.paths
        self.index_file = telemetry_index.index_path(self.paths["applyStateFile"])

    def run(self, max_age: timedelta | None, max_age_text: str | None, folder: str) -> ApplyResult:
        key = self.request.idempotency_key
        rollback = self.request.intent == "rollback"
        telemetry = self._load_telemetry(rollback)
        loaded: documents.LoadedRegistry | None = None
        overridden = False
        if key and telemetry.indexed:
            prior = telemetry.find_applied(key)
            if prior is not None:
                if not rollback:
                    return self._replay(prior)
                # A rollback replays only onto a paused fleet; it must leave the fleet paused.
                loaded = self._load_registry()
                if not applying.overrides_replay(self.request.intent, _view_of(loaded)):
                    return self._replay(prior)
                overridden = True
        found, notes = self.gate(max_age, max_age_text)
        if overridden:
            notes.append(ReasonCode.IDEMPOTENCY_REPLAY_OVERRIDDEN)
        if not telemetry.indexed:
            notes.append(ReasonCode.TELEMETRY_NOT_APPENDED)
            if key:
                notes.append(ReasonCode.TELEMETRY_CORRUPT)  # its replay could not be checked
        # The review-by is checked after the decision, in the bash tool's order (§3.2 13-14).
        self.request = applying.check_review_by(self.request, self.clock())
        loaded = loaded or self._load_registry()
        now = self.clock()
        view = self._check_registry(loaded, now)
        mutation = applying.plan_mutation(view, self.request, now)
        new_text, new_doc = loaded.parsed.edit(mutation.changes)
        noted = self._check_mutated(new_doc, now)
        if view.mode != "guarded_auto":
            notes.append(ReasonCode.ROLLBACK_IN_ADVISORY_MODE)
        if noted:
            notes.append(ReasonCode.REGISTRY_INVALID_ELSEWHERE)
        context = applying.RecordContext(
            now=now,
            fleet_id=view.fleet_id,
            trace_id=self.trace_id,
            decision=found,
            files=self.paths,
            notes=notes,
            warnings=noted,
        )
        record = applying.build_record(self.request, mutation, context)
        self._commit(record, new_text, loaded, telemetry, folder)
        return ApplyResult(record, replayed=False, mismatch=False, layout=self.layout)

    def _load_telemetry(self, rollback: bool) -> Ledger:
        """The telemetry history; refused unless the active file may take this record.

        Nothing is appended to a file that is not JSON lines (a `.profile` named by a flag)
        or that lost records its index covered; only a rollback goes ahead, without its line
        (and, keyed, without its replay check: pausing twice is harmless, not pausing is not).
        No extra cost: the index's CRC vouches for the file, any other one is parsed.

        Raises:
            RefusalError: `telemetry_corrupt` for anything but a rollback.
        """
        telemetry = Ledger(self.paths["applyTelemetryFile"], self.paths["applyStateFile"])
        if telemetry.indexed and not _ends_with_json_object(telemetry):
            telemetry.active_problem = _not_json_lines(telemetry.path)
        if telemetry.active_problem is not None and not rollback:
            raise telemetry.active_problem
        return telemetry

    def _replay(self, prior: applying.Record) -> ApplyResult:
        record = applying.replay_record(prior, self.request)
        files.check_writable(self.paths["applyStateFile"], what="apply state file")
        files.atomic_write(
            self.paths["applyStateFile"], (jsontext.dumps_compact(record) + "\n").encode("utf-8")
        )
        mismatch = applying.is_request_mismatch(prior, self.request)
        return ApplyResult(record, replayed=True, mismatch=mismatch, layout=self.layout)

    def gate(
        self, max_age: timedelta | None, max_age_text: str | None
    ) -> tuple[decision.Decision | None, list[ReasonCode]]:
        """Read the decision and refuse expand/resume unless it allows them.

        Raises:
            RefusalError: the decision is missing, invalid, not promote, stale or future.
        """
        try:
            found = documents.load_decision(self.paths["promotionStateFile"])
        except RefusalError as exc:
            if self.request.intent != "rollback":
                raise
            # Rollback is the safety path: no missing or broken decision may block it.
            return None, [ReasonCode.ROLLBACK_WITHOUT_DECISION, exc.reason]
        decision.check_decision_allows(
            self.request.intent, found, self.clock(), max_age, max_age_text
        )
        return found, []

    def _load_registry(self) -> documents.LoadedRegistry:
        try:
            return documents.load_registry(self.layout.registry_file)
        except RefusalError as exc:
            exc.footer = REGISTRY_FOOTER
            raise

    def _check_registry(
        self, loaded: documents.LoadedRegistry, now: datetime
    ) -> registry.RegistryView:
        # The mutation replaces the whole governance block, so the current block's own
        # problems (an expired reviewBy above all) must not block it; the result is
        # validated in full before anything is written. A rollback is refused only by
        # problems it cannot get past (see applying.is_refused_by); the others it notes.
        problems = registry.validate_registry(loaded.doc, now, skip_governance_fields=True)
        if applying.is_refused_by(self.request.intent, problems):
            error = validation_error(
                ReasonCode.REGISTRY_INVALID, f"invalid fleet registry: {loaded.path}", problems
            )
            error.footer = REGISTRY_FOOTER
            raise error
        assert isinstance(loaded.doc, dict)
        view = registry.view_registry(loaded.doc)
        if view.mode != "guarded_auto" and self.request.intent != "rollback":
            raise RefusalError(
                ReasonCode.REGISTRY_NOT_GUARDED_AUTO,
                "promotion apply requires policy.mode guarded_auto",
                path=loaded.path,
            )
        return view

    def _check_mutated(self, new_doc: object, now: datetime) -> list[str]:
        """Validate the mutated registry; return the problems a rollback only notes."""
        problems = registry.validate_registry(new_doc, now)
        if applying.is_refused_by(self.request.intent, problems, mutated=True):
            raise validation_error(
                ReasonCode.REGISTRY_MUTATION_INVALID, "mutated registry failed validation", problems
            )
        return problems

    def _commit(
        self,
        record: applying.Record,
        new_text: str,
        loaded: documents.LoadedRegistry,
        telemetry: Ledger,
        folder: str,
    ) -> None:
        line = (jsontext.dumps_compact(record) + "\n").encode("utf-8")
        data = (b"" if telemetry.ends_with_newline else b"\n") + line
        targets = {
            "fleet registry": loaded.path,
            "apply state file": self.paths["applyStateFile"],
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
        replacements.append(journal.plan_replacement(self.paths["applyStateFile"], line))
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
