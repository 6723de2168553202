"""What every command shares: exit codes, the error handler, path flags, trace ids."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from reconciler.inputs.fleet import PathFlags

from reconciler import __version__

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_REFUSED, EXIT_REJECTED, EXIT_UNEXPECTED, EXIT_INTERRUPTED = 0, 1, 3, 70, 130
EXIT_RETRYABLE = 75
"""EX_TEMPFAIL (sysexits.h): a transient failure (lock busy, remote unreachable, every push
attempt lost); nothing half-done, the same command may succeed later. CI retries on it."""


def new_trace_id() -> str:
    """Return a new random UUID (version 4) as text."""
    # uuid4 by hand: `import uuid` alone costs ~10 ms of start-up on the 2-core machine.
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _save_traceback() -> str:
    import platform
    import subprocess
    import tempfile
    import traceback

    try:
        git = subprocess.run(
            ["git", "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except OSError:
        git = "git not found"
    fd, path = tempfile.mkstemp(prefix="reconciler-crash-", suffix=".log")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"rollout-reconciler {__version__}; Python {platform.python_version()}; ")
        handle.write(f"{git}\n\n{traceback.format_exc()}")
    return path


def handle_errors(command: F) -> F:
    """Map every failure of a command to one message and an exit code (pre-commit style).

    A `RetryableError` exits 75 (retry later), any other `ReconcileError` 1 (fix the input).
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from reconciler.core.errors import ReconcileError, RetryableError
        from reconciler.render.diagnostics import error_text

        try:
            return command(*args, **kwargs)
        except RetryableError as exc:
            sys.stderr.write(error_text(exc))
            sys.exit(EXIT_RETRYABLE)
        except ReconcileError as exc:
            sys.stderr.write(error_text(exc))
            sys.exit(EXIT_REFUSED)
        except KeyboardInterrupt:
            sys.stderr.write("error: interrupted\n")
            sys.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the one edge that turns crashes into a line
            log = _save_traceback()
            sys.stderr.write(
                f"error: unexpected {type(exc).__name__}: {exc} (traceback and versions in {log};"
                " please report it)\n"
            )
            sys.exit(EXIT_UNEXPECTED)

    return wrapper  # type: ignore[return-value]


def path_options(command: F) -> F:
    """The file-path flags every command shares."""
    for flag, help_text in reversed(
        [
            ("--registry-file", "Fleet registry (JSON or YAML by extension)."),
            ("--promotion-state-file", "Promotion decision JSON."),
        ]
    ):
        command = click.option(flag, metavar="PATH", help=help_text)(command)
    return command


def fleet_option(command: F) -> F:
    """`--fleet ID` of a command that writes: the one fleet it writes to."""
    return click.option(
        "--fleet",
        metavar="ID",
        help="The fleet to write to (required in a repository with several fleets).",
    )(command)


def fleets_option(help_text: str) -> Callable[[F], F]:
    """`--fleet ID` of a command that reads, repeatable: the fleets it shows (as `fleets`)."""
    return click.option("--fleet", "fleets", metavar="ID", multiple=True, help=help_text)


def path_flags(flags: dict[str, Any]) -> PathFlags:
    """The path flags a command was given (None: not given)."""
    from reconciler.inputs.fleet import PathFlags

    return PathFlags(
        registry=flags.get("registry_file"),
        decision=flags.get("promotion_state_file"),
        state=flags.get("apply_state_file"),
        telemetry=flags.get("apply_telemetry_file"),
    )
