"""The loop's settings: layout paths, the intents folder, bot identity, remote, limits.

Flags beat `reconciler.yaml`, which beats the defaults; every default is written down here
and in docs/gitops.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from reconciler.adapters import files
from reconciler.adapters.gitrepo import Identity
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.signing_settings import ENV_KEY_FILE, SigningSettings, effective_signing
from reconciler.inputs import layouts
from reconciler.inputs.confinement import relative_to_repo
from reconciler.inputs.documents import parse_duration_option
from reconciler.inputs.fleet import Fleet
from reconciler.inputs.layouts import DEFAULT_LOCK_TIMEOUT, Layout
from reconciler.loop.paths import LoopPaths
from reconciler.loop.symlinks import refuse_symlinks
from reconciler.telemetry import index as telemetry_index
from reconciler.telemetry import ledger

if TYPE_CHECKING:
    from reconciler.core.ssh_signatures import SigningKey
    from reconciler.loop.checkout import Checkout

DEFAULT_MAX_DECISION_AGE = "24h"
DEFAULT_BOT = Identity("rollout-reconciler", "reconciler@localhost")
DEFAULT_REMOTE = "origin"
DEFAULT_PUSH_ATTEMPTS = 5


class LoopConfig(NamedTuple):
    """Everything a pass needs to know besides the checkout's state."""

    layout: Layout
    rotate_bytes: int
    identity: Identity
    remote: str
    branch: str | None
    push_attempts: int
    max_age: timedelta
    max_age_text: str
    lock_timeout: timedelta
    signing: SigningSettings | None = None
    """The key that signs every commit of the loop (None: unsigned); see `load_signer`."""

    @property
    def fleet(self) -> Fleet:
        """The fleet the loop reconciles (absolute paths)."""
        return self.layout.fleet

    def relative_paths(self, checkout: Checkout, *, on_disk: bool = True) -> LoopPaths:
        """Return the loop's files relative to the checkout's top folder, checked on disk.

        Each is the repository's own relative path (never resolved through a symlink inside
        the repository, which would hide it) below the repository's place in the worktree.
        `on_disk` False: for a reader of git's objects only (the audit), which never opens
        them, their components are not checked for symlinks.

        Raises:
            RefusalError: one of them is outside the worktree, or one of their components
                is a symlink on disk (`path_symlink`); the layout's `refused`.
        """
        if self.layout.refused is not None:
            raise self.layout.refused
        relative = self._relative(checkout)
        fleet = self.fleet
        paths = LoopPaths(
            registry=relative(fleet.registry),
            decision=relative(fleet.decision),
            state=relative(fleet.state),
            telemetry=relative(fleet.telemetry),
            index_file=relative(telemetry_index.index_path(fleet.state)),
            segments=relative(telemetry_index.sealed_index_path(fleet.state)),
            intents=relative(fleet.intents),
            settings=relative(os.path.join(self.layout.repo, layouts.SETTINGS_FILE)),
        )
        _check_intents_folder(paths)
        if on_disk:
            refuse_symlinks(checkout.top, paths)
        return paths

    def relative_intents(self, checkout: Checkout) -> str:
        """The intents folder relative to the checkout's top, not checked on disk.

        Raises:
            RefusalError: it is outside the worktree.
        """
        return self._relative(checkout)(self.fleet.intents)

    def _relative(self, checkout: Checkout) -> Callable[[str], str]:
        repo = self.layout.repo
        # Where the repository is in the worktree (`--repo` may be a symlink or a subfolder).
        prefix = os.path.relpath(os.path.realpath(repo), checkout.top)

        def relative(path: str) -> str:
            inner = relative_to_repo(repo, path)
            if _escapes(prefix) or _escapes(inner):
                return checkout.relative(path)  # refuses it: outside the worktree
            if prefix == os.curdir:
                return inner.replace(os.sep, "/")
            return os.path.normpath(os.path.join(prefix, inner)).replace(os.sep, "/")

        return relative

    def lock_folders(self) -> Sequence[str]:
        """The folders whose flocks make up the repository lock (shared with `apply`).

        A registry folder that does not exist (a fleet `fleets:` names before its folder is
        made) is not locked, as `apply` does: it would refuse every fleet's pass.
        """
        registry_folder = os.path.dirname(self.fleet.registry)
        others = [self.fleet.state, self.fleet.telemetry]
        found = [files.lockable_folder(path) for path in others]
        return [registry_folder, *found] if files.is_dir(registry_folder) else found

    def branch_for(self, checkout: Checkout) -> str:
        """The remote branch to sync with: --branch, `branch` setting, else the current one.

        Raises:
            RefusalError: HEAD is detached and no branch is configured.
        """
        branch = self.branch or checkout.branch
        if not branch:
            raise RefusalError(
                ReasonCode.GIT_DETACHED_HEAD,
                "HEAD is detached and no branch is set; pass --branch or set `branch` in "
                f"{layouts.SETTINGS_FILE}",
            )
        return branch


