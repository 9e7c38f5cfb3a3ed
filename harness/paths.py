"""Where data live (torch-free): ``--data-dir`` > ``$HARNESS_DATA_DIR`` > the user cache > the
sample embedded in the package.

A data root is a folder in the layout of ``docs/data.md`` (``images/``, ``nb201/``,
``cifar-10-batches-py/``, ...). An explicit root (``--data-dir`` or ``$HARNESS_DATA_DIR``) is the
only one searched, so a missing dataset there is an error naming it, never a silent switch to
other data. Without one, each dataset is read from the first of the user cache (where ``harness
data download`` writes) and the embedded sample that holds it. Results record the root's origin
and the file's path inside it, never an absolute machine path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DataNotFoundError

ENV_VAR = "HARNESS_DATA_DIR"
CACHE_ENV_VAR = "HARNESS_CACHE"
#: The package's own data root: the NB201 table and the first 4,000 CIFAR-10 training images.
EMBEDDED_DIR = Path(__file__).resolve().parent / "sample_data"

#: Origins of a data root, highest priority first.
ORIGINS = ("--data-dir", f"${ENV_VAR}", "cache", "embedded")


@dataclass(frozen=True)
class DataRoot:
    """A folder data are read from, and why it was chosen (one of `ORIGINS`)."""

    path: Path
    origin: str

    def label(self, file: str | Path) -> str:
        """``origin:relative/path`` of a file under this root, as results record it."""
        return f"{self.origin}:{relative_to(file, self.path)}"


def relative_to(file: str | Path, root: Path) -> str:
    """`file`'s path inside `root` (POSIX form), or its name when it lies elsewhere."""
    file = Path(file)
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file.name


def cache_dir() -> Path:
    """The user cache: ``$HARNESS_CACHE``, else ``$XDG_CACHE_HOME/harness``, else
    ``~/.cache/harness`` (it need not exist yet)."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "harness"


def explicit_root(data_dir: str | Path | None = None) -> DataRoot | None:
    """``--data-dir`` or ``$HARNESS_DATA_DIR`` when given.

    Raises:
        DataNotFoundError: the given folder does not exist (never skipped).
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"--data-dir {str(data_dir)!r} is not a directory.")
        return DataRoot(path.resolve(), "--data-dir")
    env = os.environ.get(ENV_VAR, "")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"{ENV_VAR}={env!r} is not a directory.")
        return DataRoot(path.resolve(), f"${ENV_VAR}")
    return None


def data_roots(data_dir: str | Path | None = None) -> list[DataRoot]:
    """The roots to search, in order: the explicit one alone, else the cache (when it exists) and
    the embedded sample."""
    explicit = explicit_root(data_dir)
    if explicit is not None:
        return [explicit]
    roots = []
    cache = cache_dir()
    if cache.is_dir():
        roots.append(DataRoot(cache.resolve(), "cache"))
    roots.append(DataRoot(EMBEDDED_DIR, "embedded"))
    return roots


def all_roots(data_dir: str | Path | None = None) -> list[DataRoot]:
    """Every root there is, explicit ones included, for ``harness data status``."""
    roots = []
    if data_dir is not None:
        roots.append(explicit_root(data_dir))
    env = os.environ.get(ENV_VAR, "")
    if env and Path(env).expanduser().is_dir():
        roots.append(DataRoot(Path(env).expanduser().resolve(), f"${ENV_VAR}"))
    if cache_dir().is_dir():
        roots.append(DataRoot(cache_dir().resolve(), "cache"))
    roots.append(DataRoot(EMBEDDED_DIR, "embedded"))
    return roots


def describe_roots(roots: list[DataRoot]) -> str:
    """``--data-dir /x`` / ``cache ~/.cache/harness and the embedded sample`` for error messages."""
    return " and ".join(
        "the embedded sample" if r.origin == "embedded" else f"{r.origin} {r.path}" for r in roots
    )


def display_path(path: str | Path) -> str:
    """A user-given file as results may show it: relative to the working directory when below it,
    else its name (no absolute machine path in results)."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.name
