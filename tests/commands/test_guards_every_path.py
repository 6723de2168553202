"""The progression guards hold on every path, and count the records every path wrote (issue 11).

Each path that decides an intent runs in-process (CliRunner) on a real git repository with
the wall clock fixed: `apply` refuses with exit 75 and what clears the guard; `--once`,
`plan` and `status` report the intent deferred with its notBefore and exit 0; `dispatch`
withdraws its file and exits 75. The budget counts the applied records of `apply`,
`dispatch`, `--once` and the controller alike: they are one history in git.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import redirect_stderr
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.adapters import clock
from reconciler.cli import cli
from reconciler.daemon.runner import Daemon, DaemonOptions
from tests.support import gitrepos as g
from tests.support.clocks import FakeClock, FixedRandom

GOVERNANCE = [
    "--by", "alice", "--approval-ref", "CAB-123", "--rationale", "gates green",
    "--review-by", g.REVIEW_BY,
]  # fmt: skip
INTENT = "20-expand.yaml"
FREEZE = (
    "windows:\n"
    "  - name: incident-review\n"
    "    start: 2026-11-24T11:00:00Z\n"
    "    end: 2026-11-24T15:00:00Z\n"
    "    reason: Post-incident review\n"
)
CLEARS = "2026-11-24T15:00:00Z"

Verdict = tuple[int, str, list[str], str | None, list[str]]
"""Exit code, status, reason codes, notBefore, problems or error lines."""


def invoke(*argv: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(argv), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def rows(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def intent_row(found: list[dict[str, Any]]) -> dict[str, Any]:
    (row,) = [row for row in found if row.get("intentFile", "").endswith(INTENT)]
    return row


def via_apply(repo: Path) -> Verdict:
    code, out, err = invoke("apply", "--repo", str(repo), "--intent", "expand", "--expand-step",
                            "10", *GOVERNANCE)  # fmt: skip
    if code != 0:
        return (
            code,
            "deferred",
            [err.splitlines()[-1].removeprefix("reason: ")],
            None,
            err.splitlines(),
        )
    record = json.loads(out)
    return code, record["status"], record["reasonCodes"], None, []


def via_once(repo: Path) -> Verdict:
    g.add_intents(repo, {INTENT: {"step": 10}})
    code, out, _ = invoke("--once", "--repo", str(repo), "--json")
    row = intent_row(rows(out))
    return code, row["status"], row["reasonCodes"], row["notBefore"], row["problems"]


def via_plan(repo: Path) -> Verdict:
    g.git(repo, "switch", "-q", "-c", "feature")
    g.add_intents(repo, {INTENT: {"step": 10}})
    code, out, _ = invoke("plan", "--repo", str(repo), "--base", "main", "--json")
    row = intent_row(rows(out))
    return code, row["status"], row["reasonCodes"], row["notBefore"], row["problems"]


def via_status(repo: Path) -> Verdict:
    g.add_intents(repo, {INTENT: {"step": 10}})
    code, out, _ = invoke("status", "--repo", str(repo), "--json")
    report = json.loads(out)
    row = intent_row(report["pending"])
    assert (
        report["deferred"]
        == [
            {
                "intentFile": row["intentFile"],
                "reasonCodes": row["reasonCodes"],
                "problems": row["problems"],
                "notBefore": row["notBefore"],
            }
        ]
        or row["status"] != "deferred"
    )
    return code, row["status"], row["reasonCodes"], row["notBefore"], row["problems"]


def via_dispatch(repo: Path) -> Verdict:
    code, out, _ = invoke("dispatch", "--mode", "apply", "--expand-step", "10", *GOVERNANCE,
                          "--repo", str(repo), "--json")  # fmt: skip
    result = json.loads(out)
    return code, result["status"], result["reasonCodes"], result["notBefore"], result["problems"]


PATHS: dict[str, Callable[[Path], Verdict]] = {
    "apply": via_apply,
    "once": via_once,
    "plan": via_plan,
    "status": via_status,
    "dispatch": via_dispatch,
}
DEFERRED_EXIT = {"apply": 75, "once": 0, "plan": 0, "status": 0, "dispatch": 75}


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    def at(moment: datetime) -> None:
        monkeypatch.setattr(clock, "system_clock", lambda: moment)

    at(g.FIXED)
    return at


@pytest.mark.parametrize("path", list(PATHS))
def test_a_freeze_window_defers_on_every_path_and_says_when_it_clears(
    tmp_path: Path, fixed_clock: Callable[[datetime], None], path: str
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    (repo / "policies" / "freeze.yaml").write_text(FREEZE)
    g.commit_all(repo, "freeze window")
    head = g.head(repo)

    code, status, reasons, not_before, lines = PATHS[path](repo)

    assert (code, status, reasons) == (DEFERRED_EXIT[path], "deferred", ["guard_freeze_window"])
    message = f"freeze window incident-review (Post-incident review) until {CLEARS}"
    if path == "apply":
        assert lines[0] == (
            "error: expand deferred by the progression guards (guard_freeze_window); nothing "
            f"was written; retry at or after {CLEARS}"
        )
        assert lines[1] == f" - {message}"
    else:
        assert not_before == CLEARS
        assert lines == [message]
    assert g.canary(repo) == 25
    if path in ("apply", "dispatch"):
        assert g.head(repo) == head  # no commit (dispatch withdrew its file)
        assert g.status(repo) == ""
    if path == "once":
        assert g.pending(repo) == [INTENT]  # it stays pending
    assert g.records(repo) == []


@pytest.mark.parametrize("path", list(PATHS))
def test_once_the_window_ends_every_path_applies(
    tmp_path: Path, fixed_clock: Callable[[datetime], None], path: str
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    (repo / "policies" / "freeze.yaml").write_text(FREEZE)
    g.commit_all(repo, "freeze window")
    fixed_clock(datetime.fromisoformat(CLEARS))

    code, status, reasons, not_before, _ = PATHS[path](repo)

    assert (code, status, reasons, not_before) == (0, "applied", [], None)


def test_the_budget_counts_the_records_of_apply_dispatch_once_and_the_controller(
    tmp_path: Path, fixed_clock: Callable[[datetime], None]
) -> None:
    settings = "  budget:\n    window: 24h\n    maxExpands: 3\n"  # after paced=False's guards:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False, settings=settings)
    assert via_apply(repo)[1] == "applied"
    g.commit_all(repo, "manual apply")
    # A person's commit of apply's output is a hand edit (docs/audit.md): adopted by intent.
    g.add_intents(repo, {"05-adopt.yaml": {"intent": "adopt"}})
    assert invoke("--once", "--repo", str(repo))[0] == 0
    fixed_clock(g.FIXED + timedelta(minutes=1))
    assert via_dispatch(repo)[1] == "applied"
    fixed_clock(g.FIXED + timedelta(minutes=2))
    assert via_once(repo)[1] == "applied"
    assert g.canary(repo) == 55

    # The controller's pass sees the three records: its expand waits a day for the oldest.
    g.add_intents(repo, {"30-expand.yaml": {"step": 10}})
    fake = FakeClock(start=g.FIXED + timedelta(minutes=3))
    options = DaemonOptions(repo=str(repo), port=0, resync=100_000, log_format="json")
    daemon = Daemon(options, now=fake.now, clock=fake, rng=FixedRandom(0.5))
    fake.at(10, daemon.triggers.stop)
    with redirect_stderr(io.StringIO()) as out:
        assert daemon.serve() == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    (held,) = [e for e in events if e["event"] == "intent"]
    assert (held["status"], held["reasons"]) == ("deferred", "guard_budget_expands")
    wake = next(e for e in events if e["event"] == "pass.wake")
    assert wake["notBefore"] == "2026-11-25T12:00:00Z"  # the apply's record leaves the window
    assert g.canary(repo) == 55
