"""Every `reconcile <command> --help`: click's \\b marker works, examples keep their lines.

click keeps a paragraph unwrapped only when it starts with the real backspace character
(\\x08); a raw docstring (r\"\"\"...\"\"\") holds a backslash and a `b` instead, which click
prints as is, and rewraps the examples into one run-on paragraph.
"""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from reconciler.cli import cli


def all_commands() -> list[tuple[str, ...]]:
    """Every command path below `reconcile` (groups included), e.g. ("intent", "new")."""
    found: list[tuple[str, ...]] = [()]
    pending: list[tuple[tuple[str, ...], click.Command]] = [((), cli)]
    while pending:
        path, command = pending.pop()
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, name
                found.append((*path, name))
                pending.append(((*path, name), sub))
    return sorted(found)


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        sub = command.get_command(click.Context(command), name)
        assert sub is not None
        command = sub
    return command


def example_lines(help_text: str) -> list[str]:
    """The lines of the docstring's Examples block, as they must be printed."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    block = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        block.append(line.strip())
    return block


COMMANDS = all_commands()


def test_every_command_is_checked() -> None:
    # The listing itself must find the lazy commands and the `intent new` subcommand.
    names = {" ".join(path) for path in COMMANDS}
    assert {"", "apply", "validate", "schema", "status", "plan", "dispatch", "demo"} <= names
    assert {"repair-index", "history", "init", "intent", "intent new"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "reconcile" for p in COMMANDS])
def test_help_has_no_literal_backslash_b_and_examples_on_their_own_lines(
    path: tuple[str, ...],
) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "\\b" not in result.output
    assert "\b" not in result.output  # click strips the marker it understands
    help_text = command_at(path).help or ""
    assert "\\b" not in help_text
    if "Examples:" not in help_text:
        return
    printed = [line.strip() for line in result.output.splitlines()]
    assert "Examples:" in printed
    # The marker must open the Examples paragraph, or click rewraps it.
    assert "\b\n" in help_text.split("Examples:")[0][-12:]
    examples = example_lines(help_text)
    assert examples
    for line in examples:
        assert line in printed, (line, result.output)
