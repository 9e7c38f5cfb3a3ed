"""NB201 accuracy lookup: the harness's only reader of benchmark accuracies.

Three sources give one `Benchmark`: the shared table (`nb201_accuracy.csv`), the official
NAS-Bench-201 `.pth` (through `nas_201_api`) and NATS-Bench TSS (through `nats_bench`).
Metrics are named in NB201's own words, ``<dataset>/<split>@<epochs>``. Torch is imported only
inside the `.pth` reader, so reports can import this module on a machine without torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from harness.atomic import atomic_path
from harness.errors import DataNotFoundError, InputError, unknown_name
from harness.paths import data_roots, describe_roots, display_path
from harness.spaces import nb201

log = logging.getLogger(__name__)

# ---- metric keys -----------------------------------------------------------------------------
# The splits NB201 evaluates for each training set (ArchResults.get_metrics' docstring):
# cifar10-valid trains on 25k and validates on the other 25k; cifar10 trains on all 50k;
# for cifar100 / ImageNet16-120 `ori-test` is the union of `x-valid` and `x-test`.
SPLITS: dict[str, tuple[str, ...]] = {
    "cifar10-valid": ("x-valid", "ori-test", "train"),
    "cifar10": ("ori-test", "train"),
    "cifar100": ("x-valid", "x-test", "ori-test", "train"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test", "train"),
}
DATASETS: tuple[str, ...] = tuple(SPLITS)
EPOCHS: tuple[int, ...] = (200, 12)  # NB201's `hp`: the 200-epoch and the 12-epoch schedule

_ALL_KEYS: tuple[str, ...] = tuple(
    f"{ds}/{split}@{ep}" for ep in EPOCHS for ds, splits in SPLITS.items() for split in splits
)

# design.md: CIFAR-10 ranks by the cifar10-valid validation mean; CIFAR-100 / ImageNet16-120
# use x-test because their full-coverage valid means are not in the shared table.
DEFAULT_METRIC: dict[str, str] = {
    "cifar10": "cifar10-valid/x-valid@200",
    "cifar100": "cifar100/x-test@200",
    "ImageNet16-120": "ImageNet16-120/x-test@200",
}

# Metric key -> column of the shared table (see the data README). One column per key.
TABLE_COLUMNS: dict[str, str] = {
    "cifar10-valid/x-valid@200": "cifar10_valid_acc",
    "cifar10-valid/ori-test@200": "cifar10valid_test_acc",
    "cifar10-valid/train@200": "cifar10valid_train_acc",
    "cifar10/ori-test@200": "cifar10_test_acc",
    "cifar100/x-valid@200": "cifar100_valid_acc",
    "cifar100/x-test@200": "cifar100_test_acc",
    "ImageNet16-120/x-valid@200": "imagenet16_valid_acc",
    "ImageNet16-120/x-test@200": "imagenet16_test_acc",
    "cifar10-valid/x-valid@12": "cifar10_valid_acc_12ep",
    "cifar10/ori-test@12": "cifar10_test_acc_12ep",
    "cifar100/x-valid@12": "cifar100_valid_acc_12ep",
    "cifar100/x-test@12": "cifar100_test_acc_12ep",
    "ImageNet16-120/x-valid@12": "imagenet16_valid_acc_12ep",
    "ImageNet16-120/x-test@12": "imagenet16_test_acc_12ep",
}
if len(set(TABLE_COLUMNS.values())) != len(TABLE_COLUMNS):  # two keys never share a field
    raise RuntimeError("harness.bench.TABLE_COLUMNS maps two metric keys to one column")

TABLE_FILE = "nb201_accuracy.csv"
TABLE_NAMES = (TABLE_FILE, f"{TABLE_FILE}.gz")  # the embedded copy is gzip-compressed
NB201_FILES = ("NAS-Bench-201-v1_0-e61699.pth", "NAS-Bench-201-v1_1-096897.pth")
NATS_TSS_DIRS = ("NATS-tss-v1_0-3ffb9-simple", "NATS-tss-v1_0-3ffb9-full")
_PBZ2 = ".pickle.pbz2"  # nats_bench.api_utils.PICKLE_EXT
_NATS_ARCH_FILE = re.compile(r"^(\d+)\.pickle\.pbz2$")
_CACHE_VERSION = 1

_EXPECTED = (
    f"expected the table {TABLE_FILE}, an official NB201 file ({' or '.join(NB201_FILES)}) "
    f"or a NATS-Bench TSS directory ({NATS_TSS_DIRS[0]}/ with meta{_PBZ2})"
)


def metric_keys() -> list[str]:
    """Every metric key the harness knows, in NB201's words (a source may hold fewer)."""
    return list(_ALL_KEYS)


