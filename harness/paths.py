"""Where data live: ``--data-dir`` > ``$HARNESS_DATA_DIR`` > ``../shared/data`` (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import DataNotFoundError

ENV_VAR = "HARNESS_DATA_DIR"
_DATA_HINT = "a folder holding the datasets; see shared/data/README.md for the accepted layouts"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def resolve_data_dir(data_dir: str | Path | None = None, *, holds: str = _DATA_HINT) -> Path:
    """Find the data folder: ``--data-dir`` > ``$HARNESS_DATA_DIR`` > ``../shared/data``.

    ``../shared/data`` is tried relative to the current directory, then to the repository root. An
    explicitly given folder that does not exist is an error, never skipped. `holds` says in the
    error what the folder should contain.

    Raises:
        DataNotFoundError: the chosen folder does not exist, or none was found.
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"--data-dir {str(data_dir)!r} is not a directory.")
        return path.resolve()
    env = os.environ.get(ENV_VAR, "")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataNotFoundError(f"{ENV_VAR}={env!r} is not a directory.")
        return path.resolve()
    candidates = [Path.cwd() / ".." / "shared" / "data", _repo_root() / ".." / "shared" / "data"]
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    looked = " and ".join(str(c.resolve()) for c in candidates)
    raise DataNotFoundError(
        f"no data directory: --data-dir not given, {ENV_VAR} not set, and {looked} do not exist. "
        f"Pass --data-dir or set {ENV_VAR} to {holds}."
    )
