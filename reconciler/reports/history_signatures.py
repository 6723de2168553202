"""Who signed each `reconcile history` entry (reports layer): `verified`, `unsigned`, `forged`.

The shown commits' objects come from one `git cat-file --batch` process, asked as the
`git log` walk finds them (so `--verified-only` can keep walking); their SSH signatures are
checked in process against the `trust:` block's allowed signers and `botSigners`
(core/commit_verification.py). Called by reports/history.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.adapters.gitrepo import CatFile, Git
from reconciler.core import commit_verification
from reconciler.core.commit_verification import Verification
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

if TYPE_CHECKING:
    from reconciler.inputs.layouts import Layout
    from reconciler.inputs.trusting import TrustFiles


def load_bot_trust(layout: Layout) -> TrustFiles | None:
    """The repository's trust files; None when `trust:` is not set (nothing is verified).

    `layout` is any fleet of the repository: `trust:` is reconciler.yaml's, one for all.

    Raises:
        RefusalError: reconciler.yaml or the trust files are invalid (fix them: a state
            read against a broken allowed-signers file would be a guess).
    """
    if layout.settings.trust is None:
        return None  # and pydantic, YAML and cryptography are never loaded
    from reconciler.inputs import trusting

    found = trusting.load_trust(layout)
    if isinstance(found, RefusalError):
        raise found
    return found


class Signatures:
    """The verification state of commits, read through one `git cat-file --batch`.

    A context manager; the process starts with the first commit asked about.
    """

    def __init__(self, git: Git, trust: TrustFiles | None) -> None:
        self._git = git
        self._trust = trust
        self._objects: CatFile | None = None

    def __enter__(self) -> Signatures:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._objects is not None:
            self._objects.close()

    def state(self, commit: str) -> Verification:
        """`commit`'s state (a full SHA the walk just printed).

        Raises:
            RefusalError: git cannot read the commit (git_failed).
        """
        if self._objects is None:
            self._objects = CatFile(self._git)
        found = self._objects.read(commit)
        if found is None or found[0] != "commit":
            raise RefusalError(ReasonCode.GIT_FAILED, f"git cat-file cannot read commit {commit}")
        raw = found[1]
        if not commit_verification.has_signature(raw):
            return "unsigned"
        if self._trust is None:
            return "forged"  # signed, but no botSigners can vouch for it
        from reconciler.core import ssh_signatures

        check = ssh_signatures.check_commit(raw, self._trust.signers)
        return commit_verification.verification_state(check, self._trust.settings.bot_signers)