def load_signer(config: LoopConfig, checkout: Checkout) -> SigningKey | None:
    """The configured signing key, loaded (None: commits are unsigned).

    Called before a pass's first commit, so a pass with nothing to commit never reads it.

    Raises:
        RefusalError: the key is unusable or inside the worktree (nothing is committed).
    """
    if config.signing is None:
        return None
    from reconciler.adapters import signing_keys

    source = config.signing.source
    return signing_keys.load_signing_key(config.signing.key, source=source, repository=checkout.top)


def _check_intents_folder(paths: LoopPaths) -> None:
    """Refuse an intents folder that would make other files look like intents.

    Raises:
        RefusalError: `layout_paths_collide`.
    """
    intents = paths.intents
    others = [paths.registry, paths.decision, paths.state, paths.telemetry, paths.settings]
    inside = [
        other
        for other in others
        if other.rpartition("/")[0] == intents or other.startswith(intents + "/")
    ]
    parts = intents.split("/")
    if intents in ("", ".") or ".git" in parts or ".." in parts or inside:
        raise RefusalError(
            ReasonCode.LAYOUT_PATHS_COLLIDE,
            f"intentsDir {intents!r} must be a folder of its own inside the repository, not "
            f"the repository's top, a .git folder or one holding {', '.join(inside) or 'it'}",
        )


def _escapes(relative: str) -> bool:
    return relative == os.pardir or relative.startswith(os.pardir + os.sep)


def load_config(repo: str | None, *, fleet: str | None = None, command: str = "") -> LoopConfig:
    """Resolve the layout and the loop settings of `repo` (those of reconciler.yaml).

    `fleet` chooses one fleet of several (see `layouts.resolve_layout`). The flags' settings
    (`--remote`, `--branch`, `--lock-timeout`) come through `load_configs`.

    Raises:
        RefusalError: bad settings; `fleet_required`, `fleet_unknown`.
    """
    layout = layouts.resolve_layout(layouts.resolve_repo(repo), fleet=fleet, command=command)
    return config_for(layout)


def load_configs(
    repo: str | None,
    *,
    remote: str | None = None,
    branch: str | None = None,
    lock_timeout: str | None = None,
    fleets: Sequence[str] = (),
    keep_refused: bool = False,
) -> list[LoopConfig]:
    """The loop settings of every fleet of `repo` (those `fleets` names), upstream first.

    `keep_refused`: see `layouts.resolve_layouts` (`relative_paths` raises its refusal).

    Raises:
        RefusalError: bad settings or flags; `fleets_invalid`, `fleet_unknown`.
    """
    found = layouts.resolve_layouts(layouts.resolve_repo(repo), fleets, keep_refused=keep_refused)
    return [
        config_for(layout, remote=remote, branch=branch, lock_timeout=lock_timeout)
        for layout in found
    ]


def config_for(
    layout: Layout,
    *,
    remote: str | None = None,
    branch: str | None = None,
    lock_timeout: str | None = None,
) -> LoopConfig:
    """The loop settings of one resolved layout.

    Raises:
        RefusalError: bad settings or flags.
    """
    strings, integers = layout.settings.strings, layout.settings.integers
    age_text = layout.settings.max_decision_age or DEFAULT_MAX_DECISION_AGE
    max_age = parse_duration_option("maxDecisionAge", age_text)
    lock_text = lock_timeout or layout.settings.lock_timeout or DEFAULT_LOCK_TIMEOUT
    lock_wait = parse_duration_option("--lock-timeout", lock_text)
    assert max_age is not None and lock_wait is not None
    _check_ref_name("--remote", remote)
    _check_ref_name("--branch", branch)
    _check_ref_name("remote (reconciler.yaml)", strings.get("remote"))
    _check_ref_name("branch (reconciler.yaml)", strings.get("branch"))
    return LoopConfig(
        layout=layout,
        rotate_bytes=integers.get("telemetryRotateBytes", ledger.DEFAULT_ROTATE_BYTES),
        identity=Identity(
            strings.get("botName", DEFAULT_BOT.name), strings.get("botEmail", DEFAULT_BOT.email)
        ),
        remote=remote or strings.get("remote", DEFAULT_REMOTE),
        branch=branch or strings.get("branch"),
        push_attempts=integers.get("pushAttempts", DEFAULT_PUSH_ATTEMPTS),
        max_age=max_age,
        max_age_text=age_text,
        lock_timeout=lock_wait,
        signing=effective_signing(layout.settings.signing, os.environ.get(ENV_KEY_FILE)),
    )


def _check_ref_name(flag: str, value: str | None) -> None:
    if value is not None and (
        not value
        or value.startswith(("-", "/"))
        or ".." in value
        or any(c in value for c in " \t\n:~^?*[\\")
    ):
        raise RefusalError(ReasonCode.SETTINGS_INVALID, f"{flag} is not a valid name: {value!r}")
