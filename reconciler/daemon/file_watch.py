"""What the controller's file watch looks at, and which changes ask for a pass.

Every fleet's intents folder, registry and decision, and reconciler.yaml (it may add a fleet
anywhere); with several fleets, every folder of `policies/fleets/` (a fleet added or
removed while the controller runs). The watching itself is `adapters/watching.py`'s.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from reconciler.adapters import watching
from reconciler.core.errors import ReconcileError
from reconciler.core.fleet_settings import FLEETS_ROOT
from reconciler.daemon.logs import EventLog
from reconciler.inputs import fleet_layouts, layouts
from reconciler.loop import checkout as checkouts
from reconciler.loop.config import LoopConfig, load_configs


class WatchOptions(Protocol):
    """The controller's flags this needs (`DaemonOptions` has them)."""

    @property
    def repo(self) -> str:
        """`--repo`."""

    @property
    def fleets(self) -> Sequence[str]:
        """`--fleet` (empty: every fleet)."""


class FileWatch:
    """The file watch of one controller: its targets, read again when the layout changes."""

    def __init__(
        self,
        options: WatchOptions,
        configs: Sequence[LoopConfig],
        log: EventLog,
        fire: Callable[[], None],
    ) -> None:
        """`configs`: the fleets at start; `fire` asks for a pass (reason `watch`)."""
        self.options = options
        self.configs = list(configs)
        self.config = self.configs[0]
        self.log = log
        self.fire = fire

    def start(self, *, debounce_ms: int, stop: threading.Event) -> threading.Thread:
        """Watch in a thread of its own until `stop` is set."""
        return watching.watch_in_thread(
            self.targets,
            debounce_ms=debounce_ms,
            stop=stop,
            on_change=self.on_change,
            roots=[self.fleets_root] if self.fleets_root else [],
            reshaping=[self.settings_file],
        )

    @property
    def fleets_root(self) -> str | None:
        """`policies/fleets/` of a repository with several fleets (None: one fleet)."""
        if not self.config.layout.is_multi_fleet:
            return None
        return os.path.join(self.config.layout.repo, *FLEETS_ROOT.split("/"))

    @property
    def settings_file(self) -> str:
        """reconciler.yaml: it may add a fleet anywhere (`fleets.<id>.root`), watched then."""
        return os.path.join(self.config.layout.repo, layouts.SETTINGS_FILE)

    def targets(self) -> watching.Targets:
        """Every fleet's intents folder, registry and decision, read again (a fleet added).

        Fleets that cannot be resolved now (an invalid `fleets:` mid-edit) keep the last
        ones (logged `watch.fleets`). Every folder of `policies/fleets/` has its `intents/`
        watched whatever the settings say, so an intent dropped into a fleet added then still
        wakes a pass (which refuses with the reason, or reconciles it once fixed).
        """
        try:
            self.configs = load_configs(
                self.options.repo, fleets=self.options.fleets, keep_refused=True
            )
        except Exception as exc:  # noqa: BLE001 - the watcher thread must not die of it
            self.log("watch.fleets", "warn", error=f"{type(exc).__name__}: {exc}")
        folders = [config.fleet.intents for config in self.configs]
        if self.fleets_root is not None and not self.options.fleets:
            found, _ = fleet_layouts.fleet_folders(self.config.layout.repo)
            folders += [os.path.join(self.fleets_root, fleet, "intents") for fleet in found]
        return sorted(set(folders)), sorted(self._owned_files())

    def on_change(self, paths: set[str]) -> None:
        """Ask for a pass, unless only the registry or decision changed, to what HEAD holds.

        Every pass that commits rewrites the registry in the checkout (and a sync may rewrite
        both): waking up for that would follow each such pass with an empty one.
        """
        if not paths or any(os.path.dirname(path) == self.fleets_root for path in paths):
            # The watch was down a while (what changed went unseen), or a fleet came or went.
            self.fire()
            return
        owned = self._owned_files()
        # An intent that is gone already was consumed by the pass that saw it (a fast-forward
        # writes intent files the same pass then takes): no pass is needed for it.
        present = {path for path in paths if path in owned or os.path.lexists(path)}
        if not present:
            return
        if present <= owned and self._all_committed(present):
            return
        self.fire()

    def _owned_files(self) -> set[str]:
        """Every fleet's registry and decision (absolute)."""
        found = ((c.fleet.registry, c.fleet.decision) for c in self.configs)
        return {os.path.abspath(path) for pair in found for path in pair}

    def _all_committed(self, paths: set[str]) -> bool:
        """Whether every file holds exactly what HEAD has for it (False when unsure)."""
        try:
            checkout = checkouts.open_checkout(self.config.layout.repo)
            for path in paths:
                out = checkout.git.text("ls-tree", checkout.head, "--", checkout.relative(path))
                fields = out.split()
                if len(fields) < 3 or fields[2] != checkouts.file_identity(path):
                    return False
        except ReconcileError:
            return False
        return True
