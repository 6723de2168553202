"""In-process apply helpers: call the service with a fixed clock, as the CLI would."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from reconciler.apply import running
from reconciler.core.applying import ApplyArgs
from reconciler.inputs.fleet import SETTING_KEYS, PathFlags
from tests.support.fleet import FIXED_NOW, REVIEW_BY


def args(intent: str = "expand", **overrides: object) -> ApplyArgs:
    values: dict[str, object] = {
        "intent": intent,
        "expand_step": None,
        "actor": "ops-user",
        "approval_ref": "CAB-111",
        "rationale": "phase11",
        "review_by": REVIEW_BY,
    }
    values.update(overrides)
    return ApplyArgs(**values)  # type: ignore[arg-type]


def apply(
    repo: Path,
    intent: str = "expand",
    *,
    now: datetime | Callable[[], datetime] = FIXED_NOW,
    paths: dict[str, str | None] | None = None,
    max_decision_age: str | None = None,
    **overrides: object,
) -> running.ApplyResult:
    clock = now if callable(now) else (lambda: now)
    options = running.ApplyOptions(
        repo=str(repo),
        paths=path_flags(paths or {}),
        max_decision_age=max_decision_age,
        lock_timeout="5s",
    )
    return running.run_apply(
        args(intent, **overrides), options, now=clock, new_trace_id=lambda: "trace-generated"
    )


def path_flags(paths: Mapping[str, str | None]) -> PathFlags:
    """Path flags from reconciler.yaml keys (`registryFile`, ...), as the tests spell them."""
    return PathFlags(**{name: paths.get(key) for name, key in SETTING_KEYS.items()})
