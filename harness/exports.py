"""Exported result tables (``.csv``, ``.csv.gz``, ``.parquet``) and their sidecar.

``write_export(frame, "x.csv.gz", configs)`` writes the table, then ``x.configs.json``: the
configurations ``{config_hash: configuration}`` plus a completeness record under ``"_export"``
(file name, format, row count and SHA-256 of the table's bytes). Both files are written
atomically and the sidecar last, so a table without its sidecar, or whose bytes differ from the
record, is incomplete -- an export stopped midway, a copy that left the sidecar behind, a file
edited since -- and `read_export` refuses it unless asked to accept it (``--accept-partial``).

Values keep full precision: floats are written as their shortest exact decimal (and parsed back
exactly), ±inf as ``inf`` / ``-inf``, NaN as an empty field, and gzip
members carry no time stamp, so the same rows always give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import zlib
from collections.abc import Mapping
from pathlib import Path

from harness import __version__
from harness.atomic import atomic_path, write_text
from harness.checksums import file_sha256
from harness.errors import DataNotFoundError, InputError

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
#: Sidecar key of the completeness record (never a config hash: those are 16 hex digits).
RECORD_KEY = "_export"
_PARTIAL_HINT = "re-export it, or pass --accept-partial to read it as it is"


def table_format(path: str | Path) -> str:
    """``csv``, ``csv.gz`` or ``parquet`` from the file name.

    Raises:
        InputError: any other suffix.
    """
    name = Path(path).name.lower()
    for suffix in (".csv.gz", ".csv", ".parquet"):
        if name.endswith(suffix):
            return suffix[1:]
    raise InputError(
        f"unsupported table file {str(path)!r}: the name must end in {', '.join(TABLE_SUFFIXES)}."
    )


def configs_sidecar(path: str | Path) -> Path:
    """The sidecar of an exported table: ``x.csv.gz`` -> ``x.configs.json``."""
    path = Path(path)
    name = path.name
    for suffix in TABLE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(f"{name}.configs.json")


def write_export(frame, path: str | Path, configs: Mapping[str, dict]) -> dict:
    """Write `frame` to `path` (format from the name) and then its sidecar; return the record.

    Raises:
        InputError: an unsupported file name, or Parquet without pyarrow.
        OSError: the files cannot be written (nothing is left at either destination then).
    """
    path = Path(path)
    fmt = table_format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            try:
                frame.to_parquet(tmp, index=False)
            except ImportError as err:
                raise InputError(f"Parquet output needs pyarrow: {err}.") from None
        else:
            with open(tmp, "wb") as raw:
                # No time stamp in the gzip header: equal rows give equal bytes.
                stream = (
                    gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0)
                    if fmt == "csv.gz"
                    else raw
                )
                with io.TextIOWrapper(stream, encoding="utf-8", newline="") as text:
                    frame.to_csv(text, index=False, lineterminator="\n")
    record = {
        "file": path.name,
        "format": fmt,
        "rows": int(len(frame)),
        "sha256": file_sha256(path),
        "harness_version": __version__,
    }
    sidecar = {**{str(k): v for k, v in configs.items()}, RECORD_KEY: record}
    write_text(
        configs_sidecar(path), json.dumps(sidecar, indent=2, sort_keys=True, default=str) + "\n"
    )
    return record


def _read_sidecar(path: Path, accept_partial: bool) -> tuple[dict, dict | None]:
    """(configs, completeness record or None) of the table at `path`."""
    side = configs_sidecar(path)
    if not side.is_file():
        if not accept_partial:
            raise InputError(
                f"{str(path)!r} has no sidecar {side.name}: the export is incomplete (stopped before it "
                f"finished) or was copied without it; copy the sidecar along, {_PARTIAL_HINT}."
            )
        log.warning("%s has no sidecar %s; reading it as it is (--accept-partial)", path, side.name)
        return {}, None
    try:
        configs = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the sidecar {str(side)!r}: {err}") from None
    if not isinstance(configs, dict):
        raise InputError(f"sidecar {str(side)!r} must hold a JSON object {{config_hash: config}}.")
    record = configs.pop(RECORD_KEY, None)
    if record is not None and not (
        isinstance(record, dict)
        and isinstance(record.get("sha256"), str)
        and isinstance(record.get("rows"), int)
    ):
        raise InputError(
            f"sidecar {str(side)!r}: its {RECORD_KEY!r} record is damaged ({record!r})."
        )
    return configs, record


def _parse(path: Path):
    import pandas as pd

    try:
        if table_format(path) == "parquet":
            return pd.read_parquet(path)
        # Only empty fields are missing: the status column holds the literal word "nan". Exact
        # float parsing is pandas 3's default; pandas 2 needs it asked for (deprecated in 3).
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
        return pd.read_csv(path, keep_default_na=False, na_values=[""], **exact)
    except ImportError as err:
        raise InputError(f"cannot read {str(path)!r}: Parquet needs pyarrow ({err}).") from None
    except (OSError, ValueError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        # truncated or corrupt compression, a torn or garbled file, not a table at all
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"cannot read results table {str(path)!r}: {reason}") from None


def read_export(path: str | Path, *, accept_partial: bool = False):
    """An exported table and its configurations, after checking that the table is complete.

    A table is complete when its sidecar is present and the table's SHA-256 and row count match the
    sidecar's record. A sidecar without a record (written by an older harness) is accepted with a
    warning; `accept_partial` reads an incomplete table anyway, with a warning.

    Returns:
        (DataFrame, {config_hash: configuration}); configurations are {} without a sidecar.

    Raises:
        DataNotFoundError: no file at `path`.
        InputError: an incomplete table (unless `accept_partial`), an unreadable table or sidecar.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"results table not found: {str(path)!r}.")
    configs, record = _read_sidecar(path, accept_partial)
    if record is None:
        if configs_sidecar(path).is_file():
            log.warning(
                "%s: its sidecar has no completeness record (an export of an older harness); "
                "re-export it to have it checked",
                path,
            )
    elif file_sha256(path) != record["sha256"]:
        message = (
            f"{str(path)!r} is not the table its sidecar {configs_sidecar(path).name} describes "
            f"({record['rows']} rows, sha256 {record['sha256'][:12]}...): the export is incomplete "
            f"or the file was changed since"
        )
        if not accept_partial:
            raise InputError(f"{message}; {_PARTIAL_HINT}.")
        log.warning("%s; reading it as it is (--accept-partial)", message)
        record = None
    frame = _parse(path)
    if record is not None and len(frame) != record["rows"]:
        raise InputError(
            f"{str(path)!r} has {len(frame)} rows; its sidecar records {record['rows']}."
        )
    return frame, configs
