"""`reconcile validate`: check a repository's registry, decision and telemetry, change nothing.

Reports every problem at once with the same messages `apply` uses, plus which layout was
resolved and why.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler import journal
from reconciler.adapters import files
from reconciler.core import applied_keys, decision, registry, registry_fields, registry_yaml
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import normalize_timestamp
from reconciler.inputs import documents, layouts
from reconciler.telemetry import active as store
from reconciler.telemetry import segments as ledger


def validate_repo(
    repo: str | None, paths: Mapping[str, str | None], *, now: Callable[[], datetime]
) -> dict[str, Any]:
    """Return the validation report of a repository (see docs/artifacts.md for its shape).

    Raises:
        RefusalError: the repository or its reconciler.yaml cannot be resolved at all.
    """
    layout = layouts.resolve_layout(layouts.resolve_repo(repo), paths)
    moment = now()
    warnings: list[str] = []
    if journal.is_pending(os.path.dirname(layout.registry_file)):
        warnings.append(
            "an interrupted apply left a journal; the next apply completes it before anything else"
        )
    reports = {
        "registry": _registry_report(layout.registry_file, moment, warnings),
        "decision": _decision_report(layout.paths["promotionStateFile"], warnings),
        "telemetry": _telemetry_report(
            layout.paths["applyTelemetryFile"], layout.paths["applyStateFile"]
        ),
        "paths": _paths_report(layout, warnings),
    }
    return {
        "ok": all(part["ok"] for part in reports.values()),
        "layout": {
            "name": layout.name,
            "reason": layout.reason,
            "repo": layout.repo,
            "paths": layout.paths,
            "sources": layout.sources,
        },
        **reports,
        "warnings": warnings,
    }


def _failure(exc: RefusalError) -> dict[str, Any]:
    return {
        "ok": False,
        "reasonCode": str(exc.reason),
        "summary": exc.message,
        "problems": list(exc.details),
    }


def _registry_report(path: str, now: datetime, warnings: list[str]) -> dict[str, Any]:
    try:
        loaded = documents.load_registry(path)
    except RefusalError as exc:
        return _failure(exc)
    warnings.extend(registry_fields.unknown_field_warnings(loaded.doc))
    warnings.extend(registry_yaml.ambiguity_warnings(loaded.parsed))
    problems = registry.validate_registry(loaded.doc, now)
    if problems:
        return {
            "ok": False,
            "reasonCode": str(ReasonCode.REGISTRY_INVALID),
            "summary": f"invalid fleet registry: {path}",
            "problems": problems,
        }
    assert isinstance(loaded.doc, dict)
    view = registry.view_registry(loaded.doc)
    summary = (
        f"ok (fleet {view.fleet_id}, mode {view.mode}, canary {view.canary_percent}%, "
        f"{'paused' if view.manual_pause else 'running'}, review by "
        f"{_utc(view.governance.review_by) or 'unset'})"
    )
    return {
        "ok": True,
        "summary": summary,
        "fleetId": view.fleet_id,
        "mode": view.mode,
        "canaryPercent": view.canary_percent,
        "manualPause": view.manual_pause,
        "problems": [],
    }


def _utc(text: str | None) -> str | None:
    """A time as people see it everywhere (UTC, `Z`; docs/output.md), else as written."""
    return (normalize_timestamp(text) or text) if text else text


def _decision_report(path: str, warnings: list[str]) -> dict[str, Any]:
    try:
        found = documents.load_decision(path)
    except RefusalError as exc:
        if exc.reason is ReasonCode.PROMOTION_STATE_MISSING:
            # No decision yet is a normal state: only rollback is possible until one exists.
            warnings.append(f"{exc.message}; expand and resume are refused until one exists")
            return {"ok": True, "summary": "none yet", "decision": None, "problems": []}
        return _failure(exc)
    if found.contradictions:
        return {
            "ok": False,
            "reasonCode": str(ReasonCode.PROMOTION_DECISION_INCONSISTENT),
            "summary": f"{decision.describe_contradictions(found)}; expand and resume are refused",
            "problems": list(found.contradictions),
        }
    summary = (
        f"{found.decision} (trace {found.trace_id or 'none'}, "
        f"generated {_utc(found.generated_at) or 'unknown'})"
    )
    return {
        "ok": True,
        "summary": summary,
        "decision": found.decision,
        "traceId": found.trace_id,
        "generatedAt": found.generated_at,
        "problems": [],
    }


def _telemetry_report(path: str, state_file: str) -> dict[str, Any]:
    try:
        history = ledger.Ledger(path, state_file, ledger.DEFAULT_ROTATE_BYTES)
    except RefusalError as exc:
        return _failure(exc)
    segments = [(path, history.active)] + [
        (os.path.join(history.folder, segment.name), data)
        for segment, data in zip(history.sealed, history.segment_data, strict=True)
    ]
    problems = [problem for name, data in segments if (problem := _corrupt_line(name, data))]
    if history.problem is not None and history.problem.message not in problems:
        problems.append(history.problem.message)
    reason = ReasonCode.TELEMETRY_CORRUPT
    if not problems:
        problems, reason = _index_mismatches(history), ReasonCode.TELEMETRY_INDEX_MISMATCH
    if problems:
        summary = problems[0]
        return {"ok": False, "reasonCode": str(reason), "summary": summary, "problems": problems}
    keys = len({*history.active_keys, *history.sealed_keys})
    size = sum(len(data) for _, data in segments)
    where = f" in {len(segments)} segments" if len(segments) > 1 else ""
    return {
        "ok": True,
        "summary": f"ok ({size} bytes{where}, idempotency keys: {keys})",
        "problems": [],
    }


def _corrupt_line(path: str, data: bytes) -> str | None:
    try:
        applied_keys.index_applied(data)
    except applied_keys.CorruptLineError as exc:
        return applied_keys.corrupt_line(path, exc.number).message
    return None


def _index_mismatches(history: ledger.Ledger) -> list[str]:
    """One line per key index whose keys disagree with the records it covers."""
    found = []
    index = applied_keys.read_active_index(
        store.read_index(history.index_file),
        os.path.relpath(history.path, os.path.dirname(history.index_file)),
    )
    if index is not None:
        covered = history.active[: index.coverage.size]
        found.append(_compare(history.index_file, index.keys, applied_keys.index_applied(covered)))
    doc = store.read_index(history.segments_file)
    if doc is not None:
        names = [segment.name for segment in history.sealed]
        expected: dict[str, tuple[str, int, int]] = {}
        for name, data in zip(names, history.segment_data, strict=True):
            for key, span in applied_keys.index_applied(data).items():
                expected[key] = (name, *span)
        listed = doc.get("keys")
        actual = None
        if isinstance(listed, dict):
            actual = {
                key: (names[span[0]], span[1], span[2])
                for key, span in listed.items()
                if ledger.is_sealed_span(span, history.sealed)
            }
            actual = actual if len(actual) == len(listed) else None
        found.append(_compare(history.segments_file, actual, expected))
    return [line for line in found if line]


def _compare(index_file: str, actual: Mapping[str, Any] | None, expected: Mapping[str, Any]) -> str:
    if actual is None:
        return f"the key index {index_file} has a malformed key map; run `reconcile repair-index`"
    missing = sorted(set(expected) - set(actual))
    wrong = sorted(key for key in actual if expected.get(key) != actual[key])
    if not missing and not wrong:
        return ""
    parts = [f"{len(missing)} applied key(s) missing, e.g. {missing[0]!r}"] if missing else []
    parts += [f"{len(wrong)} key(s) pointing at no such record, e.g. {wrong[0]!r}"] if wrong else []
    return (
        f"the key index {index_file} disagrees with the records ({'; '.join(parts)}); "
        "run `reconcile repair-index`"
    )


def _paths_report(layout: layouts.Layout, warnings: list[str]) -> dict[str, Any]:
    """Symlinks in the paths the loop reads or writes (flags aside): `--once` refuses them.

    A symlinked decision file is only a warning: `apply` follows it (as the bash tool did).
    """
    from reconciler.loop.queue import APPLIED, REJECTED
    from reconciler.telemetry import segments as ledger

    managed = layouts.managed_paths(layout)
    walked = [path for key, path in managed.items() if key != "intentsDir"]
    if "applyStateFile" in managed:
        state = managed["applyStateFile"]
        segments = os.path.join(os.path.dirname(state), ledger.SEGMENTS_INDEX_NAME)
        walked += [store.index_path(state), segments]
    intents = managed["intentsDir"]
    walked += [os.path.join(intents, APPLIED), os.path.join(intents, REJECTED)]
    walked.append(os.path.join(layout.repo, layouts.SETTINGS_FILE))
    decision = managed.get("promotionStateFile")
    links: list[str] = []
    for path in walked:
        relative = os.path.relpath(path, layout.repo).replace(os.sep, "/")
        link = files.symlinked_component(layout.repo, relative)
        if link is None or link in links:
            continue
        if decision is not None and os.path.join(layout.repo, link) == decision:
            warnings.append(
                f"the decision file {link} is a symlink: `reconcile apply` follows it, "
                "`reconcile --once` refuses it (path_symlink)"
            )
            continue
        links.append(link)
    if not links:
        return {"ok": True, "summary": "ok (no symlinked folder or file)", "problems": []}
    return {
        "ok": False,
        "reasonCode": str(ReasonCode.PATH_SYMLINK),
        "summary": "symlinks that `reconcile --once` refuses (it reads or writes through them)",
        "problems": [f"{link} is a symlink" for link in links],
    }


def validate_intent_files(paths: Sequence[str], *, now: datetime) -> list[dict[str, Any]]:
    """Check intent files exactly as the loop reads and parses them; one result per file."""
    from reconciler.core.intents import IntentRejected, Problem, decode_intent
    from reconciler.loop.queue import PendingFile, read_source

    results = []
    for path in paths:
        source = read_source(PendingFile(path, os.path.abspath(path)), None)
        problems = [source.problem] if source.problem else []
        notes: tuple[Problem, ...] = ()
        if not problems and source.data is not None:
            try:
                notes = decode_intent(source.data, source.name, now).notes
            except IntentRejected as exc:
                problems = exc.problems
        found = problems or list(notes)  # a rollback's notes: ok, applied despite them
        results.append(
            {
                "path": path,
                "ok": not problems,
                "reasonCodes": sorted({str(problem.reason) for problem in found}),
                "problems": [problem.message for problem in found],
            }
        )
    return results
