"""The `guards:` settings (core layer): what paces the rollout, validated, with its defaults.

Read by `inputs/guarding.py` for every path; `core/guards.py` applies them. An invalid block
never raises: its problems are returned, and the caller holds expand and resume with them
(a rollback goes on). See docs/guards.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from reconciler.core.errors import RefusalError
from reconciler.core.freeze import Calendar
from reconciler.core.repo_settings import git_dir_component
from reconciler.core.timestamps import setting_duration
from reconciler.core.upstream import UpstreamGate

DEFAULT_FREEZE_FILE = "policies/freeze.yaml"
MAX_WINDOW = timedelta(days=90)
"""A budget window longer than this is refused (and would read that much history)."""


class Budget(NamedTuple):
    """A rolling window over applied records."""

    window: timedelta
    max_expands: int | None = None
    """Applied expands that raised the canary, within the window (None: not limited)."""
    max_expand_percent: int | None = None
    """Total canary increase within the window (None: not limited)."""


class GuardSettings(NamedTuple):
    """The `guards:` block of reconciler.yaml (defaults: every guard off)."""

    decision_after_change: bool = False
    """expand/resume need a decision generated after the last applied change."""
    expand_cooldown: timedelta = timedelta(0)
    """Minimum time between two applied expands that raised the canary (0: off)."""
    budget: Budget | None = None
    max_expand_step: int = 100
    """A larger expandStep is rejected (never clamped)."""
    max_deferral: timedelta = timedelta(days=7)
    """A deferred intent whose file was added longer ago than this is rejected."""
    freeze_file: str | None = DEFAULT_FREEZE_FILE
    """Repo-relative; None: no freeze windows (the `.superloop/` layout's default)."""

    @property
    def is_active(self) -> bool:
        """Whether any guard can hold or reject an intent (the freeze file aside)."""
        return self._replace(max_deferral=OFF.max_deferral, freeze_file=None) != OFF


OFF = GuardSettings(freeze_file=None)
"""The bash tool's `.superloop/` layout: every guard off unless configured."""
POLICIES_DEFAULTS = GuardSettings(decision_after_change=True)
"""The `policies/` layout: decisionAfterChange on, everything else off (no windows until
`policies/freeze.yaml` declares some)."""
_KEYS = frozenset(
    {
        "decisionAfterChange",
        "expandCooldown",
        "budget",
        "maxExpandStep",
        "maxDeferral",
        "freezeFile",
    }
)
_BUDGET_KEYS = frozenset({"window", "maxExpands", "maxExpandPercent"})


def parse_guards(value: object, defaults: GuardSettings) -> tuple[GuardSettings, list[str]]:
    """Validate the `guards:` block over the layout's defaults; return it and its problems.

    A key not given keeps its default; with problems, the settings returned are the defaults.
    """
    if value is None:
        return defaults, []
    if not isinstance(value, dict):
        return defaults, ["guards must be a mapping"]
    problems = [f'guards: unknown setting "{key}"' for key in value if key not in _KEYS]
    settings = defaults
    if "decisionAfterChange" in value:
        flag = value["decisionAfterChange"]
        if isinstance(flag, bool):
            settings = settings._replace(decision_after_change=flag)
        else:
            problems.append("guards.decisionAfterChange must be true or false")
    if "expandCooldown" in value:
        cooldown = _duration(value["expandCooldown"], "guards.expandCooldown", problems, zero=True)
        settings = settings._replace(expand_cooldown=cooldown or timedelta(0))
    if "maxDeferral" in value:
        deferral = _duration(value["maxDeferral"], "guards.maxDeferral", problems)
        settings = settings._replace(max_deferral=deferral or defaults.max_deferral)
    if "maxExpandStep" in value:
        step = _percent(value["maxExpandStep"], "guards.maxExpandStep", problems)
        settings = settings._replace(max_expand_step=step or defaults.max_expand_step)
    if "budget" in value:
        settings = settings._replace(budget=_budget(value["budget"], problems))
    if "freezeFile" in value:
        # null: no freeze windows at all (the file is not read).
        found = value["freezeFile"]
        settings = settings._replace(
            freeze_file=None if found is None else _freeze_file(found, problems)
        )
    return (defaults, problems) if problems else (settings, [])


def _duration(
    value: object, key: str, problems: list[str], *, zero: bool = False
) -> timedelta | None:
    span = setting_duration(value, zero=zero)
    if span is None:
        low = "0 (off)" if zero else "1s"
        problems.append(f"{key} must be a duration between {low} and 366d, such as 1h or 7d")
    return span


def _percent(value: object, key: str, problems: list[str]) -> int | None:
    if type(value) is not int or not 1 <= value <= 100:
        problems.append(f"{key} must be a whole percentage between 1 and 100")
        return None
    return value


def _budget(value: object, problems: list[str]) -> Budget | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append("guards.budget must be a mapping (window, maxExpands, maxExpandPercent)")
        return None
    problems += [
        f'guards.budget: unknown setting "{key}"' for key in value if key not in _BUDGET_KEYS
    ]
    window = _duration(value.get("window"), "guards.budget.window", problems)
    if window is not None and window > MAX_WINDOW:
        problems.append("guards.budget.window must be at most 90d")
    expands = value.get("maxExpands")
    if expands is not None and (type(expands) is not int or not 1 <= expands <= 1000):
        problems.append("guards.budget.maxExpands must be a whole number between 1 and 1000")
    percent = value.get("maxExpandPercent")
    if percent is not None:
        percent = _percent(percent, "guards.budget.maxExpandPercent", problems)
    if expands is None and percent is None:
        problems.append("guards.budget needs maxExpands, maxExpandPercent or both")
    if window is None:
        return None
    return Budget(window, expands if isinstance(expands, int) else None, percent)


def _freeze_file(value: object, problems: list[str]) -> str | None:
    parts = value.split("/") if isinstance(value, str) else []
    if (
        not isinstance(value, str)
        or not value
        or value.startswith("/")
        or "\\" in value
        or any(part in ("", ".", "..") for part in parts)
        or git_dir_component(value) is not None
        or any(ord(ch) < 32 for ch in value)
    ):
        problems.append(
            "guards.freezeFile must be a relative path inside the repository, such as "
            f"{DEFAULT_FREEZE_FILE}"
        )
        return None
    return value


class PassGuards(NamedTuple):
    """The progression guards of a pass: the settings, the freeze windows, or why not."""

    settings: GuardSettings
    calendar: Calendar = Calendar()
    problem: RefusalError | None = None
    """The guards settings or the freeze file are invalid: expand and resume wait."""
    upstream: UpstreamGate | None = None
    """The fleet's upstream (`after:`/`requires:`): expand and resume wait for its soak."""
