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
from reconciler.core.commit_verification import verification_state
from reconciler.core.errors import DocumentError, RefusalError
from reconciler.inputs import trusting
from reconciler.inputs.layouts import SETTINGS_FILE, Layout
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
        self.prefix = "" if prefix == "." else f"{prefix}/"
        self.config_path = self.prefix + SETTINGS_FILE
        """reconciler.yaml, repo-relative: its `trust:` and `signing:` are trust settings."""

    @property
    def paths(self) -> list[str]:
        """The repo-relative trust files (allowed signers, access policy); [] without trust."""
        if self.files is None:
            return []
        settings = self.files.settings
        named = [settings.allowed_signers, *([settings.access] if settings.access else [])]
        return [self.prefix + path for path in named]

    @property
    def watched(self) -> list[str]:
        """The files whose first-parent changes are judged: the trust files, reconciler.yaml."""
        return [*self.paths, self.config_path]

    def bot_signed(self, _sha: str, raw: bytes) -> bool | None:
        """Whether the commit object is signed by a bot key; None: botSigners not set."""
        if self.files is None or not self.files.settings.bot_signers:
            return None
        from reconciler.core import ssh_signatures  # noqa: PLC0415 - only with botSigners

        check = ssh_signatures.check_commit(raw, self.files.signers)
        return verification_state(check, self.files.settings.bot_signers) == "verified"

    @property
    def signs_bots(self) -> bool:
        """Whether reconciler commits must be signed (botSigners set)."""
        return self.files is not None and bool(self.files.settings.bot_signers)


def unapproved_trust_changes(
    setup: TrustSetup,
    objects: CatFile,
    commits: Iterable[Commit],
    carried: Sequence[Finding] = (),
) -> list[Finding]:
    """Every `trust_file_unapproved` finding: `carried` (still open) first, then the new ones.

    `commits`: the commits of the branch's first-parent line that changed a trust file or
    reconciler.yaml, each with its changes against its first parent
    (`audit_log.first_parent_changes`): a pull request's merge, or a commit pushed straight
    to the branch. The commits on a pull request's branch are not checked themselves: the
    approval is the merge's signature (as for intents). The signature is checked against the
    trust files of the commit's first parent (the commit's own when its parent has none). A
    change of reconciler.yaml's `trust:` or `signing:` is judged with the `trust:` settings
    of its first parent (none there: not judged), so removing `trust:` is itself a finding.

    An open finding is resolved (`approved`) by a later such commit that changes the same
    file and is signed by an approver as the trust files stood before the first open one.
    """
    found = list(carried)
    open_findings = list(carried)
    for commit in commits:
        problems = _commit_problems(setup, objects, commit)
        changed = {change.path for change in commit.changes}
        if open_findings and not problems:
            baseline = _first_parent(objects, open_findings[0].commit)
            paths = {f.path for f in open_findings if f.path in changed}
            if (
                paths
                and _approval_problem(
                    objects, commit, baseline, _trust_paths(setup, objects, baseline)
                )
                is None
            ):
                for number, finding in enumerate(found):
                    if finding in open_findings and finding.path in paths:
                        found[number] = finding._replace(resolved=APPROVED, resolved_by=commit.sha)
                open_findings = [f for f in open_findings if f.path not in paths]
        for path, problem in problems:
            finding = Finding(
                FindingKind.TRUST_FILE_UNAPPROVED,
                commit.sha,
                path,
                None,
                problem,
                commit.author,
                commit.committer,
            )
            found.append(finding)
            open_findings.append(finding)
    return found


APPROVED = "approved"
"""A `trust_file_unapproved` resolved by a later approver-signed change of the same file."""


def _commit_problems(setup: TrustSetup, objects: CatFile, commit: Commit) -> list[tuple[str, str]]:
    """(path, detail) of each unapproved trust change `commit` brought in."""
    problems = []
    before = commit.parents[0] if commit.parents else commit.sha
    paths = setup.paths
    changed = [change.path for change in commit.changes if change.path in paths]
    if changed:
        problem = _approval_problem(objects, commit, before, paths)
        if problem:
            problems.append((changed[0], f"{', '.join(changed)} changed by a commit {problem}"))
    config = setup.config_path
    if commit.parents and any(change.path == config for change in commit.changes):
        old = _settings_blocks(_text(objects, f"{before}:{config}"))
        new = _settings_blocks(_text(objects, f"{commit.sha}:{config}"))
        if old.get("trust") is not None and old != new:
            then = _trust_paths(setup, objects, before)
            problem = (
                _approval_problem(objects, commit, before, then)
                if then
                else "whose first parent's trust: settings name no allowed-signers file"
            )
            if problem:
                problems.append(
                    (config, f"its trust:/signing: settings changed by a commit {problem}")
                )
    return problems


def _settings_blocks(text: str) -> dict[str, object]:
    """reconciler.yaml's `trust:` and `signing:` values ({"unreadable": ...} when it is not)."""
    try:
        doc = yamltext.load_yaml(text) if text else {}
    except (DocumentError, RecursionError, MemoryError) as exc:
        return {"trust": "unreadable", "unreadable": str(exc)}
    if not isinstance(doc, dict):
        return {"trust": None, "signing": None} if doc is None else {"trust": "unreadable"}
    return {"trust": doc.get("trust"), "signing": doc.get("signing")}


def _trust_paths(setup: TrustSetup, objects: CatFile, commit: str) -> list[str]:
    """The trust files (allowed signers, access policy) reconciler.yaml names at `commit`.

    [] when it has no valid `trust:` there: no change can then be approved against it.
    """
    from reconciler.core import trust_settings  # noqa: PLC0415 - with trust: only

    blocks = _settings_blocks(_text(objects, f"{commit}:{setup.config_path}"))
    try:
        settings = trust_settings.parse_trust(blocks.get("trust"), setup.config_path)
    except RefusalError:
        return []
    if settings is None:
        return []
    named = [settings.allowed_signers, *([settings.access] if settings.access else [])]
    return [setup.prefix + path for path in named]


def _first_parent(objects: CatFile, sha: str) -> str:
    """The first parent of commit `sha` (itself for a root commit)."""
    found = objects.read(sha)
    for line in (found[1] if found else b"").split(b"\n"):
        if not line:
            break
        if line.startswith(b"parent "):
            return line[7:].decode("ascii", "replace")
    return sha


def _approval_problem(
    objects: CatFile, commit: Commit, before: str, paths: Sequence[str]
) -> str | None:
    from reconciler.core import ssh_signatures, trust_settings  # noqa: PLC0415 - with trust: only

    if not paths:
        return "with no allowed-signers file to check it against"
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
        except (RefusalError, RecursionError, MemoryError):  # as the loop refuses them
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
