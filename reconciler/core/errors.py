"""The one error tree (core layer): every failure an operator sees is a ReconcileError.

`RefusalError` fails closed (bad input, governance, decision): retrying the same thing gives the
same answer. `RetryableError` is transient (a lock held too long, a push race): retry later.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.reasons import ReasonCode


class ReconcileError(Exception):
    """A failure with a reason code, a one-line message and optional detail lines."""

    def __init__(
        self,
        reason: ReasonCode,
        message: str,
        *,
        details: Sequence[str] = (),
        path: str | None = None,
        footer: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = tuple(details)
        self.path = path
        self.footer = footer
        """A second `error:` line after the details (the bash tool's wrapper message)."""


class RefusalError(ReconcileError):
    """Fail closed: the request is refused and nothing was written."""


class RetryableError(ReconcileError):
    """A transient condition (lock busy, push race); the same request may succeed later."""


class DocumentError(RefusalError):
    """A JSON or YAML text could not be turned into a document.

    `kind` is one of: syntax, duplicate_key, alias, too_deep, multiple_documents, not_mapping.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(ReasonCode.REGISTRY_PARSE_ERROR, message)
        self.kind = kind
        self.line = line
        self.column = column


class EditError(RefusalError):
    """The minimal registry edit could not be made or did not round-trip exactly."""

    def __init__(self, message: str) -> None:
        super().__init__(ReasonCode.REGISTRY_EDIT_FAILED, message)
