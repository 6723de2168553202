"""One rule added to the core's rules is enforced by every path at once.

A rule is inserted into `core.rules.RULES` (it refuses expand with a reason no real rule has),
and each path that decides an intent is run in-process (CliRunner) on a real git repository:
`apply`, `--once`, `plan`, `status` and `dispatch --mode dry_run`. Each must report the
refusal in its own way; without the rule, the same setup is applied by every path (the
control), so the refusal can only come from the inserted rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.core import rules
from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from tests.support import gitrepos as g


class _NewReason(StrEnum):
    CANARY_GUARD = "test_canary_guard"


NEW_REASON = cast(ReasonCode, _NewReason.CANARY_GUARD)
"""A reason code no rule of the product raises."""
NEW_MESSAGE = "expand refused by the canary guard added in this test"
GOVERNANCE = [
    "--by", "alice", "--approval-ref", "CAB-123", "--rationale", "gates green",
    "--review-by", g.REVIEW_BY,
]  # fmt: skip
INTENT = "20-expand.yaml"

Verdict = tuple[int, str, list[str], list[str]]
"""Exit code, status (applied, rejected), reason codes, problems or error lines."""


def guard(evaluation: rules.Evaluation) -> None:
    """The new rule: refuse every expand."""
    if evaluation.intent == "expand":
        raise RefusalError(NEW_REASON, NEW_MESSAGE)


def invoke(*argv: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(argv), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def intent_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    (row,) = [row for row in rows if row.get("intentFile", "").endswith(INTENT)]
    return row


def via_apply(repo: Path) -> Verdict:
    code, out, err = invoke("apply", "--repo", str(repo), "--intent", "expand", *GOVERNANCE)
    if code != 0:
        reason = err.splitlines()[-1].removeprefix("reason: ")
        return code, "rejected", [reason], err.splitlines()
    record = json.loads(out)
    return code, record["status"], record["reasonCodes"], []


def via_once(repo: Path) -> Verdict:
    g.add_intents(repo, {INTENT: {"step": 10}})
    code, out, err = invoke("--once", "--repo", str(repo), "--json")
    row = intent_row(json_lines(out))
    return code, row["status"], row["reasonCodes"], row["problems"]


def via_plan(repo: Path) -> Verdict:
    g.git(repo, "switch", "-q", "-c", "feature")
    g.add_intents(repo, {INTENT: {"step": 10}})
    code, out, err = invoke("plan", "--repo", str(repo), "--base", "main", "--json")
    row = intent_row(json_lines(out))
    return code, row["status"], row["reasonCodes"], row["problems"]


def via_status(repo: Path) -> Verdict:
    g.add_intents(repo, {INTENT: {"step": 10}})
    code, out, err = invoke("status", "--repo", str(repo), "--json")
    row = intent_row(json.loads(out)["pending"])
    return code, row["status"], row["reasonCodes"], row["problems"]


def via_dispatch(repo: Path) -> Verdict:
    code, out, err = invoke(
        "dispatch", "--mode", "dry_run", "--apply-intent", "expand", "--expand-step", "10",
        "--repo", str(repo), "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert result["status"] == "preview"
    return code, result["predicted"], result["reasonCodes"], result["problems"]


PATHS: dict[str, Callable[[Path], Verdict]] = {
    "apply": via_apply,
    "once": via_once,
    "plan": via_plan,
    "status": via_status,
    "dispatch-dry-run": via_dispatch,
}
REFUSED_EXIT = {"apply": 1, "once": 3, "plan": 3, "status": 0, "dispatch-dry-run": 3}
"""How each path says "refused": apply fails, the others report a rejected intent."""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # A decision the real clock accepts: the commands run with the system clock.
    return g.make_policy_repo(tmp_path / "repo", generated_at=g.recent())


@pytest.fixture
def with_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before the mutation: the rule sees a request that passed every earlier rule.
    where = rules.RULES.index(rules.mutate)
    monkeypatch.setattr(rules, "RULES", (*rules.RULES[:where], guard, *rules.RULES[where:]))


@pytest.mark.parametrize("path", list(PATHS))
def test_a_rule_added_to_the_core_refuses_on_every_path(
    repo: Path, with_guard: None, path: str
) -> None:
    code, status, reasons, lines = PATHS[path](repo)

    assert (code, status, reasons) == (REFUSED_EXIT[path], "rejected", [str(NEW_REASON)])
    expected = f"error: {NEW_MESSAGE}" if path == "apply" else NEW_MESSAGE
    assert lines[0] == expected
    if path in ("apply", "once"):
        assert g.canary(repo) == 25  # nothing was applied


@pytest.mark.parametrize("path", list(PATHS))
def test_without_the_rule_every_path_applies_the_same_expand(repo: Path, path: str) -> None:
    code, status, reasons, _ = PATHS[path](repo)

    assert (code, status) == (0, "applied")
    assert str(NEW_REASON) not in reasons
