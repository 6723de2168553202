"""Bounded reads, read and mapped: the bytes of a regular file, every other kind refused."""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters import files
from reconciler.core.errors import RefusalError

Reader = Callable[..., Any]
READERS: list[Reader] = [files.read_bounded, files.map_bounded]


@pytest.mark.parametrize("read", READERS)
def test_the_bytes_of_a_regular_file(tmp_path: Path, read: Reader) -> None:
    path = tmp_path / "segment.jsonl"
    path.write_bytes(b'{"a":1}\n' * 1000)

    data = read(str(path), 1 << 20)

    assert data is not None and data[:] == path.read_bytes()
    assert len(data) == 8000


@pytest.mark.parametrize("read", READERS)
def test_empty_and_missing_files(tmp_path: Path, read: Reader) -> None:
    (tmp_path / "empty").write_bytes(b"")

    assert read(str(tmp_path / "empty"), 10) == b""
    assert read(str(tmp_path / "missing"), 10) is None


@pytest.mark.parametrize("read", READERS)
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: os.symlink("/etc/hostname", p), "file_not_regular"),
        (lambda p: os.mkfifo(p), "file_not_regular"),
        (lambda p: os.mkdir(p), "file_not_regular"),
        (lambda p: Path(p).write_bytes(b"x" * 11), "file_too_large"),
    ],
    ids=["symlink", "fifo", "folder", "too-large"],
)
def test_what_is_refused(
    tmp_path: Path, read: Reader, make: Callable[[str], object], reason: str
) -> None:
    path = str(tmp_path / "segment.jsonl")
    make(path)

    with pytest.raises(RefusalError) as caught:
        read(path, 10, what="telemetry segment")

    assert caught.value.reason == reason
    assert "telemetry segment" in caught.value.message


def test_a_mapping_keeps_the_bytes_it_mapped_when_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "segment.jsonl"
    path.write_bytes(b"old\n")
    mapped = files.map_bounded(str(path), 100)
    replacement = tmp_path / "new"
    replacement.write_bytes(b"new!\n")

    os.replace(replacement, path)  # how the reconciler itself rewrites a file

    assert mapped is not None and mapped[:] == b"old\n"


def test_a_file_that_cannot_be_mapped_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "segment.jsonl"
    path.write_bytes(b"data\n")

    def no_mapping(*args: Any, **kwargs: Any) -> Any:
        raise OSError(19, "No such device")  # ENODEV: a file system without mmap

    monkeypatch.setattr(mmap, "mmap", no_mapping)

    assert files.map_bounded(str(path), 100) == b"data\n"
