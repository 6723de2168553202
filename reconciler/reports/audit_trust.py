"""`reconcile verify`'s signature checks (reports layer), from the `trust:` settings.

With `trust.botSigners` set, a commit with Reconcile-* trailers must carry a good signature
(core/ssh_signatures.py) by a key the allowed-signers file lists for a bot principal. A
commit that changes the allowed-signers file or the access policy must be signed by an
approver (the access policy's `approve.principals`; none configured: any allowed signer), as
the files stood before it: a key cannot approve its own addition.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from reconciler.adapters.gitrepo import CatFile
from reconciler.core import yamltext
from reconciler.core.audit import Finding, FindingKind
from reconciler.core.errors import RefusalError
from reconciler.inputs import trusting
from reconciler.inputs.layouts import Layout
from reconciler.reports.audit_log import Commit


class TrustSetup:
    """The repository's trust settings as verify uses them (its worktree's reconciler.yaml)."""

    def __init__(self, layout: Layout, top: str) -> None:
        """Read the settings and files; `top`: the worktree's top folder.

        Raises:
            RefusalError: `trust_settings_invalid` (no commit can be verified against them).
        """
        found = trusting.load_trust(layout)
        if isinstance(found, RefusalError):
            raise found
        self.files = found
        prefix = os.path.relpath(layout.repo, top).replace(os.sep, "/")
        self._prefix = "" if prefix == "." else f"{prefix}/"

    @property
    def paths(self) -> list[str]:
        """The repo-relative trust files (allowed signers, access policy); [] without trust."""
        if self.files is None:
            return []
        settings = self.files.settings
        named = [settings.allowed_signers, *([settings.access] if settings.access else [])]
        return [self._prefix + path for path in named]

    def bot_signed(self, _sha: str, raw: bytes) -> bool | None:
        """Whether the commit object is signed by a bot key; None: botSigners not set."""
        if self.files is None or not self.files.settings.bot_signers:
            return None
        from reconciler.core import ssh_signatures  # noqa: PLC0415 - only with botSigners

        check = ssh_signatures.check_commit(raw, self.files.signers)
        return check.good and bool(set(check.principals) & set(self.files.settings.bot_signers))

    @property
    def signs_bots(self) -> bool:
        """Whether reconciler commits must be signed (botSigners set)."""
        return self.files is not None and bool(self.files.settings.bot_signers)


def unapproved_trust_changes(
    setup: TrustSetup, objects: CatFile, commits: Iterable[Commit]
) -> list[Finding]:
    """One `trust_file_unapproved` per commit that brought a trust-file change in unapproved.

    `commits`: the commits of the branch's first-parent line that changed a trust file, each
    with its changes against its first parent (`audit_log.first_parent_changes`): a pull
    request's merge, or a commit pushed straight to the branch. The commits on a pull
    request's branch are not checked themselves: the approval is the merge's signature (as
    for intents). The signature is checked against the allowed-signers file and access
    policy of the commit's first parent (the commit's own when its parent has none).
    """
    paths = setup.paths
    if not paths:
        return []
    findings = []
    for commit in commits:
        changed = [change.path for change in commit.changes if change.path in paths]
        if not changed:
            continue
        problem = _approval_problem(objects, commit, paths)
        if problem:
            findings.append(
                Finding(
                    FindingKind.TRUST_FILE_UNAPPROVED,
                    commit.sha,
                    changed[0],
                    None,
                    f"{', '.join(changed)} changed by a commit {problem}",
                    commit.author,
                    commit.committer,
                )
            )
    return findings


def _approval_problem(objects: CatFile, commit: Commit, paths: Sequence[str]) -> str | None:
    from reconciler.core import ssh_signatures, trust_settings  # noqa: PLC0415 - with trust: only

    before = commit.parents[0] if commit.parents else commit.sha
    signers_text = _text(objects, f"{before}:{paths[0]}") or _text(
        objects, f"{commit.sha}:{paths[0]}"
    )
    signers = ssh_signatures.parse_allowed_signers(signers_text)
    approvers: tuple[str, ...] = ()
    if len(paths) > 1:
        policy = _text(objects, f"{before}:{paths[1]}") or _text(
            objects, f"{commit.sha}:{paths[1]}"
        )
        try:
            approvers = trust_settings.parse_access(
                yamltext.load_yaml(policy), paths[1]
            ).approve.principals
        except RefusalError:  # duplicate keys, aliases: refused as the loop refuses them
            approvers = ()  # an unreadable policy approves nobody but the allowed signers
    found = objects.read(commit.sha)
    check = ssh_signatures.check_commit(found[1] if found else b"", signers)
    if not check.good:
        return f"that is not signed by an allowed signer ({check.status.replace('_', ' ')})"
    if approvers and not set(check.principals) & set(approvers):
        return f"signed by {', '.join(check.principals)}, not an approver"
    return None


def _text(objects: CatFile, name: str) -> str:
    found = objects.read(name)
    if found is None or found[0] != "blob":
        return ""
    return found[1].decode("utf-8", "replace")
