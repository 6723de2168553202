"""Who may change the rollout, proven from git (core layer): `trust:` and the access policy.

The loop finds, for each pending intent, the commit that last wrote it (its requester's
signature) and the first-parent commit that brought it into the branch (its approver's
signature), and for the decision the commit that last changed it; `assess` decides from
those signatures, the allowed-signers file and the access policy. Pure: the loop reads git
and the files (loop/provenance.py) and passes what it found. See docs/security.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

if TYPE_CHECKING:  # the settings pull in pydantic, the signatures cryptography: not at import
    from reconciler.core.ssh_signatures import AllowedSigners, SignatureCheck
    from reconciler.core.trust_settings import AccessPolicy, Approval, TrustSettings


class Trust(NamedTuple):
    """What a pass verifies intents against (the same for every intent of the pass)."""

    settings: TrustSettings
    signers: AllowedSigners
    access: AccessPolicy
    decision: SignatureCheck | None = None
    """The commit that last changed the decision; None when no decisionSigners are set."""


class Provenance(NamedTuple):
    """Where one pending intent came from, as git shows it."""

    committed: bool
    """False: the file is not in HEAD (untracked or only staged)."""
    writer: SignatureCheck | None = None
    """The commit that last wrote the file as HEAD holds it; None when not committed."""
    writer_matches: bool = True
    """False: HEAD's content is not what that commit wrote (a merge changed it)."""
    approval: SignatureCheck | None = None
    """The first-parent commit that brought the file in; None when not found."""
    merge_pending: bool = False
    """True where the merge is yet to come (`plan` of a pull request): it decides approval."""


class TrustInputs(NamedTuple):
    """One intent's trust evidence, as `rules.check_trust` reads it."""

    trust: Trust | RefusalError
    """The pass's trust, or why it could not be read (`trust_settings_invalid`)."""
    provenance: Provenance


class Assessment(NamedTuple):
    """What the trust checks leave for an intent they did not refuse."""

    notes: tuple[ReasonCode, ...] = ()
    warnings: tuple[str, ...] = ()
    signer: tuple[str, ...] = ()
    approver: tuple[str, ...] = ()


def assess(found: TrustInputs, action: str, actor: str) -> Assessment:
    """Decide one intent's provenance: refuse it, or return what to note.

    Identity is never waived: an unsigned intent, a bad signature, a key not allowed, an
    actor who is not the signer or an action the signer may not request are refused for
    every action. A rollback by a permitted signer is applied even when the approval or the
    decision checks fail (noted), as are broken trust settings (progression is refused).

    Raises:
        RefusalError: the first failed check, with its own code.
    """
    trust = found.trust
    if isinstance(trust, RefusalError):
        if action != "rollback":
            raise trust
        return Assessment((trust.reason,), (f"{trust.message}: {'; '.join(trust.details)}",))
    signer = _signer(trust, found.provenance, actor)
    if not signer:  # unsigned, and signatures are optional (a migration): the decision only
        try:
            _decision_trusted(trust, action)
        except RefusalError as exc:
            if action != "rollback":
                raise
            return Assessment((exc.reason,), (exc.message,))
        return Assessment()
    if not trust.access.may_request(action, signer):
        raise RefusalError(
            ReasonCode.INTENT_ACTION_NOT_PERMITTED,
            f"{_names(signer)} may not request {action} (access policy)",
        )
    notes: list[ReasonCode] = []
    warnings: list[str] = []
    approver: tuple[str, ...] = ()
    try:
        approver = _approved(trust.access.approve, found.provenance, signer)
        _decision_trusted(trust, action)
    except RefusalError as exc:
        if action != "rollback":
            raise
        notes.append(exc.reason)
        warnings.append(exc.message)
    return Assessment(tuple(notes), tuple(warnings), signer, approver)


def _signer(trust: Trust, provenance: Provenance, actor: str) -> tuple[str, ...]:
    settings = trust.settings
    if not provenance.committed:
        raise RefusalError(
            ReasonCode.INTENT_NOT_COMMITTED,
            "intent file is not committed: signed intents are required",
        )
    check = provenance.writer
    required = settings.require_signed_intents or settings.bind_actor_to_signer
    if not provenance.writer_matches:  # a merge wrote what HEAD holds: nobody signed it
        if required:
            raise RefusalError(
                ReasonCode.INTENT_SIGNATURE_INVALID,
                "the intent's content is not what its last writing commit wrote (changed, "
                "re-added or kept in a merge)",
            )
        check = None
    signer: tuple[str, ...] = ()
    if check is None or check.status == "unsigned":
        if required:
            raise RefusalError(
                ReasonCode.INTENT_UNSIGNED, "the commit that wrote the intent is not signed"
            )
    elif check.status == "invalid":
        raise RefusalError(
            ReasonCode.INTENT_SIGNATURE_INVALID,
            f"the intent's commit signature does not verify: {check.detail}",
        )
    elif not check.good:
        raise RefusalError(
            ReasonCode.INTENT_SIGNER_NOT_ALLOWED,
            f"the intent was signed by {check.fingerprint}: {check.detail}",
        )
    else:
        signer = check.principals
    if settings.bind_actor_to_signer and actor not in signer:
        raise RefusalError(
            ReasonCode.INTENT_ACTOR_NOT_SIGNER,
            f"governance.actor {actor!r} is not the signer ({_names(signer)})",
        )
    return signer


def _approved(
    approve: Approval, provenance: Provenance, signer: tuple[str, ...]
) -> tuple[str, ...]:
    if not approve.required or provenance.merge_pending:
        return ()
    check = provenance.approval
    approver = (
        () if check is None else tuple(n for n in check.principals if n in approve.principals)
    )
    if check is None or not check.good or not approver:
        who = (
            "not found" if check is None
            else f"{_names(check.principals)}, not an approver" if check.good
            else check.status.replace("_", " ")
        )  # fmt: skip
        raise RefusalError(
            ReasonCode.INTENT_NOT_APPROVED,
            f"the merge that brought the intent in is not signed by an approver: {who}",
        )
    if approve.distinct_from_requester and not set(approver) - set(signer):
        raise RefusalError(
            ReasonCode.INTENT_SELF_APPROVED,
            f"the intent was approved by its own signer ({_names(approver)})",
        )
    return approver


def _decision_trusted(trust: Trust, action: str) -> None:
    allowed = trust.settings.decision_signers
    if allowed is None or action not in ("expand", "resume", "rollback"):
        return
    check = trust.decision
    if check is None or not check.good or not set(check.principals) & set(allowed):
        state = "unsigned" if check is None else check.status
        who = _names(check.principals) if check is not None and check.good else state
        raise RefusalError(
            ReasonCode.PROMOTION_DECISION_UNTRUSTED,
            f"the decision's last change is not signed by a decision signer: {who}",
        )


def _names(principals: Sequence[str]) -> str:
    return ", ".join(principals) or "an unknown signer"
