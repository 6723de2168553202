"""`reconcile freeze new` and `validate`'s guards section (issue 11).

`freeze new` adds a window checked as every pass reads it, spliced after the existing ones
(comments, order and the bash controller's JSON kept); `validate` reports the `guards:`
settings and the freeze file, one line per problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.adapters import clock
from reconciler.cli import cli
from reconciler.inputs import guarding, layouts
from tests.support import gitrepos as g

FREEZE = "policies/freeze.yaml"


def run(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--repo", str(repo)])


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(clock, "system_clock", lambda: g.FIXED)
    return g.make_policy_repo(tmp_path / "repo")


def windows(repo: Path) -> list[tuple[str, str]]:
    calendar = guarding.load_calendar(str(repo), FREEZE)
    return [(window.name, window.kind) for window in calendar.windows]


def test_freeze_new_creates_the_file_with_a_checked_absolute_window(repo: Path) -> None:
    result = run(
        repo, "freeze", "new", "--name", "year-end", "--start", "2026-12-20T00:00:00Z",
        "--end", "2027-01-04T00:00:00Z", "--reason", "Year-end change freeze (CAB-900)",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{FREEZE}\n"
    assert "added deny window year-end: 2026-12-20T00:00:00Z to 2027-01-04T00:00:00Z" in (
        result.stderr
    )
    assert windows(repo) == [("year-end", "deny")]


def test_freeze_new_resolves_relative_times_against_now(repo: Path) -> None:
    result = run(repo, "freeze", "new", "--name", "soon", "--start", "1d", "--end", "2d",
                 "--reason", "x", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    window = json.loads(result.stdout)["window"]
    assert (window["start"], window["end"]) == ("2026-11-25T12:00:00Z", "2026-11-26T12:00:00Z")


def test_freeze_new_appends_after_the_existing_windows_keeping_comments(repo: Path) -> None:
    original = (
        "# Change freezes: reviewed by the CAB.\n"
        "windows:\n"
        "  - name: year-end   # the big one\n"
        "    start: 2026-12-20T00:00:00Z\n"
        "    end: 2027-01-04T00:00:00Z\n"
        "    reason: Year-end change freeze (CAB-900)\n"
    )
    (repo / FREEZE).write_text(original)
    result = run(
        repo, "freeze", "new", "--name", "weekends", "--cron", "0 18 * * FRI",
        "--duration", "62h", "--timezone", "Europe/Berlin", "--reason", "No rollouts: weekend",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (repo / FREEZE).read_text() == original + (
        "  - name: weekends\n"
        "    kind: deny\n"
        "    cron: 0 18 * * FRI\n"
        "    duration: 62h\n"
        "    timezone: Europe/Berlin\n"
        '    reason: "No rollouts: weekend"\n'
    )
    assert windows(repo) == [("year-end", "deny"), ("weekends", "deny")]


def test_freeze_new_writes_into_the_bash_controllers_json_file(repo: Path) -> None:
    original = '{"windows": [{"startAt": "2026-12-01T00:00:00Z", "endAt": "2026-12-02T00:00:00Z", "reason": "change-freeze"}]}\n'  # noqa: E501
    (repo / "reconciler.yaml").write_text("guards:\n  freezeFile: ops/freeze.json\n")
    (repo / "ops").mkdir()
    (repo / "ops" / "freeze.json").write_text(original)
    result = run(repo, "freeze", "new", "--name", "hours", "--kind", "allow", "--cron",
                 "0 8 * * MON-FRI", "--duration", "10h", "--reason", "people at work")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "ops/freeze.json\n"
    doc = json.loads((repo / "ops" / "freeze.json").read_text())
    assert doc["windows"][0] == json.loads(original)["windows"][0]
    assert doc["windows"][1]["name"] == "hours"
    calendar = guarding.load_calendar(str(repo), "ops/freeze.json")
    assert [(w.name, w.kind) for w in calendar.windows] == [
        ("window-1", "deny"),
        ("hours", "allow"),
    ]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--cron", "0 25 * * *", "--duration", "1h"], "cron '0 25 * * *' is invalid"),
        (["--cron", "0 0 18 * * FRI", "--duration", "1h"], "5-field cron expression"),
        (["--cron", "0 18 * * FRI", "--duration", "1h", "--timezone", "Mars/Olympus"],
         "timezone 'Mars/Olympus' is not a known IANA time zone"),
        (["--cron", "0 18 * * FRI"], "duration is required with cron"),
        (["--start", "2026-12-02T00:00:00Z", "--end", "2026-12-01T00:00:00Z"],
         "must be after start"),
        (["--start", "2026-12-01T00:00:00Z"], "end must be an RFC 3339 time"),
        (["--start", "1d", "--end", "2d", "--cron", "0 1 * * *", "--duration", "1h"],
         "not both"),
    ],
    ids=["bad-hour", "six-fields", "unknown-zone", "no-duration", "end-before-start", "no-end",
         "both-kinds"],
)  # fmt: skip
def test_freeze_new_refuses_a_window_no_pass_could_read(
    repo: Path, args: list[str], problem: str
) -> None:
    result = run(repo, "freeze", "new", "--name", "bad", "--reason", "x", *args)
    assert result.exit_code == 1
    assert "reason: freeze_file_invalid" in result.stderr
    assert problem in result.stderr
    assert not (repo / FREEZE).exists()


def test_freeze_new_refuses_a_name_taken_and_leaves_the_file_as_it_was(repo: Path) -> None:
    args = ["--start", "1d", "--end", "2d", "--reason", "x"]
    assert run(repo, "freeze", "new", "--name", "one", *args).exit_code == 0
    before = (repo / FREEZE).read_bytes()
    result = run(repo, "freeze", "new", "--name", "one", *args)
    assert result.exit_code == 1
    assert "already has a window named 'one'" in result.stderr
    assert (repo / FREEZE).read_bytes() == before


def test_freeze_new_refuses_a_symlinked_freeze_file(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("windows: []\n")
    (repo / FREEZE).symlink_to(outside)
    result = run(repo, "freeze", "new", "--name", "x", "--start", "1d", "--end", "2d",
                 "--reason", "x")  # fmt: skip
    assert result.exit_code == 1
    assert "is a symlink" in result.stderr
    assert outside.read_text() == "windows: []\n"


def test_freeze_new_in_the_superloop_layout_asks_for_a_freeze_file_setting(tmp_path: Path) -> None:
    from tests.support.fleet import write_registry

    repo = tmp_path / "bash"
    write_registry(repo, canary=10)
    result = run(repo, "freeze", "new", "--name", "x", "--start", "1d", "--end", "2d",
                 "--reason", "x")  # fmt: skip
    assert result.exit_code == 1
    assert "set guards.freezeFile in reconciler.yaml first" in result.stderr
    layout = layouts.resolve_layout(str(repo))
    assert guarding.load_guards(layout, records=None) is None  # every guard off: nothing to compute


def test_validate_reports_each_guards_problem_on_its_own_line(repo: Path) -> None:
    (repo / "reconciler.yaml").write_text(
        "guards:\n  expandCoolDown: 1h\n  maxExpandStep: 0\n  budget:\n    window: 24h\n"
    )
    result = CliRunner().invoke(cli, ["validate", "--repo", str(repo)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    start = lines.index(f"guards: invalid guards settings in {repo / 'reconciler.yaml'}")
    assert lines[start + 1 : start + 4] == [
        ' - guards: unknown setting "expandCoolDown"',
        " - guards.maxExpandStep must be a whole percentage between 1 and 100",
        " - guards.budget needs maxExpands, maxExpandPercent or both",
    ]
    assert lines[-1] == "invalid"


def test_validate_reports_a_bad_freeze_file_and_an_ok_one(repo: Path) -> None:
    (repo / FREEZE).write_text(
        "windows:\n  - name: w\n    cron: '0 18 * * FRI'\n    duration: 1h\n"
        "    timezone: Nowhere/City\n    reason: x\n"
    )
    result = CliRunner().invoke(cli, ["validate", "--repo", str(repo), "--json"])
    assert result.exit_code == 1
    part = json.loads(result.stdout)["guards"]
    assert part["reasonCode"] == "freeze_file_invalid"
    assert part["problems"] == [
        "windows[0] (w): timezone 'Nowhere/City' is not a known IANA time zone"
    ]
    (repo / FREEZE).write_text("windows: []\n")
    result = CliRunner().invoke(cli, ["validate", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert "guards: ok (decisionAfterChange; policies/freeze.yaml: 0 window(s))" in result.stdout


@pytest.mark.parametrize(
    "path",
    ["policies/intents/freeze.yaml", "policies/intents/applied/f.yaml",
     "policies/telemetry/promotion-apply.jsonl", "policies/registry.yaml", "reconciler.yaml",
     "policies/.GIT/freeze.yaml", "git~1/freeze.yaml"],
    ids=["intents", "applied", "telemetry", "registry", "settings", "git-dir", "git-short"],
)  # fmt: skip
def test_a_freeze_file_the_reconciler_owns_or_would_consume_is_refused(
    repo: Path, path: str
) -> None:
    (repo / "reconciler.yaml").write_text(f"guards:\n  freezeFile: {path}\n")

    result = CliRunner().invoke(cli, ["validate", "--repo", str(repo), "--json"])
    part = json.loads(result.stdout)["guards"]
    assert (result.exit_code, part["reasonCode"]) == (1, "guard_settings_invalid")
    assert "guards.freezeFile" in part["problems"][0]
    written = run(repo, "freeze", "new", "--name", "x", "--start", "1d", "--end", "2d",
                  "--reason", "x")  # fmt: skip
    assert written.exit_code == 1
    assert "reason: guard_settings_invalid" in written.stderr


def test_freeze_new_where_the_files_folder_is_a_file_exits_1_not_70(repo: Path) -> None:
    (repo / "reconciler.yaml").write_text("guards:\n  freezeFile: ops/freeze.yaml\n")
    (repo / "ops").write_text("a file, not a folder\n")
    result = run(repo, "freeze", "new", "--name", "x", "--start", "1d", "--end", "2d",
                 "--reason", "x")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "reason: file_error"
