"""Read tidy proxy-result tables (CSV / CSV.gz / Parquet exports and SQLite stores) into one frame.

The runner's contract: one row per (config_hash, space, index, proxy); exports carry their run
configurations and a completeness record in a sidecar ``<name without extension>.configs.json``
(`harness.exports`): a table without a sidecar that matches it is refused unless
``accept_partial``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import DataNotFoundError, InputError
from harness.store import RESULT_COLUMNS, STATUSES, config_hash

log = logging.getLogger(__name__)

#: Row identity: a proxy's score on one cell under one configuration.
KEY_COLUMNS: tuple[str, ...] = ("config_hash", "space", "index", "proxy")
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")
STORE_SUFFIXES: tuple[str, ...] = (".sqlite", ".sqlite3", ".db")


def _kind(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*TABLE_SUFFIXES, *STORE_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    raise InputError(
        f"unsupported results file {str(path)!r}; expected one of "
        f"{', '.join(TABLE_SUFFIXES + STORE_SUFFIXES)} (a `harness export` table or a results store)."
    )


def _read_table(path: Path, accept_partial: bool) -> tuple[pd.DataFrame, dict]:
    from harness.exports import read_export
    from harness.store import aggregate_repeats

    frame, configs = read_export(path, accept_partial=accept_partial)
    if "repeat" in frame.columns:  # a per-repeat export (`harness export --per-repeat`)
        frame = aggregate_repeats(frame.drop(columns=["repeats"], errors="ignore"))
    return frame, configs


def _read_store(path: Path) -> tuple[pd.DataFrame, dict]:
    try:
        from harness.store import read_configs, read_results
    except ImportError as err:
        raise InputError(
            f"cannot read results store {str(path)!r}: this version has no SQLite store reader "
            f"(harness.store.read_results: {err}); export it with `harness export` and pass the CSV."
        ) from err
    return read_results(path), read_configs(path)


def _normalise(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check the contract's columns and give them stable dtypes, whatever file they came from."""
    missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"results table {source!r} lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(RESULT_COLUMNS)}."
        )
    out = frame.loc[:, list(RESULT_COLUMNS)].copy()
    for col in ("space", "arch_str", "proxy", "profile", "dataset", "config_hash", "status"):
        out[col] = out[col].astype("string").fillna("").astype(str)
    out["message"] = out["message"].astype("string").fillna("").astype(str)
    bad = sorted(set(out["status"]) - set(STATUSES))
    if bad:
        raise InputError(
            f"results table {source!r} has unknown status {bad[0]!r}; expected one of {', '.join(STATUSES)}."
        )
    try:
        out["index"] = pd.to_numeric(out["index"], errors="raise").astype(np.int64)
        for col in ("value", "seconds", "repeats"):
            out[col] = pd.to_numeric(out[col], errors="raise").astype(float)
        filled = out["filled_from"].replace("", np.nan)
        out["filled_from"] = pd.to_numeric(filled, errors="raise").astype("Int64")
    except (TypeError, ValueError) as err:
        raise InputError(
            f"results table {source!r} has a non-numeric index/value/seconds/repeats/filled_from: {err}"
        ) from err
    out["higher_is_better"] = out["higher_is_better"].map(_as_bool(source))
    out["source"] = source
    return out


def _as_bool(source: str):
    table = {
        True: True,
        False: False,
        "True": True,
        "False": False,
        "true": True,
        "false": False,
        "1": True,
        "0": False,
    }

    def convert(value):
        try:
            return table[value]
        except (KeyError, TypeError):
            raise InputError(
                f"results table {source!r} has higher_is_better={value!r}; expected True or False."
            ) from None

    return convert


