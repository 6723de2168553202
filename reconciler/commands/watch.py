"""`reconcile --watch` (and `reconcile` alone): run the controller until SIGTERM/SIGINT."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from reconciler.commands.edge import handle_errors

BOUNDS = {
    "--interval": (1.0, 7 * 86400.0),
    "--resync": (1.0, 7 * 86400.0),
    "--debounce": (0.01, 60.0),
    "--shutdown-timeout": (1.0, 86400.0),
}
"""Sane ranges: a zero period would spin, a huge one overflow the timers."""


def _seconds(flag: str, value: str) -> float:
    from reconciler.inputs.documents import parse_duration_option

    span = parse_duration_option(flag, value)
    assert span is not None
    seconds = span.total_seconds()
    low, high = BOUNDS[flag]
    if not low <= seconds <= high:
        raise click.BadParameter(f"{value} is outside {low:g}s..{high:g}s", param_hint=flag)
    return seconds


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:9464", param_hint="--listen")
    if not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"port {port} is outside 0..65535", param_hint="--listen")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":9464" asks for every address


def _token(path: str | None) -> str | None:
    if path:
        from reconciler.adapters import files

        data = files.read_bounded(path, 64 * 1024, what="webhook token file", follow_symlinks=True)
        if data is None:
            raise click.BadParameter(f"no such file: {path}", param_hint="--webhook-token-file")
        return _checked_token(data.decode("utf-8", "replace"), "--webhook-token-file")
    value = os.environ.get("RECONCILER_WEBHOOK_TOKEN")
    return None if value is None else _checked_token(value, "RECONCILER_WEBHOOK_TOKEN")


def _checked_token(raw: str, source: str) -> str:
    """Strip the token (a secret's trailing newline); refuse it empty or not printable ASCII.

    HTTP header values arrive as latin-1: a non-ASCII token could never match.
    """
    token = raw.strip()
    if not token or not token.isascii() or not token.isprintable():
        raise click.BadParameter(
            "the webhook token must be non-empty printable ASCII", param_hint=source
        )
    return token


def _secret(path: str | None) -> str | None:
    """The forge hooks' secret: the file (read once), else $RECONCILER_WEBHOOK_SECRET.

    One trailing newline is stripped (`echo` adds one); nothing else is, the secret being
    bytes the forge signs with.

    Raises:
        RefusalError: the file is missing, unreadable or not UTF-8, or the secret is empty.
    """
    from reconciler.core.errors import ReconcileError, RefusalError
    from reconciler.core.reasons import ReasonCode

    unreadable = ReasonCode.WEBHOOK_SECRET_UNREADABLE
    if path:
        from reconciler.adapters import files

        source = f"--webhook-secret-file {path}"
        try:
            data = files.read_bounded(path, 64 * 1024, what="webhook secret", follow_symlinks=True)
            raw = None if data is None else data.decode("utf-8")
        except ReconcileError as exc:
            raise RefusalError(unreadable, f"cannot read {source}: {exc.message}") from exc
        except UnicodeDecodeError:
            raise RefusalError(unreadable, f"{source} is not UTF-8 text") from None
        if raw is None:
            raise RefusalError(unreadable, f"{source}: no such file; check the path or mount")
    else:
        source = "RECONCILER_WEBHOOK_SECRET"
        raw = os.environ.get(source)
        if raw is None:
            return None
    secret = raw.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise RefusalError(
            ReasonCode.WEBHOOK_SECRET_EMPTY,
            f"{source} is empty; put the forge's webhook secret in it (never taken as no check)",
        )
    return secret


@handle_errors
def run_watch_command(flags: dict[str, Any]) -> None:
    """Build the daemon's options from the group's flags and run it; exit with its code."""
    from reconciler.adapters.clock import system_clock
    from reconciler.daemon.http import PageAssets
    from reconciler.daemon.runner import Daemon, DaemonOptions
    from reconciler.render import status_page

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
        webhook_secret=_secret(flags["webhook_secret_file"]),
        webhook_max_body=flags["webhook_max_body"],
        shutdown_timeout=_seconds("--shutdown-timeout", flags["shutdown_timeout"]),
        log_format=flags["log_format"],
        lock_timeout=flags["lock_timeout"],
        fleets=tuple(flags.get("fleet") or ()),
    )
    try:
        page = PageAssets(
            lambda doc: status_page.page_html(doc, live=True),
            status_page.page_script(),
            status_page.CONTENT_SECURITY_POLICY,
        )
        daemon = Daemon(options, now=system_clock, page=page)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sys.exit(daemon.run())
