"""What a pass evaluates (core layer): an intent file as found, the pass's state, an outcome.

The values `core/passes.py` decides with; the loop, `plan`, `status` and `dispatch` build and
read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from reconciler.core import registry, trust
from reconciler.core.decision import Decision
from reconciler.core.drift import Drift
from reconciler.core.editing import RegistryText
from reconciler.core.errors import RefusalError
from reconciler.core.guard_settings import PassGuards
from reconciler.core.intents import Intent, IntentFields, Problem
from reconciler.core.registry import RegistryView

Record = dict[str, Any]
Status = Literal["applied", "replayed", "rejected", "deferred"]


class IntentSource(NamedTuple):
    """One pending intent file as the loop found it."""

    path: str
    """Repo-relative path, e.g. `policies/intents/20261124T0930Z-expand.yaml`."""
    data: bytes | None
    """Its bytes; None when `problem` says why they could not be read."""
    problem: Problem | None
    """A problem found before parsing (a symlink, too large, a bad name)."""
    intent_commit: str | None
    """SHA of the commit that added the file; None for a file not committed yet."""
    blob: str
    """Git blob id of the file (its trace id when it is not in any commit)."""
    added_at: datetime | None = None
    """When the commit that added the file was made (committer time); None when not
    committed: `guards.maxDeferral` counts from it."""
    provenance: trust.Provenance | None = None
    """Who wrote and who brought in the file (read only when `trust:` is set)."""

    @property
    def name(self) -> str:
        """The file's base name."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        """The base name without its extension, as text (a non-UTF-8 byte shows as U+FFFD)."""
        stem = self.name.rsplit(".", 1)[0] if "." in self.name else self.name
        return as_text(stem)

    @property
    def shown_path(self) -> str:
        """`path` as text for records and messages (a non-UTF-8 byte shows as U+FFFD)."""
        return as_text(self.path)


def as_text(value: str) -> str:
    """Return `value` encodable as UTF-8: surrogate-escaped bytes of a file name become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class PassState(NamedTuple):
    """What an intent is evaluated against; the next intent sees the state after it."""

    registry: RegistryText
    view: RegistryView
    decision: Decision | None
    decision_problem: RefusalError | None
    """Why the decision could not be read (missing, invalid); None when it was."""
    max_age: timedelta
    max_age_text: str
    files: Mapping[str, str]
    """registryFile, promotionStateFile, applyStateFile, applyTelemetryFile, repo-relative."""
    base_commit: str
    """The commit this intent's commit goes on top of."""
    registry_problem: RefusalError | None = None
    """Why the registry is invalid (`registry_invalid`, one detail per problem) when a rollback
    can still be applied to it: expand and resume are rejected with it, a rollback notes the
    problems (`registry_invalid_elsewhere`). None when the registry is valid."""
    guards: PassGuards | None = None
    """None: no guard (every one off)."""
    trust: trust.Trust | RefusalError | None = None
    """What intents are verified against, or why it cannot be read; None: `trust:` unset."""
    drift: Drift | None = None
    """What the audit of the history left unresolved; None: not audited."""
    fleet_id: str | None = None
    """The fleet of a repository with several (its folder name); None: the one fleet."""
    deferred: tuple[Outcome, ...] = ()
    """The expand/resume intents deferred so far in this pass, in order: every later one
    queues behind the first, and a rollback applied after them supersedes them."""


class Outcome(NamedTuple):
    """What the reconciler does with one intent file."""

    source: IntentSource
    status: Status
    intent: Intent | None
    """The parsed intent; None when the file itself is rejected."""
    reasons: tuple[str, ...]
    """Reason codes: why it was rejected, or the notes of an applied record."""
    problems: tuple[str, ...]
    """One line per problem of a rejected intent; of an applied one, its `warnings` (what a
    rollback was applied despite)."""
    record: Record
    """Applied or rejected: the new record. Replayed: the earlier record, marked replayed."""
    state: PassState
    """The state after this intent (the registry edited when applied)."""
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    """canaryPercent and manualPause before and after."""
    readable: IntentFields = IntentFields()
    """Of a file rejected as not a valid intent: the fields that could be read all the same."""
    not_before: datetime | None = None
    """Deferred: when the guards clear by themselves; None when one waits for a decision."""

    @property
    def fields(self) -> IntentFields:
        """The intent's fields, or what could be read of a file that is not a valid intent."""
        return self.intent.fields if self.intent else self.readable

    @property
    def action(self) -> str:
        """expand, resume or rollback (as far as the file says); `invalid` when it says none."""
        return self.fields.intent or "invalid"

    @property
    def trace_id(self) -> str:
        """The trace id carried by the record and the commit."""
        return str(self.record.get("traceId") or "")


def posture(view: registry.RegistryView) -> dict[str, Any]:
    """Return the rollout posture of a registry view as a record's before/after."""
    return {"canaryPercent": view.canary_percent, "manualPause": view.manual_pause}