def parse_key(key: str) -> tuple[str, str, int]:
    """Split ``'cifar100/x-test@200'`` into ``('cifar100', 'x-test', 200)``; unknown keys raise."""
    if key not in _ALL_KEYS:
        raise unknown_name("benchmark metric", str(key), _ALL_KEYS)
    dataset, _, rest = key.partition("/")
    split, _, epochs = rest.partition("@")
    return dataset, split, int(epochs)


def default_metric(dataset: str) -> str:
    """The metric reports use for the proxy dataset `dataset` (design.md conventions)."""
    try:
        return DEFAULT_METRIC[dataset]
    except KeyError:
        raise unknown_name("dataset", dataset, DEFAULT_METRIC) from None


# ---- the lookup object ---------------------------------------------------------------------
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
        if key in _ALL_KEYS:
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
        index = _cell_index(index)
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
        return str(self.frame.at[_cell_index(index), "arch_str"])

    def coverage(self) -> dict[str, int]:
        """Number of cells with a value, per metric key."""
        return {k: int(self.frame[k].notna().sum()) for k in self.keys}

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of the source (kind, path, checksum) and of every key's coverage."""
        return {**asdict(self.source), "cells": len(self.frame), "keys": self.keys,
                "coverage": self.coverage()}

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


def _cell_index(index) -> int:
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        index = int(index)  # numpy integers, as pandas hands them out
    return nb201.check_index(index)


# ---- entry point -----------------------------------------------------------------------------
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
    digest, digest_of = _sha256(path)
    src = BenchmarkSource(kind=kind, path=shown, sha256=digest, sha256_of=digest_of)
    if kind == "table":
        return Benchmark(_read_table(path), src)
    if cache_path is not None:
        cached = _read_cache(Path(cache_path), src)
        if cached is not None:
            return Benchmark(cached, src)
    reader = _read_nb201_pth if kind == "nb201" else _read_nats_tss
    frame = reader(path, disable=None if progress is None else not progress)
    if cache_path is not None:
        _write_cache(Path(cache_path), frame, src)
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
        if (path / f"meta{_PBZ2}").is_file():
            return "nats-tss", path
        for table in TABLE_NAMES:
            if (path / table).is_file():
                return "table", path / table
        raise DataNotFoundError(
            f"NB201 benchmark folder {path} holds neither {TABLE_FILE} nor meta{_PBZ2}; "
            f"{_EXPECTED}."
        )
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "table", path
    if name.endswith(".pth"):
        return "nb201", path
    if name.endswith(_PBZ2):
        return "nats-tss", path
    raise InputError(f"cannot tell which NB201 benchmark format {path} is; {_EXPECTED}.")


def _sha256(path: Path) -> tuple[str, str]:
    if path.is_file():
        return _file_sha256(path), "file"
    listing = "".join(
        f"{_file_sha256(p)}  {p.relative_to(path).as_posix()}\n"
        for p in sorted(path.rglob("*"), key=lambda p: p.relative_to(path).as_posix())
        if p.is_file()
    )
    return hashlib.sha256(listing.encode()).hexdigest(), "listing"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_arch_order(arch_strs: Iterable[str], path: Path) -> None:
    """The source's cell list must be the space's: same length, same string at every index."""
    got = list(arch_strs)
    want = [str(a) for a in nb201.all_archs()]
    if len(got) != len(want):
        raise InputError(
            f"{path} lists {len(got)} architectures; an NB201 benchmark has {len(want)}."
        )
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    if bad:
        i = bad[0]
        raise InputError(
            f"{path} does not follow the NB201 index order: index {i} is {got[i]!r} there but "
            f"{want[i]!r} in harness.spaces.nb201 ({len(bad)} of {len(want)} indices differ)."
        )


