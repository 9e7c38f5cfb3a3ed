"""Atomic file writing: every file the harness writes appears whole or not at all.

A file is written to a temporary file in the destination's folder (``.<name>.<pid>.<random>.tmp``),
flushed and fsynced, then renamed over the destination (``os.replace``, atomic on POSIX and on
Windows within one file system) and the folder is fsynced. A process killed at any moment leaves
the previous file (or none) at the destination, at worst plus a hidden ``.tmp`` file beside it.
Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from harness.errors import InputError


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path next to `path`; when the block ends without an exception the
    file written there is fsynced and renamed to `path`, otherwise it is removed.

    For writers that want a file name (``DataFrame.to_parquet``, ``Figure.savefig``,
    ``torch.save``); they must not infer the format from the name, which ends in ``.tmp``.
    The temporary file is created empty with the usual permissions (0o666 less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO]:
    """``open()`` for writing whole files atomically: text (``"w"``, UTF-8 by default) or ``"wb"``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb'; got {mode!r}.")
    with atomic_path(path) as tmp:
        handle = (
            open(tmp, "wb") if mode == "wb" else open(tmp, "w", encoding=encoding, newline=newline)
        )
        with handle:
            yield handle


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (newlines written as given); return the path."""
    with atomic_open(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; return the path."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def check_writable_dir(directory: str | Path, what: str) -> Path:
    """Make sure files can be created in `directory`, before any work; leaves nothing behind (the
    folders it had to create for the check are removed again).

    Raises:
        InputError: the folder cannot be created or written (read-only storage, permissions, a file
            in the way), with one line naming it.
    """
    directory = Path(directory)
    created = []
    try:
        for folder in reversed([directory, *directory.parents]):
            if not folder.exists():
                folder.mkdir()
                created.append(folder)
        probe = _temporary_name(directory / "write-check")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as err:
        raise InputError(
            f"cannot write {what} to {str(directory)!r}: {err.strerror or err}."
        ) from None
    finally:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
    return directory
