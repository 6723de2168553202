"""`reconcile init` (reports layer): the files that set up a new policy repository.

The policies/ example and the three workflows are copied from the package's `_example/` folder
(a built wheel) or from the source checkout; the workflows' `pip install .` becomes
`pip install <SPEC>`: `--install SPEC`, else what installs this very reconciler on a fresh
machine (`resolve_install`). Existing files are never overwritten.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from reconciler import __version__
from reconciler.adapters import distribution, files
from reconciler.core import install_spec, yamltext
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.setup.init_fleets import (
    codeowners_text,
    fleet_files,
    fleet_workflow,
    settings_text,
)

# Until ReasonCode.SCAFFOLD_EXISTS exists, an existing file is refused as a file error.
EXISTS_REASON = ReasonCode.SCAFFOLD_EXISTS
TEMPLATE_LIMIT = 1024 * 1024

WORKFLOWS = ("reconcile.yml", "plan.yml", "rollout-dispatch.yml")
POLICY_FILES = ("registry.yaml", "promotion/decision.json", ".gitignore")
EMPTY_FILES = (
    "policies/intents/.gitkeep",
    "policies/intents/applied/.gitkeep",
    "policies/intents/rejected/.gitkeep",
)
SOURCE_INSTALL = "python -m pip install .\n"
CODEOWNERS_PATH = ".github/CODEOWNERS"
CODEOWNERS_TEXT = """\
# Who must review a pull request that touches each path (GitHub, GitLab and Gitea read this
# file). Turn on branch protection's "Require review from Code Owners" for main, and replace
# the @your-org teams with yours. The last pattern that matches a path wins.
# docs/security.md explains what each of these protects.

# Intents: requesters open pull requests here; approvers review and merge them.
/policies/intents/            @your-org/rollout-approvers

# The reconciler's own files: only its commits change them. A human change to them is a
# hand edit, which `reconcile verify` reports and which holds expand and resume
# (audit_drift) until it is reverted or adopted.
/policies/registry.yaml       @your-org/rollout-admins
/policies/state/              @your-org/rollout-admins
/policies/telemetry/          @your-org/rollout-admins
/policies/intents/applied/    @your-org/rollout-admins
/policies/intents/rejected/   @your-org/rollout-admins

# Who may change the rollout: the allowed-signers file and the access policy (trust:), the
# settings (trust, guards, signing) and the freeze windows.
/policies/access/             @your-org/rollout-admins
/reconciler.yaml              @your-org/rollout-admins
/policies/freeze.yaml         @your-org/rollout-admins

# The promotion decision: written by the gates job (a decisionSigners principal).
/policies/promotion/          @your-org/gates-owners

# This file itself.
/.github/CODEOWNERS           @your-org/rollout-admins
"""

SETTINGS_TEXT = """\
# Settings for `reconcile` in this repository. Unknown keys are refused, so a typo never
# silently falls back to a default. Durations: 30s, 10m, 24h.

# expand/resume are refused when the promotion decision is older than this.
maxDecisionAge: 24h
# How long a run waits for another one to release the policy folder's lock.
lockTimeout: 30s
# The telemetry file starts a new segment when it passes this many bytes.
telemetryRotateBytes: 262144

# Author of the commits `reconcile --once` and `reconcile dispatch` make.
botName: rollout-reconciler
botEmail: reconciler@localhost
# Where those commits are pushed (.github/workflows/reconcile.yml triggers on main too).
remote: origin
branch: main
# How many times a push that lost the race to another reconciler is retried (1 to 50).
pushAttempts: 5

# Progression guards (docs/guards.md): how fast the rollout may move, from the records in
# git. A guard never holds a rollback. An expand or resume a guard holds is deferred: no
# commit, the file stays pending, and `reconcile status` says what clears it and when.
guards:
  # expand/resume need a promotion decision generated after the last applied change.
  decisionAfterChange: true
  # Minimum time between two applied expands (0 turns it off).
  expandCooldown: 1h
  # A rolling window over the applied records: at most maxExpands expands that raised the
  # canary, and at most maxExpandPercent of canary increase in total, per window.
  budget:
    window: 24h
    maxExpands: 2
    maxExpandPercent: 50
  # A larger expandStep is rejected, never clamped.
  maxExpandStep: 25
  # A deferred intent whose file was added longer ago than this is rejected.
  maxDeferral: 7d
  # Freeze windows (add one with `reconcile freeze new`); a missing file means none.
  freezeFile: policies/freeze.yaml

