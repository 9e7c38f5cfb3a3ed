"""SHA-256 of files: one file's bytes, a list of files, or every file below a folder.

Image sets, benchmark sources and exported tables record these digests, so the two listing
formats below are fixed: changing one would change every checksum recorded with a result.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

_BLOCK = 1 << 22  # bytes read at a time: large files are never held in memory whole


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of the file's bytes, read afresh on every call."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=256)
def _remembered_sha256(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime_ns are part of the key only: a file rewritten since gets a fresh digest.
    return file_sha256(path)


def cached_file_sha256(path: str | Path) -> str:
    """`file_sha256`, remembered per file while its size and modification time stay the same.

    For data files, which every load of an image set hashes again.
    Integrity checks use `file_sha256`: an in-place rewrite of the same size within the file
    system's timestamp resolution would go unseen here.
    """
    st = Path(path).stat()
    return _remembered_sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def files_sha256(paths: Sequence[Path]) -> str:
    """SHA-256 of one file, or of the ``<name> <sha256>`` lines of several (in the given order).

    Each file goes through `cached_file_sha256`.
    """
    if len(paths) == 1:
        return cached_file_sha256(paths[0])
    lines = "".join(f"{p.name} {cached_file_sha256(p)}\n" for p in paths)
    return hashlib.sha256(lines.encode()).hexdigest()


def tree_sha256(folder: Path) -> str:
    """SHA-256 of the ``sha256sum``-style listing of every file below `folder`.

    One ``<sha256>  <path relative to folder>`` line per file, sorted by that path.
    """
    listing = "".join(
        f"{file_sha256(p)}  {p.relative_to(folder).as_posix()}\n"
        for p in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix())
        if p.is_file()
    )
    return hashlib.sha256(listing.encode()).hexdigest()
