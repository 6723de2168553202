"""`reconcile init` as a real process: scaffold a policy repository, never overwriting anything.

What the scaffolding writes is checked in-process in tests/setup/test_init_repo.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ("--install", "git+https://git.example.com/platform/rollout-reconciler@v0.1.0")
"""Where the scaffolded workflows install from: this checkout has no default (see
tests/commands/test_init.py)."""
CREATED = [
    "reconciler.yaml",
    "policies/registry.yaml",
    "policies/promotion/decision.json",
    "policies/.gitignore",
    "policies/intents/.gitkeep",
    "policies/intents/applied/.gitkeep",
    "policies/intents/rejected/.gitkeep",
    ".github/CODEOWNERS",
    ".github/workflows/reconcile.yml",
    ".github/workflows/plan.yml",
    ".github/workflows/rollout-dispatch.yml",
]


def reconcile(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_init_scaffolds_an_empty_folder_that_validates(tmp_path: Path) -> None:
    result = reconcile("init", *INSTALL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == CREATED
    assert "next steps:" in result.stderr
    files = tree(tmp_path)
    assert sorted(files) == sorted(CREATED)
    for name in ("registry.yaml", "promotion/decision.json", ".gitignore"):
        assert files[f"policies/{name}"] == (ROOT / "policies" / name).read_bytes()
    assert files["policies/intents/.gitkeep"] == b""
    validated = reconcile("validate", "--repo", str(tmp_path))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stdout.endswith("ok\n")


def test_init_refuses_when_a_file_exists_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "registry.yaml").write_text("mine\n")
    (tmp_path / "reconciler.yaml").write_text("lockTimeout: 5s\n")
    result = reconcile("init", str(tmp_path), *INSTALL)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: refusing to scaffold into {tmp_path}: 2 path(s)")
    assert lines[1:] == [
        " - reconciler.yaml",
        " - policies/registry.yaml",
        "reason: scaffold_exists",
    ]
    assert tree(tmp_path) == {
        "policies/registry.yaml": b"mine\n",
        "reconciler.yaml": b"lockTimeout: 5s\n",
    }


def test_init_refuses_a_file_standing_where_a_folder_must_be(tmp_path: Path) -> None:
    (tmp_path / ".github").write_text("not a folder\n")
    result = reconcile("init", str(tmp_path), *INSTALL)
    assert result.returncode == 1
    assert " - .github" in result.stderr.splitlines()
    assert tree(tmp_path) == {".github": b"not a folder\n"}


def test_init_creates_a_missing_target_folder_and_prints_json(tmp_path: Path) -> None:
    result = reconcile("init", "new/fleet", "--json", *INSTALL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"created": [f"new/fleet/{rel}" for rel in CREATED]}
    assert result.stderr == ""
    assert sorted(tree(tmp_path / "new" / "fleet")) == sorted(CREATED)


def test_init_refuses_a_target_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("")
    result = reconcile("init", str(tmp_path / "target"), *INSTALL)
    assert result.returncode == 1
    assert result.stderr.startswith("error: not a folder: ")


def test_help_says_what_happens_to_a_missing_folder_and_existing_files() -> None:
    result = reconcile("init", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "PATH (default: the current folder) is created when it does not exist" in text
    assert "No existing file is ever overwritten" in text
