"""Promotion order between fleets (core layer): a fleet moves only after its upstream has soaked.

A fleet's settings may name an upstream (`after: staging`) and what it must have held
(`requires: {minCanary: 100, soak: 24h}`): the upstream at `minCanary` or more, not paused,
for `soak` without a break. Computed from the upstream's applied records (its telemetry) and
its registry now, so every path agrees; a rollback of the upstream (which pauses it) resets
the soak. `core/guards.py` defers an expand or resume with `guard_upstream_not_ready` while
it is not ready; a rollback or an adopt is never held. See docs/reason-codes.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from reconciler.core.errors import RefusalError
from reconciler.core.timestamps import (
    format_duration,
    format_timestamp,
    parse_timestamp,
    setting_duration,
)

Record = Mapping[str, Any]
MAX_SOAK = timedelta(days=90)
"""A longer soak is refused (and would read that much of the upstream's history)."""
_REQUIRES_KEYS = frozenset({"minCanary", "soak"})


class Requirement(NamedTuple):
    """What the upstream fleet must have held before this fleet may expand or resume."""

    upstream: str
    """The upstream's fleet id (`after:`)."""
    min_canary: int = 100
    """The upstream's canary must be at least this (and not paused)."""
    soak: timedelta = timedelta(0)
    """For this long without a break (0: satisfying now is enough)."""


def parse_requires(after: object, requires: object) -> tuple[Requirement | None, list[str]]:
    """Validate a fleet's decoded `after:` and `requires:`; return the requirement and problems.

    None without `after` (no upstream). `after` alone requires the upstream at 100%, unpaused,
    with no soak. Problems are one line each, without the `fleets.<id>.` prefix the caller
    adds; with problems, the requirement is None.
    """
    if after is None:
        if requires is None:
            return None, []
        return None, ["requires needs after: the upstream fleet it is measured on"]
    problems: list[str] = []
    if not isinstance(after, str) or not after.strip():
        problems.append("after must be a fleet id (a non-empty string)")
    requirement = Requirement(after if isinstance(after, str) else "")
    if requires is not None:
        requirement = _requires(requirement, requires, problems)
    return (None, problems) if problems else (requirement, [])


def _requires(requirement: Requirement, value: object, problems: list[str]) -> Requirement:
    if not isinstance(value, dict):
        problems.append("requires must be a mapping (minCanary, soak)")
        return requirement
    problems += [f'requires: unknown setting "{key}"' for key in value if key not in _REQUIRES_KEYS]
    if "minCanary" in value:
        canary = value["minCanary"]
        if type(canary) is not int or not 0 <= canary <= 100:
            problems.append("requires.minCanary must be an integer between 0 and 100")
        else:
            requirement = requirement._replace(min_canary=canary)
    if "soak" in value:
        soak = setting_duration(value["soak"], zero=True)
        if soak is None or soak > MAX_SOAK:
            problems.append("requires.soak must be a duration between 0 and 90d, such as 24h")
        else:
            requirement = requirement._replace(soak=soak)
    return requirement


class UpstreamFacts(NamedTuple):
    """What the upstream fleet's files say, as the caller read them."""

    canary: int
    """The upstream registry's canaryPercent now."""
    paused: bool
    """The upstream registry's pause.manual now."""
    records: Sequence[Record]
    """The upstream's applied records, oldest first (the shape `Ledger.applied_since` reads)."""
    changed_at: datetime | None
    """The upstream registry's governance changedAt: the streak's start only when there is
    no applied record at all and the registry satisfies the requirement now."""
    problem: str | None = None
    """The upstream could not be read: it is never ready (fail closed)."""


class Soak(NamedTuple):
    """How far the upstream is into its soak now."""

    ready: bool
    since: datetime | None
    """Start of the current unbroken streak at minCanary or more, unpaused (None: none now)."""
    ready_at: datetime | None
    """since + soak; None when the upstream does not satisfy the requirement now."""
    held: timedelta
    """How long the streak has lasted so far (0 when there is none)."""
    message: str
    """One line: `upstream <fleet>: ...`, what is missing or when it is ready."""


def soak_status(requirement: Requirement, facts: UpstreamFacts, now: datetime) -> Soak:
    """Tell whether the upstream has held the requirement for its soak at `now`.

    The records are walked oldest first: each one's after-state (canaryPercent, manualPause)
    either satisfies the requirement or breaks the streak (a rollback pauses, so it always
    breaks it; a record whose after-state cannot be read breaks it too). The streak starts
    at the first satisfying record after the last break; a record timed after `now` counts
    as `now`. The registry now must satisfy it as well. When no record tells when the
    current streak started (the records end on a break, yet the registry satisfies), the
    streak starts now; with no record at all, at the registry's changedAt (or now).
    """
    name = f"upstream {requirement.upstream}"
    if facts.problem is not None:
        return _waiting(f"{name}: could not be read: {facts.problem}")
    if facts.paused:
        return _waiting(f"{name}: paused")
    if facts.canary < requirement.min_canary:
        return _waiting(f"{name}: at {facts.canary}%, needs {requirement.min_canary}% unpaused")
    since = _streak_start(requirement, facts, now)
    ready_at = since + requirement.soak
    ready = ready_at <= now
    detail = (
        f"held {requirement.min_canary}% unpaused since {format_timestamp(since)}, soak "
        f"{format_duration(requirement.soak)}: ready {'since' if ready else 'at'} "
        f"{format_timestamp(ready_at)}"
    )
    return Soak(ready, since, ready_at, now - since, f"{name}: {detail}")


def _waiting(message: str) -> Soak:
    return Soak(False, None, None, timedelta(0), message)


def _streak_start(requirement: Requirement, facts: UpstreamFacts, now: datetime) -> datetime:
    """When the streak the registry is in now started (the registry satisfies)."""
    since: datetime | None = None
    seen = False
    for record in facts.records:
        when = parse_timestamp(record.get("timestamp"))
        if when is None:
            continue  # cannot be placed in time (as the other guards skip it)
        seen = True
        if _satisfies(requirement, _after(record)):
            since = min(when, now) if since is None else since
        else:
            since = None
    if since is not None:
        return since
    if not seen and facts.changed_at is not None:
        return min(facts.changed_at, now)
    return now


def _after(record: Record) -> tuple[int, bool] | None:
    """A record's after-state (canaryPercent, manualPause); None when it cannot be read."""
    rollout = record.get("rollout")
    after = rollout.get("after") if isinstance(rollout, Mapping) else None
    if not isinstance(after, Mapping):
        return None
    canary, paused = after.get("canaryPercent"), after.get("manualPause")
    if type(canary) is not int or not isinstance(paused, bool):
        return None
    return canary, paused


def _satisfies(requirement: Requirement, state: tuple[int, bool] | None) -> bool:
    return state is not None and not state[1] and state[0] >= requirement.min_canary


class UpstreamGate:
    """A fleet's requirement and a lazy, memoised read of its upstream.

    `facts` is called at most once, and only when an expand or resume is assessed (reading
    the upstream's telemetry costs time): an idle pass or a rollback never reads it. A
    `RefusalError` from it is the upstream's `problem` (never ready).
    """

    __slots__ = ("_facts", "_read", "_requirement")

    def __init__(self, requirement: Requirement, facts: Callable[[], UpstreamFacts]) -> None:
        self._requirement = requirement
        self._read = facts
        self._facts: UpstreamFacts | None = None

    @property
    def requirement(self) -> Requirement:
        """What the upstream must have held."""
        return self._requirement

    def facts(self) -> UpstreamFacts:
        """The upstream's facts, read on the first call only."""
        if self._facts is None:
            try:
                self._facts = self._read()
            except RefusalError as exc:
                self._facts = UpstreamFacts(0, True, (), None, problem=exc.message)
        return self._facts

    def soak(self, now: datetime) -> Soak:
        """The upstream's soak at `now` (reads the facts on the first call)."""
        return soak_status(self._requirement, self.facts(), now)

    def __repr__(self) -> str:
        return f"UpstreamGate({self._requirement!r})"
