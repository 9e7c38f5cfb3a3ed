"""`load_benchmark`: NB201 accuracies from the shared table, an official NB201 ``.pth`` or
NATS-Bench TSS, as one `Benchmark`; the table's reader."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.bench.cells import cell_index, check_arch_order
from harness.bench.keys import (
    ALL_KEYS,
    NATS_TSS_DIRS,
    NB201_FILES,
    PBZ2,
    TABLE_COLUMNS,
    TABLE_FILE,
    TABLE_NAMES,
)
from harness.bench.official import read_cache, read_nats_tss, read_nb201_pth, write_cache
from harness.checksums import file_sha256, tree_sha256
from harness.errors import DataNotFoundError, InputError, unknown_name
from harness.paths import data_roots, describe_roots, display_path
from harness.spaces import nb201

_EXPECTED = (
    f"expected the table {TABLE_FILE}, an official NB201 file ({' or '.join(NB201_FILES)}) "
    f"or a NATS-Bench TSS directory ({NATS_TSS_DIRS[0]}/ with meta{PBZ2})"
)


@dataclass(frozen=True)
class BenchmarkSource:
    """What a `Benchmark` was read from, enough for a report to name it exactly."""

    kind: str  # "table" | "nb201" | "nats-tss"
    path: str  # ``origin:path inside the data root`` (harness.paths), or the file as the user named it
    sha256: str  # of the file; for a directory, of its `sha256sum`-style listing (sorted names)
    sha256_of: str  # "file" | "listing"


class Benchmark:
    """Accuracies (percent) of all 15,625 NB201 cells under the metric keys one source holds.

    Attributes:
        frame: DataFrame indexed by NB201 index (0..15624, name ``index``) with ``arch_str`` and
            one float column per metric key; NaN where the source does not cover a cell.
        source: the `BenchmarkSource` it was read from.
    """

    def __init__(self, frame: pd.DataFrame, source: BenchmarkSource):
        _check_accuracies(frame, source.path)
        self.frame = frame
        self.source = source

    @property
    def keys(self) -> list[str]:
        """Metric keys this source has, in `metric_keys()` order."""
        return [c for c in self.frame.columns if c != "arch_str"]

    def _check_key(self, key: str) -> str:
        if key in self.frame.columns and key != "arch_str":
            return key
        if key in ALL_KEYS:
            raise InputError(
                f"benchmark metric {key!r} is not in the {self.source.kind} source "
                f"{self.source.path}. Available: {', '.join(self.keys)}."
            )
        raise unknown_name("benchmark metric", str(key), self.keys)

    def accuracy(self, index: int, key: str) -> float:
        """Accuracy (percent) of cell `index` under `key`.

        Raises:
            InputError: unknown key, index out of range, or a cell the source does not cover
                (e.g. `cifar100/x-valid@200` in the shared table, which holds 289 cells).
        """
        key = self._check_key(key)
        index = cell_index(index)
        value = float(self.frame.at[index, key])
        if math.isnan(value):
            raise InputError(
                f"benchmark metric {key!r} has no value for NB201 index {index} in "
                f"{self.source.path} ({self.coverage()[key]} of {nb201.NUM_CELLS} cells covered)."
            )
        return value

    def accuracies(self, key: str) -> pd.Series:
        """All cells' accuracies under `key`, indexed by NB201 index (NaN where not covered)."""
        return self.frame[self._check_key(key)].copy()

    def arch_str(self, index: int) -> str:
        return str(self.frame.at[cell_index(index), "arch_str"])

    def coverage(self) -> dict[str, int]:
        """Number of cells with a value, per metric key."""
        return {k: int(self.frame[k].notna().sum()) for k in self.keys}

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of the source (kind, path, checksum) and of every key's coverage."""
        return {
            **asdict(self.source),
            "cells": len(self.frame),
            "keys": self.keys,
            "coverage": self.coverage(),
        }

    def __repr__(self) -> str:
        return f"Benchmark({self.source.kind}, {self.source.path!r}, {len(self.keys)} metrics)"


def _check_accuracies(frame: pd.DataFrame, where: str) -> None:
    """Accuracies are percentages: each one in [0, 100], or NaN where the source lacks a cell."""
    for key in frame.columns:
        if key == "arch_str":
            continue
        values = frame[key].to_numpy(dtype=float)
        bad = ~np.isnan(values) & ~((values >= 0) & (values <= 100))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{where}: {int(bad.sum())} {key} accuracies lie outside 0-100 %, e.g. {values[i]!r} "
                f"at index {frame.index[i]}; NB201 accuracies are percentages."
            )