# Trust (docs/security.md): who may change the rollout, proven by SSH commit signatures.
# Uncomment once policies/access/ holds an allowed-signers file (git's format) and a policy.
# trust:
#   allowedSigners: policies/access/allowed_signers
#   requireSignedIntents: true     # the commit that wrote each intent is signed
#   bindActorToSigner: true        # governance.actor is that signer's principal
#   decisionSigners: [gates-bot]   # who may change the promotion decision
#   botSigners: [rollout-reconciler]
#   access: policies/access/policy.yaml

# Paths, relative to this file; the built-in defaults are shown.
# registryFile: policies/registry.yaml
# promotionStateFile: policies/promotion/decision.json
# applyStateFile: policies/state/promotion-apply-state.json
# applyTelemetryFile: policies/telemetry/promotion-apply.jsonl
# intentsDir: policies/intents
"""


class TemplateDirs(NamedTuple):
    """Where the example policies/ folder and the workflow files are read from."""

    policies: str
    workflows: str


def find_templates() -> TemplateDirs:
    """Return the bundled example: `reconciler/_example/` in a wheel, else the source checkout."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bundled = os.path.join(package, "_example")
    if files.is_dir(bundled):
        return TemplateDirs(os.path.join(bundled, "policies"), os.path.join(bundled, "workflows"))
    checkout = os.path.dirname(package)
    return TemplateDirs(
        os.path.join(checkout, "policies"), os.path.join(checkout, ".github", "workflows")
    )


def resolve_install(given: str | None) -> str:
    """The SPEC the workflows install: `given` (checked), else this reconciler's origin.

    Raises:
        RefusalError: `given` is not a safe SPEC (`install_spec_invalid`), or none was given
            and this reconciler runs from somewhere a CI runner cannot install from, such as
            a source checkout (`install_spec_unknown`).
    """
    if given is not None:
        return install_spec.check_install_spec(given)
    origin = distribution.installed_origin(install_spec.PACKAGE)
    found = (
        install_spec.default_install_spec(__version__, origin.direct_url)
        if origin.installed
        else None
    )
    if found is None:
        raise install_spec.unknown_install_error(__version__, origin.location)
    return found


def release_workflow(text: str, name: str, install: str) -> str:
    """Turn this project's workflow text into a scaffolded one: `pip install <install>`.

    Raises:
        ValueError: the text does not hold the source install line exactly once, or the
            result does not read back with that one install step.
    """
    if text.count(SOURCE_INSTALL) != 1:
        raise ValueError(f"workflow {name} must contain {SOURCE_INSTALL.strip()!r} exactly once")
    line = f"python -m pip install {install_spec.check_install_spec(install)}"
    result = text.replace(SOURCE_INSTALL, line + "\n")
    # Belt and braces: the SPEC must not change the YAML around it (it cannot, by its
    # characters); the one install step must read back as exactly this line.
    installs = [run for run in _step_scripts(yamltext.load_yaml(result)) if "pip install" in run]
    if installs != [line]:
        raise ValueError(f"workflow {name} does not read back with {line!r}")
    return result


def _step_scripts(doc: object) -> list[str]:
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    found: list[str] = []
    for job in jobs.values() if isinstance(jobs, dict) else ():
        steps = job.get("steps") if isinstance(job, dict) else None
        for step in steps if isinstance(steps, list) else ():
            run = step.get("run") if isinstance(step, dict) else None
            found.extend([run] if isinstance(run, str) else [])
    return found


