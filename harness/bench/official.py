"""The official NB201 files: the NAS-Bench-201 ``.pth`` (through `nas_201_api`), NATS-Bench TSS
(through `nats_bench`), and the Parquet cache of the frame read from them.

Torch is imported only inside `read_nb201_pth`, so `harness.bench` imports without it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from harness.atomic import atomic_path
from harness.bench.cells import check_arch_order
from harness.bench.keys import ALL_KEYS, parse_key
from harness.errors import InputError

log = logging.getLogger(__package__)  # "harness.bench": log lines name the package, not this file

_NATS_ARCH_FILE = re.compile(r"^(\d+)\.pickle\.pbz2$")
_CACHE_VERSION = 1
_CACHE_META = b"harness.bench"  # the Parquet metadata key of the cache record


def _archresults_frame(
    meta_archs: list[str],
    items: Iterator[tuple[int, Mapping[str, Any]]],
    total: int,
    path: Path,
    disable: bool | None,
) -> pd.DataFrame:
    """Means over seeds (``get_metrics(..., is_random=False)``) of every key, per cell.

    `items` yields ``(index, {hp: ArchResults})``; a dataset, split or schedule a cell lacks
    stays NaN (NB201 v1_0, for one, trained 12-epoch nets on cifar10-valid only).
    """
    values = {key: np.full(len(meta_archs), np.nan) for key in ALL_KEYS}
    parsed = [(key, *parse_key(key)) for key in ALL_KEYS]
    bar = tqdm(
        items,
        total=total,
        desc=f"reading {path.name}",
        unit="cell",
        file=sys.stderr,
        disable=disable,
    )
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
    empty = [k for k in ALL_KEYS if np.isnan(values[k]).all()]
    return frame.drop(columns=empty)


def _reason(err: Exception) -> str:
    """One line from a reader's exception (torch's weights-only errors span a paragraph)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for k, line in enumerate(lines):
        if "WeightsUnpickler error" in line:
            detail = line[line.index("WeightsUnpickler error") :]
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


def read_nb201_pth(path: Path, disable: bool | None = None) -> pd.DataFrame:
    """The accuracies of a NAS-Bench-201 ``.pth`` (v1_0 / v1_1); `disable` hides the tqdm bar."""
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
    check_arch_order(meta, path)
    infos = data["arch2infos"]

    # NASBench201API.__init__ builds the same objects for every cell up front ('less' = the
    # 12-epoch schedule, 'full' = 200) after deep-copying the whole file; building them one cell
    # at a time keeps the multi-GB v1_1 file to a single copy in memory.
    def items() -> Iterator[tuple[int, Mapping[str, Any]]]:
        for i in sorted(infos):
            try:
                by_hp = {
                    "12": ArchResults.create_from_state_dict(infos[i]["less"]),
                    "200": ArchResults.create_from_state_dict(infos[i]["full"]),
                }
            except Exception as err:  # as above: a damaged record
                raise InputError(
                    f"{path}: cannot read the results of cell {i}: {_reason(err)}"
                ) from None
            yield int(i), by_hp

    return _archresults_frame(meta, items(), len(infos), path, disable)


def read_nats_tss(path: Path, disable: bool | None = None) -> pd.DataFrame:
    """The accuracies of NATS-Bench TSS: a fast-mode folder or the single ``.pickle.pbz2`` file."""
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
    check_arch_order(meta, path)
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
        log.warning(
            "%s has result files for %d of %d cells; the others are NaN.",
            path,
            len(files),
            len(meta),
        )

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


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "cache_path needs pyarrow to write Parquet (pip install 'tenas-harness[parquet]')."
        ) from None
    return pa, pq


def read_cache(cache: Path, sha256: str, shown: str) -> pd.DataFrame | None:
    """The frame cached in `cache` for the source whose digest is `sha256`; None when there is
    none, or it is for another source or cache version (`shown` names the source in the log)."""
    if not cache.is_file():
        return None
    _, pq = _pyarrow()
    try:
        table = pq.read_table(cache)
        meta = json.loads((table.schema.metadata or {}).get(_CACHE_META, b"{}"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the benchmark cache {cache}: {err}") from None
    if meta.get("version") != _CACHE_VERSION or meta.get("sha256") != sha256:
        log.info("benchmark cache %s is for another source or version; re-reading %s", cache, shown)
        return None
    return table.to_pandas()


def write_cache(cache: Path, frame: pd.DataFrame, source: Mapping[str, str]) -> None:
    """Write `frame` to `cache` with the source's record (its ``sha256`` decides reuse)."""
    pa, pq = _pyarrow()
    table = pa.Table.from_pandas(frame, preserve_index=True)
    meta = {
        **(table.schema.metadata or {}),
        _CACHE_META: json.dumps({"version": _CACHE_VERSION, **source}).encode(),
    }
    with atomic_path(cache) as tmp:  # never leave a half-written cache behind
        pq.write_table(table.replace_schema_metadata(meta), tmp)