def load_benchmark(
    source: str | Path | None = None,
    data_dir: str | Path | None = None,
    *,
    cache_path: str | Path | None = None,
    progress: bool | None = None,
) -> Benchmark:
    """Read NB201 accuracies from the shared table, an official NB201 `.pth` or NATS-Bench TSS.

    The reader is chosen by what `source` is: a ``.csv`` file (or a folder holding
    ``nb201_accuracy.csv``) is the table; a ``.pth`` file is NAS-Bench-201 (v1_0 / v1_1); a folder
    with ``meta.pickle.pbz2`` is NATS-Bench TSS in fast mode (``NATS-tss-v1_0-3ffb9-simple/`` or
    ``-full/``), a ``.pickle.pbz2`` file the single-file NATS-Bench TSS. The cells' arch strings
    must follow `harness.spaces.nb201`'s index order.

    Args:
        source: benchmark file or folder; None reads ``nb201/nb201_accuracy.csv[.gz]`` from the
            first data root holding it (`harness.paths`: the embedded table by default).
        data_dir: the data root for the default source (``--data-dir``); None: ``HARNESS_DATA_DIR``
            when set, else the user cache, then the embedded sample.
        cache_path: optional Parquet file that keeps the frame extracted from an official file
            (reading all cells through the official APIs takes minutes). It is reused only while
            the source's SHA-256 matches the one recorded in it, and rewritten otherwise.
        progress: show a tqdm bar on stderr while reading official files; None shows it only
            when stderr is a terminal.

    Raises:
        DataNotFoundError: `source` (or the default table) does not exist.
        InputError: the file is unreadable or corrupt, is not a benchmark file, or its cells
            are not in the NB201 index order.
    """
    if source is None:
        path, shown = _default_table(data_dir)
        kind, path = _classify(path)
    else:
        kind, path = _classify(Path(source).expanduser())
        shown = display_path(path)
    if path.is_file():
        src = BenchmarkSource(kind=kind, path=shown, sha256=file_sha256(path), sha256_of="file")
    else:
        src = BenchmarkSource(kind=kind, path=shown, sha256=tree_sha256(path), sha256_of="listing")
    if kind == "table":
        return Benchmark(_read_table(path), src)
    if cache_path is not None:
        cached = read_cache(Path(cache_path), src.sha256, src.path)
        if cached is not None:
            return Benchmark(cached, src)
    reader = read_nb201_pth if kind == "nb201" else read_nats_tss
    frame = reader(path, disable=None if progress is None else not progress)
    if cache_path is not None:
        write_cache(Path(cache_path), frame, asdict(src))
    return Benchmark(frame, src)


def _default_table(data_dir: str | Path | None) -> tuple[Path, str]:
    """The table in the first data root holding ``nb201/nb201_accuracy.csv[.gz]``, and its label."""
    roots = data_roots(data_dir)
    for root in roots:
        for name in TABLE_NAMES:
            path = root.path / "nb201" / name
            if path.is_file():
                return path, root.label(path)
    raise DataNotFoundError(
        f"NB201 table nb201/{TABLE_FILE}[.gz] not found in {describe_roots(roots)}; pass --bench "
        f"with the table, an official NB201 .pth or a NATS-Bench TSS folder, or --data-dir with "
        f"a folder holding nb201/{TABLE_FILE}."
    )


def _classify(path: Path) -> tuple[str, Path]:
    if not path.exists():
        raise DataNotFoundError(f"NB201 benchmark not found: {path}; {_EXPECTED}.")
    if path.is_dir():
        if (path / f"meta{PBZ2}").is_file():
            return "nats-tss", path
        for table in TABLE_NAMES:
            if (path / table).is_file():
                return "table", path / table
        raise DataNotFoundError(
            f"NB201 benchmark folder {path} holds neither {TABLE_FILE} nor meta{PBZ2}; {_EXPECTED}."
        )
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "table", path
    if name.endswith(".pth"):
        return "nb201", path
    if name.endswith(PBZ2):
        return "nats-tss", path
    raise InputError(f"cannot tell which NB201 benchmark format {path} is; {_EXPECTED}.")


def _read_table(path: Path) -> pd.DataFrame:
    """The shared table (``index``, ``arch_str`` and one column per key of `TABLE_COLUMNS`)."""
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the NB201 table {path}: {err}".splitlines()[0]) from None
    needed = ["index", "arch_str", *TABLE_COLUMNS.values()]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path} is not an NB201 accuracy table: missing columns {', '.join(missing)}."
        )
    if not raw["index"].equals(pd.Series(range(len(raw)), name="index")):
        raise InputError(f"{path}: the 'index' column must run 0..{len(raw) - 1} in order.")
    check_arch_order(raw["arch_str"], path)
    index = raw["index"].rename("index")
    frame = pd.DataFrame({"arch_str": raw["arch_str"].astype(str)}, index=index)
    for key in ALL_KEYS:
        if key in TABLE_COLUMNS:
            try:
                frame[key] = pd.to_numeric(raw[TABLE_COLUMNS[key]]).astype("float64").to_numpy()
            except (ValueError, TypeError):
                raise InputError(
                    f"{path}: column {TABLE_COLUMNS[key]!r} ({key}) holds non-numeric values."
                ) from None
    return frame