def load_results(
    paths: Iterable[str | Path], *, accept_partial: bool = False
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Read and merge result tables and stores.

    Rows repeated across inputs (the same (config_hash, space, index, proxy), e.g. a store and its
    own export) are kept once, first file first; how many were dropped is logged and stored in
    ``frame.attrs["duplicates_dropped"]``. ``frame.attrs["sources"]`` lists the inputs.

    Args:
        paths: ``.csv``, ``.csv.gz``, ``.parquet`` exports (with their ``.configs.json``
            sidecars) and ``.sqlite`` stores, in any mix.
        accept_partial: read exports whose sidecar is missing or does not match them.

    Returns:
        The merged tidy frame (`RESULT_COLUMNS` plus ``source``) and ``{config_hash: config}``.

    Raises:
        InputError: a file is missing, unreadable, incomplete, lacks columns, or nothing was read.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError(
            "no results files given; pass --results FILE (.csv, .csv.gz, .parquet or .sqlite)."
        )
    frames, configs = [], {}
    for path in paths:
        if path.is_dir():
            raise InputError(
                f"results path {str(path)!r} is a folder; pass the export file or store itself."
            )
        if not path.is_file():
            raise DataNotFoundError(f"results file not found: {str(path)!r}.")
        kind = _kind(path)
        frame, cfgs = (
            _read_store(path) if kind in STORE_SUFFIXES else _read_table(path, accept_partial)
        )
        frames.append(_normalise(frame, str(path)))
        for key, cfg in cfgs.items():
            # Runs of one configuration may differ in what is not hashed (environment, where the
            # data were read from); the first file's record is kept.
            if key in configs and config_hash(configs[key]) != config_hash(cfg):
                raise InputError(
                    f"config hash {key!r} maps to two different configurations "
                    f"(in {str(path)!r} and an earlier file)."
                )
            configs.setdefault(key, cfg)
    merged = pd.concat(frames, ignore_index=True)
    if merged.empty:
        raise InputError(f"no result rows in {', '.join(map(str, paths))}.")
    before = len(merged)
    merged = merged.drop_duplicates(subset=list(KEY_COLUMNS), keep="first").reset_index(drop=True)
    dropped = before - len(merged)
    if dropped:
        log.warning(
            "%d result rows appear in more than one input; kept the first copy of each", dropped
        )
    merged.attrs = {"sources": [str(p) for p in paths], "duplicates_dropped": dropped}
    return merged, configs


#: Columns of `load_repeat_rows`.
REPEAT_COLUMNS: tuple[str, ...] = (
    *KEY_COLUMNS,
    "repeat",
    "profile",
    "value",
    "status",
    "filled_from",
    "higher_is_better",
)


def load_repeat_rows(paths: Iterable[str | Path], *, accept_partial: bool = False) -> pd.DataFrame:
    """The per-repeat rows of the inputs that keep them (stores and ``--per-repeat`` exports), for
    `reports.repeats`; an aggregated export adds none. Call after `load_results` has checked the files.

    Rows repeated across inputs are kept once, first file first, as in `load_results`.
    """
    from harness.exports import read_export
    from harness.store import read_results

    frames = []
    for path in map(Path, paths):
        if _kind(path) in STORE_SUFFIXES:
            frame = read_results(path, per_repeat=True)
        else:
            frame = read_export(path, accept_partial=accept_partial)[0]
            if "repeat" not in frame.columns:
                continue
        try:
            repeat = pd.to_numeric(frame["repeat"], errors="raise").astype(np.int64).to_numpy()
        except (TypeError, ValueError) as err:
            raise InputError(
                f"results table {str(path)!r} has a non-numeric repeat: {err}"
            ) from err
        frames.append(_normalise(frame.assign(repeats=1), str(path)).assign(repeat=repeat))
    if not frames:
        return pd.DataFrame(columns=list(REPEAT_COLUMNS))
    merged = pd.concat(frames, ignore_index=True)
    return merged.drop_duplicates(subset=[*KEY_COLUMNS, "repeat"], keep="first").loc[
        :, list(REPEAT_COLUMNS)
    ]


#: ``--dataset`` choices of correlate/report: NB201's three training sets, or all of them.
DATASET_CHOICES: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120", "all")
# A --dataset name covers the benchmark datasets trained on its images (cifar10-valid is CIFAR-10).
_FAMILY = {
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar100": ("cifar100",),
    "ImageNet16-120": ("ImageNet16-120",),
}


def resolve_metrics(
    dataset: str | None, metrics: Iterable[str] = (), *, report_keys: Iterable[str] | None = None
) -> list[str]:
    """Benchmark metric keys for ``--dataset``/``--metric``: explicit keys win, else the defaults.

    Without `report_keys` (correlate) a dataset maps to its one default key
    (`harness.bench.DEFAULT_METRIC`), None to CIFAR-10's. With `report_keys` (report) a dataset
    selects the report keys of its family, None or ``all`` selects all of them.

    Raises:
        InputError: an unknown dataset name.
    """
    from harness.bench import DEFAULT_METRIC

    metrics = list(dict.fromkeys(metrics))
    if metrics:
        return metrics
    if dataset is not None and dataset not in DATASET_CHOICES:
        raise InputError(
            f"unknown dataset {dataset!r}; expected one of {', '.join(DATASET_CHOICES)}."
        )
    if report_keys is None:
        if dataset == "all":
            return list(DEFAULT_METRIC.values())
        return [DEFAULT_METRIC[dataset or "cifar10"]]
    keys = list(report_keys)
    if dataset in (None, "all"):
        return keys
    return [k for k in keys if k.partition("/")[0] in _FAMILY[dataset]]