# ---- (a) the shared table ------------------------------------------------------------------
def _read_table(path: Path) -> pd.DataFrame:
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
    _check_arch_order(raw["arch_str"], path)
    index = raw["index"].rename("index")
    frame = pd.DataFrame({"arch_str": raw["arch_str"].astype(str)}, index=index)
    for key in _ALL_KEYS:
        if key in TABLE_COLUMNS:
            try:
                frame[key] = pd.to_numeric(raw[TABLE_COLUMNS[key]]).astype("float64").to_numpy()
            except (ValueError, TypeError):
                raise InputError(
                    f"{path}: column {TABLE_COLUMNS[key]!r} ({key}) holds non-numeric values."
                ) from None
    return frame


# ---- (b), (c) the official files -----------------------------------------------------------
def _archresults_frame(
    meta_archs: list[str], items: Iterator[tuple[int, Mapping[str, Any]]], total: int,
    path: Path, disable: bool | None,
) -> pd.DataFrame:
    """Means over seeds (``get_metrics(..., is_random=False)``) of every key, per cell.

    `items` yields ``(index, {hp: ArchResults})``; a dataset, split or schedule a cell lacks
    stays NaN (NB201 v1_0, for one, trained 12-epoch nets on cifar10-valid only).
    """
    values = {key: np.full(len(meta_archs), np.nan) for key in _ALL_KEYS}
    parsed = [(key, *parse_key(key)) for key in _ALL_KEYS]
    bar = tqdm(items, total=total, desc=f"reading {path.name}", unit="cell", file=sys.stderr,
               disable=disable)
    for index, by_hp in bar:
        if not 0 <= index < len(meta_archs):
            raise InputError(
                f"{path} holds results for cell {index}, outside 0..{len(meta_archs) - 1}."
            )
        for res in by_hp.values():
            if res.arch_str != meta_archs[index]:
                raise InputError(
                    f"{path}: the results stored for index {index} are for {res.arch_str!r}, "
                    f"not {meta_archs[index]!r}."
                )
        for key, dataset, split, epochs in parsed:
            res = by_hp.get(str(epochs))
            if res is None:
                continue
            if dataset not in res.get_dataset_names():
                continue
            trials = res.query(dataset).values()
            if split != "train" and not all(split in t.get_eval_set() for t in trials):
                continue
            acc = res.get_metrics(dataset, split, iepoch=None, is_random=False)["accuracy"]
            if acc is not None:
                values[key][index] = float(acc)
    frame = pd.DataFrame({"arch_str": meta_archs, **values})
    frame.index.name = "index"
    empty = [k for k in _ALL_KEYS if np.isnan(values[k]).all()]
    return frame.drop(columns=empty)


