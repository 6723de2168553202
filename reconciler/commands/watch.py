"""`reconcile --watch` (and `reconcile` alone): run the controller until SIGTERM/SIGINT."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from reconciler.commands.common import handle_errors


def _seconds(flag: str, value: str) -> float:
    from reconciler.service import parse_duration_option

    span = parse_duration_option(flag, value)
    assert span is not None
    return span.total_seconds()


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:9464", param_hint="--listen")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":9464" asks for every address


def _token(path: str | None) -> str | None:
    if path:
        from reconciler.adapters import files

        data = files.read_bounded(path, 64 * 1024, what="webhook token file", follow_symlinks=True)
        if data is None:
            raise click.BadParameter(f"no such file: {path}", param_hint="--webhook-token-file")
        token = data.decode("utf-8", "replace").strip()
        if not token:
            raise click.BadParameter(
                f"{path} is empty: refusing to run the webhook without its secret",
                param_hint="--webhook-token-file",
            )
        return token
    return os.environ.get("RECONCILER_WEBHOOK_TOKEN") or None


@handle_errors
def run_watch_command(flags: dict[str, Any]) -> None:
    """Build the daemon's options from the group's flags and run it; exit with its code."""
    from reconciler.adapters.clock import system_clock
    from reconciler.daemon.runner import Daemon, DaemonOptions

    host, port = _listen(flags["listen"])
    options = DaemonOptions(
        repo=flags["repo"],
        push=flags["push"],
        remote=flags["remote"],
        branch=flags["branch"],
        interval=_seconds("--interval", flags["interval"]),
        resync=_seconds("--resync", flags["resync"]),
        debounce=_seconds("--debounce", flags["debounce"]),
        host=host,
        port=port,
        token=_token(flags["webhook_token_file"]),
        shutdown_timeout=_seconds("--shutdown-timeout", flags["shutdown_timeout"]),
        log_format=flags["log_format"],
        lock_timeout=flags["lock_timeout"],
    )
    try:
        daemon = Daemon(options, now=system_clock)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sys.exit(daemon.run())
