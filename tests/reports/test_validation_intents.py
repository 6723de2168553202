"""`reconcile validate --intents FILE...`: the pre-commit check of intent files.

Each file is read and parsed exactly as the loop will (no symlinks, size cap, UTF-8, the
intent parser), so a file that passes here is never rejected by the loop for its content.
The function runs in-process with a fixed clock; the command and the pre-commit hook run
as real processes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.core.intents import INTENT_LIMIT
from reconciler.reports.validation import validate_intent_files
from tests.support import gitrepos as g
from tests.support.gitrepos import FIXED, ROOT, reconcile

GOOD = {
    "expand.yaml": g.intent_text("expand", step=10),
    "resume.yml": g.intent_text("resume"),
    "rollback.yaml": g.intent_text("rollback", approval_ref="INC-9", idempotencyKey="inc-9"),
}
BAD: dict[str, tuple[str | bytes, list[str]]] = {
    "typo.yaml": (
        "intent: expand\nexpandStpe: 50\n" + g.intent_text("expand").split("\n", 1)[1],
        ["intent_unknown_field"],
    ),
    "no-governance.yaml": ("intent: rollback\n", ["intent_governance_missing"]),
    "past.yaml": (g.intent_text("rollback", review_by="2020-01-01T00:00:00Z"),
                  ["intent_review_by_past"]),
    "step.yaml": (g.intent_text("expand", step=150), ["intent_field_invalid"]),
    "not-yaml.yaml": ("intent: [expand\n", ["intent_yaml_invalid"]),
    "list.yaml": ("- intent: expand\n", ["intent_yaml_invalid"]),
    "alias.yaml": ("a: &a [1]\nb: *a\nintent: rollback\n", ["intent_alias_limit"]),
    "latin1.yaml": (g.intent_text("rollback").encode() + b"# caf\xe9\n", ["intent_not_utf8"]),
    "large.yaml": (g.intent_text("rollback") + "#" * INTENT_LIMIT + "\n", ["intent_too_large"]),
    "-dash.yaml": (g.intent_text("rollback"), ["intent_name_invalid"]),
    "bad name.yaml": (g.intent_text("rollback"), ["intent_name_invalid"]),
    "three-problems.yaml": ("intent: grow\nextra: 1\n", [
        "intent_field_invalid", "intent_governance_missing", "intent_unknown_field",
    ]),
}  # fmt: skip


LATIN1_OFFSET = len(g.intent_text("rollback").encode()) + len(b"# caf")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def validate(*paths: Path | str) -> dict[str, dict[str, Any]]:
    results = validate_intent_files([str(path) for path in paths], now=FIXED)
    return {Path(result["path"]).name: result for result in results}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "intents"
    path.mkdir()
    return path


# The function ----------------------------------------------------------------------------


def test_valid_files_are_ok(folder: Path) -> None:
    paths = [write(folder, name, text) for name, text in GOOD.items()]

    results = validate(*paths)

    assert results == {
        path.name: {"path": str(path), "ok": True, "reasonCodes": [], "problems": []}
        for path in paths
    }


@pytest.mark.parametrize("name", list(BAD))
def test_an_invalid_file_lists_its_reason_codes(folder: Path, name: str) -> None:
    content, reasons = BAD[name]
    path = write(folder, name, content)

    (result,) = validate(path).values()

    assert result["ok"] is False
    assert result["reasonCodes"] == reasons
    assert len(result["problems"]) >= len(reasons)
    assert all(isinstance(problem, str) and problem for problem in result["problems"])


def test_a_symlink_is_refused_even_to_a_valid_file(folder: Path, tmp_path: Path) -> None:
    target = write(tmp_path, "real.yaml", GOOD["expand.yaml"])
    link = folder / "link.yaml"
    link.symlink_to(target)

    (result,) = validate(link).values()

    assert result["reasonCodes"] == ["intent_not_regular_file"]
    assert result["problems"] == ["intent file is a symlink, which is refused"]


def test_a_fifo_a_folder_and_a_missing_file_are_rejected_without_hanging(folder: Path) -> None:
    os.mkfifo(folder / "fifo.yaml")
    (folder / "dir.yaml").mkdir()

    results = validate(folder / "fifo.yaml", folder / "dir.yaml", folder / "missing.yaml")

    assert {name: result["reasonCodes"] for name, result in results.items()} == {
        "fifo.yaml": ["intent_not_regular_file"],
        "dir.yaml": ["intent_not_regular_file"],
        "missing.yaml": ["intent_unreadable"],
    }


def test_validate_agrees_with_what_the_loop_rejects(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    folder = repo / g.INTENTS
    folder.mkdir(parents=True)
    for name, (content, _) in BAD.items():
        write(folder, name, content)
    for name, text in GOOD.items():
        write(folder, name, text)
    expected = validate(*sorted(folder.iterdir()))

    report = g.once(repo)

    loop = {outcome.source.name: outcome for outcome in report.outcomes}
    assert loop.keys() == expected.keys()
    for name, outcome in loop.items():
        assert (outcome.status != "rejected") == expected[name]["ok"], name
        if outcome.status == "rejected":
            assert list(outcome.reasons) == expected[name]["reasonCodes"], name
            assert list(outcome.problems) == expected[name]["problems"], name


# The command -----------------------------------------------------------------------------


def test_the_command_exits_0_when_every_file_is_ok(folder: Path) -> None:
    for name, text in GOOD.items():
        write(folder, name, text)

    done = reconcile(folder, "validate", "--intents", *GOOD)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"{name}: ok\n" for name in GOOD)


def test_the_command_exits_1_and_lists_every_problem(folder: Path) -> None:
    write(folder, "expand.yaml", GOOD["expand.yaml"])
    write(folder, "typo.yaml", BAD["typo.yaml"][0])
    write(folder, "no-governance.yaml", BAD["no-governance.yaml"][0])

    done = reconcile(folder, "validate", "--intents", "expand.yaml", "typo.yaml",
                     "no-governance.yaml")  # fmt: skip

    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "expand.yaml: ok",
        "typo.yaml: invalid (intent_unknown_field)",
        ' - unknown field "expandStpe"',
        "no-governance.yaml: invalid (intent_governance_missing)",
        " - governance is required",
    ]


def test_the_command_prints_one_json_line_per_file(folder: Path) -> None:
    write(folder, "expand.yaml", GOOD["expand.yaml"])
    write(folder, "latin1.yaml", BAD["latin1.yaml"][0])
    (folder / "link.yaml").symlink_to("expand.yaml")

    done = reconcile(folder, "validate", "--intents", "--json", "expand.yaml", "latin1.yaml",
                     "link.yaml")  # fmt: skip

    assert done.returncode == 1
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"path": "expand.yaml", "ok": True, "reasonCodes": [], "problems": []},
        {
            "path": "latin1.yaml",
            "ok": False,
            "reasonCodes": ["intent_not_utf8"],
            "problems": [f"intent file is not UTF-8 (byte {LATIN1_OFFSET})"],
        },
        {
            "path": "link.yaml",
            "ok": False,
            "reasonCodes": ["intent_not_regular_file"],
            "problems": ["intent file is a symlink, which is refused"],
        },
    ]


def test_no_files_is_nothing_to_check(folder: Path) -> None:
    done = reconcile(folder, "validate", "--intents")

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_files_without_intents_is_a_usage_error(folder: Path) -> None:
    write(folder, "expand.yaml", GOOD["expand.yaml"])

    done = reconcile(folder, "validate", "expand.yaml")

    assert done.returncode == 2
    assert "FILES are only accepted with --intents" in done.stderr
    assert done.stdout == ""


# The pre-commit hook ---------------------------------------------------------------------


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (found,) = [item for item in hooks if item["id"] == "reconcile-validate-intents"]
    assert isinstance(found, dict)
    return found


def test_the_hook_selects_pending_intent_files_only() -> None:
    pattern = re.compile(hook()["files"])

    assert pattern.search("policies/intents/20261124T0930Z-expand-cab-1.yaml")
    assert pattern.search("policies/intents/x.yml")
    assert not pattern.search("policies/intents/applied/x.yaml")
    assert not pattern.search("policies/intents/rejected/x.yaml")
    assert not pattern.search("policies/registry.yaml")
    assert not pattern.search("policies/intents/notes.md")


def test_the_hook_entry_runs_with_file_names_appended(tmp_path: Path) -> None:
    found = hook()
    assert found["pass_filenames"] is True
    assert found["language"] == "python"
    repo = tmp_path / "repo"
    intents = repo / "policies" / "intents"
    intents.mkdir(parents=True)
    write(intents, "a-expand.yaml", GOOD["expand.yaml"])
    write(intents, "b-rollback.yaml", GOOD["rollback.yaml"])
    write(intents, "c-typo.yaml", BAD["typo.yaml"][0])
    pattern = re.compile(found["files"])
    names = sorted(
        str(path.relative_to(repo)) for path in intents.iterdir() if pattern.search(
            str(path.relative_to(repo)))
    )  # fmt: skip
    # pre-commit installs the package into a venv and runs `entry` from the repository root.
    scripts = Path(sys.executable).parent
    assert (scripts / "reconcile").exists()
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run(files: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*shlex.split(found["entry"]), *files], cwd=repo, env=env, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip

    passing = run(names[:2])
    failing = run(names)

    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert passing.stdout.splitlines() == [f"{name}: ok" for name in names[:2]]
    assert failing.returncode == 1
    assert "policies/intents/c-typo.yaml: invalid (intent_unknown_field)" in failing.stdout
