"""`reconcile validate --intents FILE...` and its pre-commit hook as real processes.

The exit codes, the lines and JSON lines printed, and the hook's entry run with file names
appended (each file's checks, in-process: tests/reports/test_validation_intents.py).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import gitrepos as g
from tests.support.gitrepos import reconcile
from tests.support.intentfiles import BAD, GOOD, hook, write

LATIN1_OFFSET = len(g.intent_text("rollback").encode()) + len(b"# caf")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "intents"
    path.mkdir()
    return path


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
