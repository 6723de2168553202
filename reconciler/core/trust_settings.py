"""The trust settings (core layer): `trust:` of reconciler.yaml and the access policy file.

pydantic models, imported only where a repository sets `trust:` (inputs/trusting.py): a pass
without it never pays for pydantic. docs/security.md describes each field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

ANY = "*"
"""In the access policy: any allowed signer."""
ACTIONS = ("expand", "resume", "rollback", "adopt")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TrustSettings(_Strict):
    """The `trust:` block of reconciler.yaml."""

    allowed_signers: str = Field(alias="allowedSigners", min_length=1)
    """Repo-relative path of the allowed-signers file (git's format)."""
    require_signed_intents: bool = Field(True, alias="requireSignedIntents")
    bind_actor_to_signer: bool = Field(False, alias="bindActorToSigner")
    decision_signers: tuple[str, ...] | None = Field(None, alias="decisionSigners")
    """Principals whose signed commits may change the decision; None: not checked."""
    bot_signers: tuple[str, ...] = Field((), alias="botSigners")
    access: str | None = None
    """Repo-relative path of the access policy; None: any allowed signer may request."""


class Approval(_Strict):
    """`approve:` of the access policy."""

    principals: tuple[str, ...] = ()
    required: bool = False
    distinct_from_requester: bool = Field(True, alias="distinctFromRequester")


class AccessPolicy(_Strict):
    """The access policy file: who may request each action, who approves."""

    request: dict[Literal["expand", "resume", "rollback", "adopt"], tuple[str, ...]] = {}
    approve: Approval = Approval()

    def may_request(self, action: str, principals: Sequence[str]) -> bool:
        """Whether a signer with these principals may request `action`."""
        allowed = self.request.get(action)  # type: ignore[call-overload]
        if allowed is None:
            return False
        if not principals:
            return False
        return ANY in allowed or any(name in allowed for name in principals)


OPEN_ACCESS = AccessPolicy(request=dict.fromkeys(ACTIONS, (ANY,)))
"""No access file: any allowed signer may request anything, no approval required."""


def parse_trust(doc: object, source: str) -> TrustSettings | None:
    """Validate the `trust:` block (None: not set).

    Raises:
        RefusalError: `trust_settings_invalid`, one detail per problem.
    """
    if doc is None:
        return None
    return _validated(TrustSettings, doc, source)


def parse_access(doc: object, source: str) -> AccessPolicy:
    """Validate an access policy document.

    Raises:
        RefusalError: `trust_settings_invalid`, one detail per problem.
    """
    return _validated(AccessPolicy, {} if doc is None else doc, source)


_Model = TypeVar("_Model", bound=_Strict)


def _validated(model: type[_Model], doc: object, source: str) -> _Model:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        details = [
            f"{'.'.join(str(part) for part in error['loc']) or 'document'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise RefusalError(
            ReasonCode.TRUST_SETTINGS_INVALID,
            f"invalid trust settings in {source}",
            details=details,
            path=source,
        ) from None