def scaffold_files(
    templates: TemplateDirs | None = None, *, install: str, fleets: Sequence[str] = ()
) -> dict[str, bytes]:
    """Return every file `reconcile init` creates: repo-relative path -> content.

    With `fleets` (checked ids, in promotion order), each fleet's policy files go under
    `policies/fleets/<id>/` and none under `policies/` itself (`init_fleets`).

    Raises:
        RefusalError: a template file is missing or unreadable (a broken installation).
    """
    dirs = templates or find_templates()
    policy_files = {
        name: _read_template(os.path.join(dirs.policies, name)) for name in POLICY_FILES
    }
    if fleets:
        result = {"reconciler.yaml": settings_text(SETTINGS_TEXT, fleets).encode()}
        for fleet_id in fleets:
            result.update(fleet_files(fleet_id, policy_files))
        result[CODEOWNERS_PATH] = codeowners_text(fleets).encode()
    else:
        result = {"reconciler.yaml": SETTINGS_TEXT.encode()}
        result.update({f"policies/{name}": data for name, data in policy_files.items()})
        result.update(dict.fromkeys(EMPTY_FILES, b""))
        result[CODEOWNERS_PATH] = CODEOWNERS_TEXT.encode()
    for name in WORKFLOWS:
        path = os.path.join(dirs.workflows, name)
        text = release_workflow(
            files.decode_utf8(_read_template(path), path, what="template"), name, install
        )
        if fleets:
            text = fleet_workflow(text, name, fleets)
        result[f".github/workflows/{name}"] = text.encode()
    return result


def existing_paths(root: str, relative_paths: list[str]) -> list[str]:
    """Return the repo-relative paths already taken: a target, or a non-folder above one."""
    found: list[str] = []
    for rel in relative_paths:
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            target = os.path.join(root, *parts[:depth])
            if not files.exists(target):
                break
            if depth == len(parts) or not files.is_dir(target):
                prefix = "/".join(parts[:depth])
                if prefix not in found:
                    found.append(prefix)
                break
    return found


def scaffold_repo(
    path: str,
    contents: Mapping[str, bytes] | None = None,
    *,
    install: str | None = None,
    fleets: Sequence[str] = (),
) -> list[str]:
    """Create the scaffold in `path` (created when missing); return the repo-relative paths.

    `contents` (repo-relative path -> bytes) defaults to `scaffold_files()` with the SPEC
    `resolve_install(install)` and `fleets`. Nothing is written when any target already exists.

    Raises:
        RefusalError: `path` is not a folder, a target exists, or a write failed (the files
            this call created are removed again).
    """
    root = os.path.abspath(path)
    if files.exists(root) and not files.is_dir(root):
        raise RefusalError(ReasonCode.FILE_ERROR, f"not a folder: {root}", path=root)
    planned = (
        scaffold_files(install=resolve_install(install), fleets=fleets)
        if contents is None
        else contents
    )
    clashes = existing_paths(root, list(planned))
    if clashes:
        raise RefusalError(
            EXISTS_REASON,
            f"refusing to scaffold into {root}: {len(clashes)} path(s) already exist "
            "(nothing was written; move them away or scaffold elsewhere)",
            details=clashes,
            path=root,
        )
    created: list[str] = []
    try:
        for rel, data in planned.items():
            _create_new(os.path.join(root, *rel.split("/")), data)
            created.append(rel)
    except RefusalError:
        for rel in created:
            files.remove(os.path.join(root, *rel.split("/")))
        raise
    return created


def _read_template(path: str) -> bytes:
    data = files.read_bounded(path, TEMPLATE_LIMIT, what="template", follow_symlinks=True)
    if data is None:
        raise RefusalError(
            ReasonCode.FILE_ERROR,
            f"template missing: {path} (reinstall rollout-reconciler)",
            path=path,
        )
    return data


def _create_new(path: str, data: bytes) -> None:
    """Create a file that must not exist yet; O_EXCL keeps one that appeared meanwhile."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        # EEXIST also covers a file standing where a parent folder must be.
        reason = EXISTS_REASON if exc.errno == errno.EEXIST else ReasonCode.FILE_ERROR
        raise RefusalError(reason, f"cannot create {path}: {exc.strerror}", path=path) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        files.remove(path)
        raise RefusalError(
            ReasonCode.FILE_ERROR, f"cannot write {path}: {exc.strerror}", path=path
        ) from exc
