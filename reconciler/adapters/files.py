"""File I/O adapter: bounded reads, atomic writes and whole-line appends.

Every write the reconciler makes goes through here: temp file in the same folder, fsync,
`os.replace`, fsync of the folder (pre-commit's store.py pattern). OSError becomes
`ReconcileError(FILE_ERROR)` naming the path.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

TEMP_MARKER = ".reconciler-tmp-"


@contextmanager
def _translate_os_errors(action: str, path: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise RefusalError(
            ReasonCode.FILE_ERROR,
            f"cannot {action} {path}: {exc.strerror or exc} (check permissions and disk space)",
            path=path,
        ) from exc


def _open_regular(path: str, what: str, *, follow_symlinks: bool = False) -> int | None:
    """Open a regular file for reading without blocking; None when it does not exist.

    A FIFO, device or folder is refused instead of opened for real (a FIFO would block the
    run forever while it holds the lock); so is a final symlink unless `follow_symlinks`.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:  # a parent is a file: nothing can be there
            return None
        if exc.errno == errno.ELOOP:
            raise RefusalError(
                ReasonCode.FILE_NOT_REGULAR,
                f"{what} is a symlink, which is refused: {path}",
                path=path,
            ) from exc
        raise RefusalError(
            ReasonCode.FILE_ERROR, f"cannot read {what} {path}: {exc.strerror}", path=path
        ) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RefusalError(
            ReasonCode.FILE_NOT_REGULAR, f"{what} is not a regular file: {path}", path=path
        )
    return fd


def _too_large(what: str, limit: int, path: str) -> RefusalError:
    return RefusalError(
        ReasonCode.FILE_TOO_LARGE, f"{what} is larger than {limit} bytes: {path}", path=path
    )


def map_bounded(path: str, limit: int, *, what: str = "file") -> bytes | mmap.mmap | None:
    """A regular file's bytes mapped read-only rather than copied; None when it does not exist.

    A read into fresh memory page-faults every page, a mapping of cached pages a sixteenth
    of them (25 MB of telemetry segments: ~20 ms against ~5 ms). Two costs, so callers bound
    their use: each mapping holds a file descriptor until it is dropped (Python's mmap keeps
    one), and a file truncated in place while mapped kills the reader with SIGBUS (the
    loop's files are replaced, never truncated, and a pass survives a crash as it survives
    kill -9). An empty file comes back as `b""`; where the file system cannot map, the file
    is read. Symlinks are refused as in `read_bounded`.

    Raises:
        RefusalError: a refused symlink, not a regular file, larger than `limit`, or
            unreadable.
    """
    fd = _open_regular(path, what)
    if fd is None:
        return None
    try:
        with _translate_os_errors("read", path):
            size = os.fstat(fd).st_size
            if size > limit:
                raise _too_large(what, limit, path)
            if not size:
                return b""
        try:
            return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            pass  # cannot be mapped here (a file system without mmap, no descriptor left)
    finally:
        os.close(fd)
    return read_bounded(path, limit, what=what)


def read_bounded(
    path: str, limit: int, *, what: str = "file", follow_symlinks: bool = False
) -> bytes | None:
    """Return the bytes of a regular file, or None when it does not exist.

    Files the reconciler writes are read without following a final symlink (an atomic
    replace would swap the link, not its target); read-only inputs may follow one.

    Raises:
        RefusalError: the path is a refused symlink or not a regular file, larger than
            `limit`, or unreadable.
    """
    fd = _open_regular(path, what, follow_symlinks=follow_symlinks)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle, _translate_os_errors("read", path):
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise _too_large(what, limit, path)
        # Asked for its size (plus one byte), not for `limit`: a read of 256 MB allocates
        # that much first, which cost every telemetry segment read ~0.1 ms.
        data = handle.read(size + 1)
        if len(data) > size:  # it grew since fstat: read on, up to the limit
            data += handle.read(limit + 1 - len(data))
    if len(data) > limit:
        raise _too_large(what, limit, path)
    return data


def decode_utf8(data: bytes, path: str, *, what: str = "file") -> str:
    """Decode UTF-8 text (a leading BOM is kept in the text).

    Raises:
        RefusalError: the bytes are not valid UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RefusalError(
            ReasonCode.FILE_NOT_UTF8,
            f"{what} is not valid UTF-8 (byte {exc.start}): {path}",
            path=path,
        ) from exc


def exists(path: str) -> bool:
    """Tell whether anything (file, folder or link) is at `path`."""
    return os.path.lexists(path)


def is_dir(path: str) -> bool:
    """Tell whether `path` is a folder."""
    return os.path.isdir(path)


def file_size(path: str) -> int:
    """Return the size of a regular file in bytes, 0 when it does not exist.

    Raises:
        RefusalError: the path is not a regular file, or cannot be examined.
    """
    fd = _open_regular(path, "file")
    if fd is None:
        return 0
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def read_range(path: str, offset: int, length: int) -> bytes:
    """Return up to `length` bytes of a file from `offset` (empty when it does not exist).

    Raises:
        RefusalError: the path exists but is not a readable regular file.
    """
    fd = _open_regular(path, "file")
    if fd is None:
        return b""
    with os.fdopen(fd, "rb") as handle, _translate_os_errors("read", path):
        handle.seek(offset)
        return handle.read(length)


def check_writable(path: str, *, what: str = "file", append: bool = False) -> None:
    """Refuse, before anything is written, a target that a write would fail on or subvert.

    The target must be a regular file or absent (never a symlink, FIFO or folder). A file
    replaced atomically needs a writable folder (or nearest existing ancestor); a file only
    appended to needs to be writable itself when it exists.

    Raises:
        RefusalError: the target cannot be written safely.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise RefusalError(
            ReasonCode.FILE_ERROR, f"cannot write {what} {path}: {exc.strerror}", path=path
        ) from exc
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise RefusalError(
            ReasonCode.FILE_NOT_REGULAR, f"{what} is a symlink, which is refused: {path}", path=path
        )
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise RefusalError(
            ReasonCode.FILE_NOT_REGULAR, f"{what} is not a regular file: {path}", path=path
        )
    if append and info is not None:
        if not os.access(path, os.W_OK):
            raise RefusalError(
                ReasonCode.FILE_ERROR, f"cannot write {what} {path}: it is read-only", path=path
            )
        return
    folder = os.path.dirname(path) or "."
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder) or "."
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise RefusalError(
            ReasonCode.FILE_ERROR,
            f"cannot write {what} {path}: {folder} is not a writable folder",
            path=path,
        )


