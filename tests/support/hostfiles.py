"""Host files outside the repository: a test proves they are never read, written or committed.

Shared by the in-process tests and the process tests of one guarantee (tests/apply/ and
tests/e2e/test_apply_process.py; tests/loop/test_symlinks.py and tests/e2e/test_loop_symlinks.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROFILE = b"# ~/.profile\nexport PATH=$HOME/bin:$PATH\n"


def host_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "home" / "target"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


HOST_LINE = b'{"host":"secret"}\n'


def host_dir(tmp_path: Path) -> Path:
    """A host folder holding a file named like the telemetry (valid JSON lines, even)."""
    folder = tmp_path / "host"
    folder.mkdir(parents=True)
    (folder / "promotion-apply.jsonl").write_bytes(HOST_LINE)
    return folder


def link_folder(repo: Path, relative: str, target: Path | str) -> None:
    path = repo / relative
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(str(target), path)
