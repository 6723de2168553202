"""The loop's audit hook (reports layer), cheap to import: the audit loads when it runs.

The commands give it to the loop (`OnceOptions.audit`, `DispatchArgs.audit`): a pass with an
intent pending calls it and gets the blocking findings (reports/audit_state.py); a pass with
nothing pending never imports the audit.
"""

from __future__ import annotations

from collections.abc import Callable


def auditor(
    repo: str | None, *, remember: bool = True
) -> Callable[[object, str | None], list[str]]:
    """The audit of `repo` (`pass_state.Auditor`): the lines of its blocking findings.

    Called with the fleet whose intents wait on it (None: the repository's one fleet); the
    repository is audited once per HEAD, for all its fleets (`audit_state.drift_lines`).
    """

    def audit_now(checkout: object, fleet: str | None) -> list[str]:
        from reconciler.reports import audit_state  # noqa: PLC0415 - only when it runs

        head = getattr(checkout, "head", None)
        return audit_state.drift_lines(
            repo, fleet=fleet, remember=remember, head=head if isinstance(head, str) else None
        )

    return audit_now
