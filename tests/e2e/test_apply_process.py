"""`reconcile apply` as a real process: what the CLI prints and signals around a mutation.

A rollback whose record could not be appended to a file that is not JSON lines says so by its
reason code, not on stderr (the service in-process: tests/apply/).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import fleet
from tests.support.hostfiles import PROFILE, host_file

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_signals_a_rollback_record_not_appended_by_its_reason_code(
    repo: Path, tmp_path: Path
) -> None:
    # stderr is no terminal here: the warning is for people, the record's code for machines.
    target = host_file(tmp_path, PROFILE)
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--repo", str(repo), "--intent",
         "rollback", *fleet.gov(), "--apply-telemetry-file", str(target)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "telemetry_not_appended" in json.loads(done.stdout)["reasonCodes"]
    assert target.read_bytes() == PROFILE


def test_an_apply_on_a_json_registry_never_imports_pyyaml(repo: Path) -> None:
    # Start-up (README "Speed"): the bash tool's JSON layout must not pay PyYAML's ~12 ms.
    script = (
        "import sys\n"
        "from reconciler.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print('yaml' in sys.modules, code, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "apply", "--repo", str(repo), "--intent", "rollback",
         *fleet.gov()],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.stderr.splitlines()[-1] == "False 0", done.stderr
    assert json.loads(done.stdout)["status"] == "applied"
