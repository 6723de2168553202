"""`reconcile freeze new [--fleet ID]` on a repository with several fleets, as a real process.

Without `--fleet` the window goes to the freeze file every fleet shares (a repository-wide
freeze); a fleet with its own `guards.freezeFile` makes `--fleet` required.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from reconciler.inputs import guarding
from tests.support import gitrepos as g
from tests.support.fleets import fleet_path, make_fleets_repo

SHARED = "policies/freeze.yaml"
OWN = fleet_path("prod-eu", "freeze.yaml")
OWN_FREEZE = f"""\
guards:
  decisionAfterChange: false
fleets:
  prod-eu:
    guards: {{freezeFile: {OWN}}}
"""


def freeze_new(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return g.reconcile(
        repo, "freeze", "new", "--name", "year-end", "--start", "2026-12-20T00:00:00Z",
        "--end", "2027-01-04T00:00:00Z", "--reason", "Year-end freeze (CAB-900)", *args,
    )  # fmt: skip


def windows(repo: Path, relative: str) -> list[str]:
    return [window.name for window in guarding.load_calendar(str(repo), relative).windows]


def test_freeze_new_without_fleet_writes_the_file_every_fleet_shares(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    result = freeze_new(repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{SHARED}\n"
    assert "(holds fleets prod-eu, staging)" in result.stderr
    assert windows(repo, SHARED) == ["year-end"]
    assert [line[3:] for line in g.status(repo).splitlines()] == [SHARED]


def test_freeze_new_needs_fleet_when_a_fleet_has_its_own_freeze_file(tmp_path: Path) -> None:
    repo = make_fleets_repo(tmp_path / "r", settings=OWN_FREEZE)
    refused = freeze_new(repo)
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: freeze new works on one fleet here: the fleets' freeze files differ (prod-eu: "
        f"{OWN}, staging: {SHARED}); pass --fleet (one of: prod-eu, staging)\n"
        "reason: fleet_required\n"
    )
    assert g.status(repo) == ""

    own = freeze_new(repo, "--fleet", "prod-eu")
    assert own.returncode == 0, own.stderr
    assert own.stdout == f"{OWN}\n"
    assert "(holds fleets prod-eu)" in own.stderr
    assert (windows(repo, OWN), (repo / SHARED).exists()) == (["year-end"], False)
    shared = freeze_new(repo, "--fleet", "staging")
    assert (shared.returncode, shared.stdout) == (0, f"{SHARED}\n")
    assert "(holds fleets staging)" in shared.stderr


def test_freeze_new_with_an_unknown_fleet_or_in_a_single_fleet_repository_is_refused(
    tmp_path: Path,
) -> None:
    repo = make_fleets_repo(tmp_path / "r")
    refused = freeze_new(repo, "--fleet", "prod-us")
    assert (refused.returncode, refused.stderr.splitlines()[-1]) == (1, "reason: fleet_unknown")
    single = g.make_policy_repo(tmp_path / "single")
    refused = freeze_new(single, "--fleet", "default")
    assert (refused.returncode, refused.stderr.splitlines()[-1]) == (1, "reason: fleet_unknown")
    assert (g.status(repo), g.status(single)) == ("", "")
    done = freeze_new(single)  # one fleet: as before, no fleets named
    assert (done.returncode, done.stdout) == (0, f"{SHARED}\n")
    assert "holds" not in done.stderr