def _reason(err: Exception) -> str:
    """One line from a reader's exception (torch's weights-only errors span a paragraph)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for k, line in enumerate(lines):
        if "WeightsUnpickler error" in line:
            detail = line[line.index("WeightsUnpickler error"):]
            if detail.endswith(":") and k + 1 < len(lines):
                detail = f"{detail} {lines[k + 1]}"
            return f"not a plain torch pickle of results ({detail.split('. Please')[0]})"
    return lines[0] if lines else type(err).__name__


def _numpy_safe_globals() -> list:
    """Numpy scalars, the only non-primitive objects an accuracy record may pickle."""
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    types = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype]
    types += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return types


def _read_nb201_pth(path: Path, disable: bool | None = None) -> pd.DataFrame:
    import torch  # the .pth is a torch pickle; nothing else here needs torch
    from nas_201_api import ArchResults

    # weights_only keeps a hostile file from running code; numpy scalars are allowed on top.
    try:
        if hasattr(torch.serialization, "safe_globals"):  # torch >= 2.5
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                data = torch.load(path, map_location="cpu", weights_only=True)
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged pickle can raise almost anything; report it as input
        raise InputError(f"cannot read {path} as a NAS-Bench-201 file: {_reason(err)}") from None
    needed = ("meta_archs", "arch2infos", "evaluated_indexes")  # NASBench201API.__init__'s check
    if not isinstance(data, dict) or any(k not in data for k in needed):
        have = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise InputError(
            f"{path} is not a NAS-Bench-201 file: expected a dict with keys {', '.join(needed)}; "
            f"got {have}."
        )
    meta = list(data["meta_archs"])
    _check_arch_order(meta, path)
    infos = data["arch2infos"]

    # NASBench201API.__init__ builds the same objects for every cell up front ('less' = the
    # 12-epoch schedule, 'full' = 200) after deep-copying the whole file; building them one cell
    # at a time keeps the multi-GB v1_1 file to a single copy in memory.
    def items() -> Iterator[tuple[int, Mapping[str, Any]]]:
        for i in sorted(infos):
            try:
                by_hp = {"12": ArchResults.create_from_state_dict(infos[i]["less"]),
                         "200": ArchResults.create_from_state_dict(infos[i]["full"])}
            except Exception as err:  # as above: a damaged record
                raise InputError(
                    f"{path}: cannot read the results of cell {i}: {_reason(err)}"
                ) from None
            yield int(i), by_hp

    return _archresults_frame(meta, items(), len(infos), path, disable)


def _read_nats_tss(path: Path, disable: bool | None = None) -> pd.DataFrame:
    import nats_bench
    from nats_bench.api_utils import ArchResults

    fast = path.is_dir()
    try:
        api = nats_bench.create(str(path), "tss", fast_mode=fast, verbose=False)
    except Exception as err:  # bz2 / pickle errors on a damaged file vary by cause
        raise InputError(
            f"cannot read {path} as a NATS-Bench TSS benchmark: {_reason(err)}"
        ) from None
    meta = list(api.meta_archs)
    _check_arch_order(meta, path)
    if not fast:
        indices = sorted(api.arch2infos_dict)
        items = ((i, api.arch2infos_dict[i]) for i in indices)
        return _archresults_frame(meta, items, len(indices), path, disable)

    # Fast mode keeps one file per cell ({index:06d}.pickle.pbz2, as NATStopology.reload names
    # them); read each once and let it go, instead of caching 15,625 cells in the API object.
    files = {}
    for p in path.iterdir():
        match = _NATS_ARCH_FILE.match(p.name)
        if match and 0 <= int(match.group(1)) < len(meta):
            files.setdefault(int(match.group(1)), p)
    if len(files) < len(meta):
        log.warning("%s has result files for %d of %d cells; the others are NaN.",
                    path, len(files), len(meta))

    def items() -> Iterator[tuple[int, Mapping[str, Any]]]:
        for i in sorted(files):
            try:
                state = nats_bench.pickle_load(str(files[i]))
                by_hp = {hp: ArchResults.create_from_state_dict(s) for hp, s in state.items()}
            except Exception as err:  # as above: a damaged per-cell pickle
                raise InputError(
                    f"cannot read {files[i]} (NATS-Bench cell {i}): {_reason(err)}"
                ) from None
            yield i, by_hp

    return _archresults_frame(meta, items(), len(files), path, disable)


# ---- cache -----------------------------------------------------------------------------------
_CACHE_META = b"harness.bench"


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "cache_path needs pyarrow to write Parquet (pip install 'tenas-harness[parquet]')."
        ) from None
    return pa, pq


def _read_cache(cache: Path, src: BenchmarkSource) -> pd.DataFrame | None:
    if not cache.is_file():
        return None
    pa, pq = _pyarrow()

    try:
        table = pq.read_table(cache)
        meta = json.loads((table.schema.metadata or {}).get(_CACHE_META, b"{}"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the benchmark cache {cache}: {err}") from None
    if meta.get("version") != _CACHE_VERSION or meta.get("sha256") != src.sha256:
        log.info("benchmark cache %s is for another source or version; re-reading %s", cache,
                 src.path)
        return None
    return table.to_pandas()


def _write_cache(cache: Path, frame: pd.DataFrame, src: BenchmarkSource) -> None:
    pa, pq = _pyarrow()
    table = pa.Table.from_pandas(frame, preserve_index=True)
    meta = {**(table.schema.metadata or {}),
            _CACHE_META: json.dumps({"version": _CACHE_VERSION, **asdict(src)}).encode()}
    with atomic_path(cache) as tmp:  # never leave a half-written cache behind
        pq.write_table(table.replace_schema_metadata(meta), tmp)
