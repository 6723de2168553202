"""The sections of `reconcile validate`'s report (reports layer), one fleet at a time.

Registry, decision, telemetry, paths, guards and trust, each checked with the messages
`apply` and the loop use. Called by reports/validation.py (one fleet) and
reports/fleet_validation.py (several).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from reconciler import journal
from reconciler.adapters import files
from reconciler.core import decision, registry, registry_fields, registry_yaml
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.timestamps import format_duration, normalize_timestamp
from reconciler.inputs import documents, guarding, layouts, trusting
from reconciler.loop.config import DEFAULT_MAX_DECISION_AGE
from reconciler.telemetry import checks as telemetry_checks
from reconciler.telemetry import index as telemetry_index
from reconciler.telemetry.ledger import Ledger


def layout_json(layout: layouts.Layout) -> dict[str, Any]:
    """The `layout` block of the report: which layout, why, and each file with its source."""
    return {
        "name": layout.name,
        "reason": layout.reason,
        "repo": layout.repo,
        "paths": layout.fleet.files_block(),
        "sources": layout.sources,
    }


def check_fleet(layout: layouts.Layout, moment: datetime, warnings: list[str]) -> dict[str, Any]:
    """One fleet's sections: registry, decision, telemetry, paths and guards."""
    if journal.is_pending(os.path.dirname(layout.fleet.registry)):
        warnings.append(
            "an interrupted apply left a journal; the next apply completes it before anything else"
        )
    return {
        "registry": _registry_report(layout.fleet.registry, moment, warnings),
        "decision": _decision_report(
            layout.fleet.decision, moment, layout.settings.max_decision_age, warnings
        ),
        "telemetry": _telemetry_report(layout.fleet.telemetry, layout.fleet.state),
        "paths": _paths_report(layout, warnings),
        "guards": _guards_report(layout),
    }


def _guards_report(layout: layouts.Layout) -> dict[str, Any]:
    """The `guards:` settings and the freeze file, checked as every pass reads them."""
    found = guarding.load_guards(layout, records=None)  # as every pass reads them
    if found is not None and found.problem is not None:
        return failure(found.problem)
    # None: every guard off and no freeze windows (the settings are read for the summary).
    settings = found.settings if found is not None else guarding.load_guard_settings(layout)[0]
    windows = len(found.calendar.windows) if found is not None else 0
    on = [
        name
        for name, value in (
            ("decisionAfterChange", settings.decision_after_change),
            (
                f"expandCooldown {format_duration(settings.expand_cooldown)}",
                settings.expand_cooldown,
            ),
            ("budget", settings.budget),
            (f"maxExpandStep {settings.max_expand_step}", settings.max_expand_step < 100),
        )
        if value
    ]
    where = (
        f"{settings.freeze_file}: {windows} window(s)" if settings.freeze_file else "no freeze file"
    )
    return {
        "ok": True,
        "summary": f"ok ({', '.join(on) or 'every guard off'}; {where})",
        "freezeFile": settings.freeze_file,
        "windows": windows,
        "problems": [],
    }


def trust_report(layout: layouts.Layout) -> dict[str, Any]:
    """The `trust:` settings, the allowed-signers file and the access policy (docs/security.md).

    A line of the allowed-signers file that cannot be used is a problem: it is skipped, so a
    signer it was meant for would be refused.
    """
    found = trusting.load_trust(layout)
    if found is None:
        return {"ok": True, "summary": "off (no trust: block)", "problems": []}
    if isinstance(found, RefusalError):
        return failure(found)
    keys = len(found.signers.keys)
    principals = len(found.signers.principals())
    access = found.settings.access or "none: any allowed signer may request anything"
    problems = [f"{found.settings.allowed_signers} {p}" for p in found.signers.problems]
    return {
        "ok": not problems,
        "summary": f"{'ok' if not problems else 'invalid'} ({keys} key(s) of {principals} "
        f"principal(s); access policy {access})",
        "problems": problems,
    }


def failure(exc: RefusalError) -> dict[str, Any]:
    """A section that failed: its reason code, the message and every problem."""
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
        return failure(exc)
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


def _decision_report(
    path: str, now: datetime, max_age_setting: str | None, warnings: list[str]
) -> dict[str, Any]:
    try:
        found = documents.load_decision(path)
    except RefusalError as exc:
        if exc.reason is ReasonCode.PROMOTION_STATE_MISSING:
            # No decision yet is a normal state: only rollback is possible until one exists.
            warnings.append(f"{exc.message}; expand and resume are refused until one exists")
            return {"ok": True, "summary": "none yet", "decision": None, "problems": []}
        return failure(exc)
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
    # Old is not invalid (a rollback needs no decision), but `--once` would reject expand and
    # resume: a warning, with the loop's limit (maxDecisionAge, else its default).
    max_age_text = max_age_setting or DEFAULT_MAX_DECISION_AGE
    max_age = documents.parse_duration_option("maxDecisionAge", max_age_text)
    assert max_age is not None
    stale = decision.staleness_warning(found, now, max_age, max_age_text)
    if stale:
        warnings.append(stale)
    return {
        "ok": True,
        "summary": summary,
        "decision": found.decision,
        "traceId": found.trace_id,
        "generatedAt": found.generated_at,
        "maxAge": max_age_text,
        "stale": stale is not None,
        "problems": [],
    }


def _telemetry_report(path: str, state_file: str) -> dict[str, Any]:
    try:
        history = Ledger(path, state_file)
        segments = history.load_all()
    except RefusalError as exc:
        return failure(exc)
    problems = telemetry_checks.corrupt_lines(segments)
    if history.problem is not None and history.problem.message not in problems:
        problems.append(history.problem.message)
    reason = ReasonCode.TELEMETRY_CORRUPT
    if not problems:
        problems = telemetry_checks.index_mismatches(history)
        reason = ReasonCode.TELEMETRY_INDEX_MISMATCH
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


def _paths_report(layout: layouts.Layout, warnings: list[str]) -> dict[str, Any]:
    """Symlinks in the paths the loop reads or writes (flags aside): `--once` refuses them.

    A symlinked decision file is only a warning: `apply` follows it (as the bash tool did).
    """
    from reconciler.loop.queue import APPLIED, REJECTED

    managed = layouts.managed_paths(layout)
    walked = [path for key, path in managed.items() if key != "intentsDir"]
    if "applyStateFile" in managed:
        state = managed["applyStateFile"]
        walked += [telemetry_index.index_path(state), telemetry_index.sealed_index_path(state)]
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
