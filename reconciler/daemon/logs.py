"""One line per event on stderr: human-readable by default, JSON lines with --log-format json."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime

from reconciler.core.timestamps import format_timestamp


class EventLog:
    """Writes events (timestamp, level, event, and fields such as intent, commit, traceId)."""

    def __init__(self, fmt: str, clock: Callable[[], datetime]) -> None:
        self.json = fmt == "json"
        self.clock = clock
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: object) -> None:
        """Write one event line."""
        moment = format_timestamp(self.clock())
        present = {key: value for key, value in fields.items() if value is not None}
        if self.json:
            line = json.dumps(
                {"timestamp": moment, "level": level, "event": event, **present},
                ensure_ascii=False,
                default=str,
            )
        else:
            parts = " ".join(f"{key}={_text(value)}" for key, value in present.items())
            line = f"{moment} {level:<5} {event}" + (f" {parts}" if parts else "")
        with self._lock, contextlib.suppress(OSError, ValueError):
            # A closed or broken stderr (a log shipper restarting) must not end the daemon.
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


class Throttle:
    """At most one event per key per `window` seconds; counts the ones dropped meanwhile."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[Hashable, tuple[float, int]] = {}  # key -> (last logged, dropped since)

    def admit(self, key: Hashable) -> int | None:
        """None to drop this event; else how many of its key were dropped since the last one."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self.window:
                self._last[key] = (last[0], last[1] + 1)
                return None
            self._last[key] = (now, 0)
            return last[1] if last else 0


def _text(value: object) -> str:
    text = str(value)
    # Quoted (JSON escapes) whenever it could be misread: a name with a newline must never
    # forge a second log line.
    plain = text and text.isprintable() and " " not in text and "=" not in text and '"' not in text
    return text if plain else json.dumps(text)