def symlinked_component(root: str, relative: str) -> str | None:
    """Return the first prefix of `relative` (`/`-separated, below `root`) that is a symlink.

    Walks from `root` down, one `lstat` per component, and stops at the first one missing:
    nothing below it exists to be followed. None when no component is a symlink.
    """
    return first_symlinked(root, [relative])


def first_symlinked(root: str, relatives: Iterable[str]) -> str | None:
    """`symlinked_component` of several paths, in order, each shared folder `lstat`ed once."""
    clear: set[str] = set()
    for relative in relatives:
        walked: list[str] = []
        for part in relative.split("/"):
            if part in ("", "."):
                continue
            walked.append(part)
            prefix = "/".join(walked)
            if prefix in clear:
                continue
            try:
                info = os.lstat(os.path.join(root, prefix))
            except OSError:
                break
            if stat.S_ISLNK(info.st_mode):
                return prefix
            clear.add(prefix)
    return None


def first_duplicate(paths: list[str]) -> tuple[int, int] | None:
    """Return the indexes of two paths that name one file (same path or inode), else None."""
    seen: dict[object, int] = {}
    for index, path in enumerate(paths):
        keys: list[object] = [os.path.normpath(path)]
        try:
            info = os.stat(path)
            keys.append((info.st_dev, info.st_ino))
        except OSError:
            pass
        for key in keys:
            if key in seen:
                return seen[key], index
            seen[key] = index
    return None


def lockable_folder(path: str) -> str:
    """Return the nearest existing folder holding `path` (what to lock for writing it)."""
    folder = os.path.dirname(path) or "."
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder) or "."
    return folder


def crc_and_size(path: str) -> tuple[int, int] | None:
    """Return (CRC-32, size) of a file's bytes, or None when it does not exist.

    Raises:
        RefusalError: the path is not a readable regular file.
    """
    fd = _open_regular(path, "file")
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle, _translate_os_errors("read", path):
        data = handle.read()
    return zlib.crc32(data), len(data)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` atomically: readers see the old or the new file, never a mix.

    Creates missing parent folders. Keeps the permission bits of a file it replaces.
    `durable=False` skips the fsyncs, for derived data that is checked before use.

    Raises:
        RefusalError: the file system refused (permissions, disk full).
    """
    folder = os.path.dirname(path) or "."
    with _translate_os_errors("write", path):
        os.makedirs(folder, exist_ok=True)
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o644
        temp = os.path.join(folder, f".{os.path.basename(path)}{TEMP_MARKER}{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        if durable:
            _fsync_dir(folder)


def append_at(path: str, offset: int, data: bytes) -> None:
    """Make `data` the bytes of `path` from `offset` on (idempotent, so a retry converges).

    Used for whole-line telemetry appends under the repository lock: a partial line left by a
    crash is cut off before the line is written again.

    Raises:
        RefusalError: the file system refused, or the file is shorter than `offset`.
    """
    folder = os.path.dirname(path) or "."
    with _translate_os_errors("append to", path):
        os.makedirs(folder, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                raise RefusalError(
                    ReasonCode.TELEMETRY_CORRUPT,
                    f"telemetry file shrank below {offset} bytes while a write was pending: {path}",
                    path=path,
                )
            if size >= offset + len(data) and os.pread(fd, len(data), offset) == data:
                os.ftruncate(fd, offset + len(data))
            else:
                os.ftruncate(fd, offset)
                view = memoryview(data)
                position = offset
                while view:
                    written = os.pwrite(fd, view, position)
                    view, position = view[written:], position + written
            os.fsync(fd)
        finally:
            os.close(fd)


def append(path: str, data: bytes) -> None:
    """Append `data` with one O_APPEND write and fsync it (creating the file and folders).

    O_APPEND puts the bytes at the end even if another writer appended meanwhile, so a
    concurrent append can never be overwritten.

    Raises:
        RefusalError: the file system refused.
    """
    folder = os.path.dirname(path) or "."
    with _translate_os_errors("append to", path):
        os.makedirs(folder, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)


def remove(path: str, *, durable: bool = True) -> None:
    """Delete a file if it exists (and, when `durable`, make the deletion durable)."""
    with _translate_os_errors("remove", path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        if durable:
            _fsync_dir(os.path.dirname(path) or ".")


def remove_stale_temps(folder: str) -> None:
    """Delete temp files a crashed writer left in `folder` (only ours, by their marker)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if TEMP_MARKER in name and name.startswith("."):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                continue
