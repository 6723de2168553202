"""The trust files of a repository (inputs layer): `trust:`, allowed signers, access policy.

Read from the repository's checkout like every other policy file: no symlink on their path,
bounded, UTF-8. A problem never raises to the pass: it becomes the pass's trust problem
(`trust_settings_invalid`), which refuses expand and resume and lets a rollback pause.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from reconciler.adapters import files
from reconciler.core import yamltext
from reconciler.core.errors import DocumentError, RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.inputs.layouts import SETTINGS_FILE, Layout

if TYPE_CHECKING:  # pydantic and cryptography: imported only when `trust:` is set
    from reconciler.core.ssh_signatures import AllowedSigners
    from reconciler.core.trust_settings import AccessPolicy, TrustSettings

TRUST_FILE_LIMIT = 1024 * 1024


class TrustFiles(NamedTuple):
    """What intents are verified against, before the git evidence is read."""

    settings: TrustSettings
    signers: AllowedSigners
    access: AccessPolicy


def trust_settings(layout: Layout) -> TrustSettings | RefusalError | None:
    """The layout's `trust:` block, or why it is invalid; None when it is not set."""
    if layout.settings.trust is None:
        return None
    from reconciler.core import trust_settings as trust  # noqa: PLC0415 - pydantic, lazily

    try:
        return trust.parse_trust(layout.settings.trust, os.path.join(layout.repo, SETTINGS_FILE))
    except RefusalError as exc:
        return exc


def load_trust(layout: Layout, root: str | None = None) -> TrustFiles | RefusalError | None:
    """Read the trust settings and the files they name (below `root`, default the repo).

    None when `trust:` is not set.
    """
    settings = trust_settings(layout)
    if settings is None or isinstance(settings, RefusalError):
        return settings
    from reconciler.core import ssh_signatures  # noqa: PLC0415 - cryptography, lazily
    from reconciler.core import trust_settings as trust  # noqa: PLC0415

    base = root or layout.repo
    try:
        signers = ssh_signatures.parse_allowed_signers(
            _read(base, settings.allowed_signers, "allowed-signers file")
        )
        if not signers.keys:
            raise _invalid(
                os.path.join(base, settings.allowed_signers),
                "the allowed-signers file lists no usable key",
                *signers.problems,
            )
        access = trust.OPEN_ACCESS
        if settings.access is not None:
            path = os.path.join(base, settings.access)
            try:  # duplicate keys, aliases and extra documents are refused, not guessed at
                doc = yamltext.load_yaml(_read(base, settings.access, "access policy"))
            except DocumentError as exc:
                raise _invalid(path, f"not valid YAML: {exc.message}") from exc
            access = trust.parse_access(doc, path)
    except RefusalError as exc:
        return exc
    return TrustFiles(settings, signers, access)


def _read(root: str, relative: str, what: str) -> str:
    path = os.path.join(root, *relative.split("/"))
    if relative.startswith("/") or ".." in relative.split("/"):
        raise _invalid(path, f"the {what} must be a path inside the repository")
    linked = files.symlinked_component(root, relative)
    if linked is not None:
        raise _invalid(path, f"{linked} is a symlink; the {what} must be a file in the repository")
    try:
        data = files.read_bounded(path, TRUST_FILE_LIMIT, what=what)
        if data is None:
            raise _invalid(path, f"the {what} does not exist")
        return files.decode_utf8(data, path, what=what)
    except RefusalError as exc:
        if exc.reason is ReasonCode.TRUST_SETTINGS_INVALID:
            raise
        raise _invalid(path, exc.message) from exc


def _invalid(path: str, *details: str) -> RefusalError:
    return RefusalError(
        ReasonCode.TRUST_SETTINGS_INVALID,
        f"invalid trust settings: {path}",
        details=list(details),
        path=path,
    )
