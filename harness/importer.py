"""`harness import`: load per-repeat exports and other stores into one results store, all or nothing.

Every input is read and checked before the destination is touched (a store that does not exist
yet is created only when there is something valid to write). Incoming rows are compared with each
other and with the destination by key (config hash, space, cell, proxy, repeat): a row whose cell
string, status and value (bit for bit) equal the stored one is *identical* and kept once; a row
with the same key and a different value is a *conflict*, an error unless ``replace``. Then every
configuration, proxy direction, run record (from stores) and row is written in one transaction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import DataNotFoundError, InputError
from harness.exports import TABLE_SUFFIXES, configs_sidecar, read_export
from harness.store import STATUSES, ResultStore, check_store, config_hash, read_store
from harness.summaries import StoreSummary

STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
KEY = ["config_hash", "space", "cell", "proxy", "repeat"]
_COLUMNS = [
    "config_hash",
    "space",
    "cell",
    "proxy",
    "repeat",
    "arch_str",
    "value",
    "status",
    "message",
    "seconds",
    "peak_mem_mb",
    "filled_from",
    "run_id",
]
#: Columns a per-repeat export must have (`harness export --per-repeat`).
EXPORT_COLUMNS = (
    "space",
    "index",
    "arch_str",
    "proxy",
    "value",
    "status",
    "message",
    "seconds",
    "repeat",
    "higher_is_better",
    "config_hash",
    "filled_from",
)
_SHOWN = 3  # conflicting keys named in an error message


@dataclass
class ImportSummary(StoreSummary):
    out: str
    read: dict[str, int] = field(default_factory=dict)  # rows read per input
    new: int = 0
    identical: int = 0
    conflicting: int = 0
    replaced: int = 0
    configs_added: int = 0
    runs_copied: int = 0
    created: bool = False

    def text(self) -> str:
        conflicts = (
            f"{self.conflicting} conflicting (replaced)"
            if self.replaced
            else f"{self.conflicting} conflicting"
        )
        return (
            f"imported into {self.out}{' (new store)' if self.created else ''}: {sum(self.read.values())} rows "
            f"read from {len(self.read)} input(s); {self.new} new, {self.identical} identical (kept once), "
            f"{conflicts}; {self.configs_added} configuration(s) and {self.runs_copied} run record(s) added"
        )


@dataclass
class _Input:
    path: str
    rows: pd.DataFrame  # _COLUMNS
    configs: dict  # {hash: (config, created or None)}
    proxies: dict  # {name: (higher_is_better, metadata json)}
    runs: dict  # {run_id: run record}; stores only


# ---- reading and checking the inputs ---------------------------------------------------------
def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(STORE_SUFFIXES):
        return "store"
    if name.endswith(TABLE_SUFFIXES):
        return "table"
    raise InputError(
        f"cannot import {str(path)!r}: expected a per-repeat export ({', '.join(TABLE_SUFFIXES)}) "
        f"or a results store ({', '.join(STORE_SUFFIXES)})."
    )


def _bad_rows(path: str, mask: pd.Series, what: str) -> None:
    if mask.any():
        first = int(np.flatnonzero(mask.to_numpy())[0])
        raise InputError(
            f"{path}: {int(mask.sum())} row(s) with {what}, the first on line {first + 2}; "
            f"nothing was imported."
        )


def _numbers(path: str, frame: pd.DataFrame, column: str, *, integer: bool = False) -> pd.Series:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    _bad_rows(
        path, values.isna() & raw.notna() & (raw.astype(str) != "nan"), f"a non-numeric {column}"
    )
    if integer:
        _bad_rows(
            path,
            values.notna() & ((values % 1 != 0) | ~np.isfinite(values)),
            f"a non-integer {column}",
        )
    return values


def _read_table_input(path: Path, accept_partial: bool) -> _Input:
    frame, configs = read_export(path, accept_partial=accept_partial)
    name = str(path)
    if "repeat" not in frame.columns:
        raise InputError(
            f"{name!r} has aggregated repeats; import needs `harness export --per-repeat`."
        )
    missing = [c for c in EXPORT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{name!r} lacks column(s) {', '.join(missing)} of a per-repeat export.")
    for column in ("space", "arch_str", "proxy", "config_hash", "status"):
        _bad_rows(
            name,
            frame[column].isna() | (frame[column].astype(str).str.strip() == ""),
            f"an empty {column}",
        )
        frame[column] = frame[column].astype(str)
    _bad_rows(name, ~frame["status"].isin(STATUSES), f"a status other than {', '.join(STATUSES)}")
    cell = _numbers(name, frame, "index", integer=True)
    repeat = _numbers(name, frame, "repeat", integer=True)
    _bad_rows(name, cell.isna() | (cell < 0), "a missing or negative index")
    _bad_rows(
        name, (frame["space"] == "nb201") & (cell >= _nb201_cells()), "an NB201 index out of range"
    )
    _bad_rows(name, repeat.isna() | (repeat < 0), "a missing or negative repeat")
    value = _numbers(name, frame, "value")
    status = frame["status"]
    _bad_rows(name, (status == "ok") & ~np.isfinite(value), "status ok but no finite value")
    _bad_rows(
        name, (status == "inf") & ~np.isinf(value), "status inf but a value that is not +-inf"
    )
    _bad_rows(name, status.isin(["nan", "error"]) & value.notna(), "status nan/error but a value")
    seconds = _numbers(name, frame, "seconds")
    peak = (
        _numbers(name, frame, "peak_mem_mb")
        if "peak_mem_mb" in frame.columns
        else pd.Series(np.nan, frame.index)
    )
    filled = _numbers(name, frame, "filled_from", integer=True)
    hib = (
        frame["higher_is_better"]
        .astype(str)
        .str.lower()
        .map({"true": True, "1": True, "false": False, "0": False})
    )
    _bad_rows(name, hib.isna(), "a higher_is_better other than True/False")
    proxies: dict[str, tuple[bool, str]] = {}
    for proxy, directions in hib.groupby(frame["proxy"]):
        if directions.nunique() > 1:
            raise InputError(
                f"{name!r}: proxy {proxy!r} is marked both higher- and lower-is-better."
            )
        proxies[proxy] = (bool(directions.iloc[0]), json.dumps({"name": proxy, "imported": True}))
    hashes = sorted(set(frame["config_hash"]))
    absent = [h for h in hashes if h not in configs]
    if absent:
        raise InputError(
            f"{name!r}: no configuration for {', '.join(absent)} in {configs_sidecar(path)}."
        )
    for digest in hashes:
        if config_hash(configs[digest]) != digest:
            raise InputError(
                f"{configs_sidecar(path)}: the configuration stored under {digest} hashes to "
                f"{config_hash(configs[digest])}; the file was edited or is from another schema."
            )
    message = frame["message"].where(
        frame["message"].map(lambda m: isinstance(m, str) and m != ""), None
    )
    rows = pd.DataFrame(
        {
            "config_hash": frame["config_hash"],
            "space": frame["space"],
            "cell": cell.astype(np.int64),
            "proxy": frame["proxy"],
            "repeat": repeat.astype(np.int64),
            "arch_str": frame["arch_str"],
            "value": value.where(status.isin(["ok", "inf"])),
            "status": status,
            "message": message,
            "seconds": seconds,
            "peak_mem_mb": peak,
            "filled_from": filled,
            "run_id": np.nan,
        }
    )
    return _Input(name, rows, {h: (configs[h], None) for h in hashes}, proxies, {})


def _nb201_cells() -> int:
    from harness.spaces.nb201 import NUM_CELLS

    return NUM_CELLS


def _read_store_input(path: Path) -> _Input:
    if not path.is_file():
        raise DataNotFoundError(f"results store not found: {str(path)!r}.")
    got = read_store(path)
    rows = got["results"].reindex(columns=_COLUMNS)
    return _Input(str(path), rows, got["configs"], got["proxies"], got["runs"])


def _read_input(path: Path, accept_partial: bool) -> _Input:
    if path.is_dir():
        raise InputError(
            f"cannot import {str(path)!r}: it is a folder; give the export or store file."
        )
    if _kind(path) == "store":
        return _read_store_input(path)
    return _read_table_input(path, accept_partial)


# ---- comparing ---------------------------------------------------------------------------------
def _value_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return repr(float(value))  # exact, and tells -0.0 from 0.0


def _signature(rows: pd.DataFrame) -> pd.Series:
    """What must agree for two rows of one key to be the same result: cell string, status, value."""
    return (
        rows["arch_str"].astype(str)
        + "|"
        + rows["status"].astype(str)
        + "|"
        + rows["value"].map(_value_text)
    )


def _describe_key(row) -> str:
    return f"config {row.config_hash} {row.space} cell {int(row.cell)} {row.proxy} repeat {int(row.repeat)}"


def _dedupe_inputs(incoming: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Incoming rows once per key (first input first) and the number of identical repeats dropped;
    inputs that disagree on a key are an error whatever `replace` says."""
    groups = incoming.groupby(KEY, sort=False)["signature"].nunique()
    clash = groups[groups > 1]
    if len(clash):
        key = clash.index[0]
        rows = incoming.set_index(KEY).loc[[key]]
        shown = "; ".join(
            f"{s.split('|')[2]} ({s.split('|')[1]}) in {src}"
            for s, src in zip(rows["signature"], rows["source_path"])
        )
        raise InputError(
            f"the inputs disagree on {len(clash)} key(s), e.g. config {key[0]} {key[1]} cell {key[2]} "
            f"{key[3]} repeat {key[4]}: {shown}; nothing was imported."
        )
    unique = incoming.drop_duplicates(KEY, keep="first")
    return unique, len(incoming) - len(unique)


# ---- the import ------------------------------------------------------------------------------
def import_results(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    replace: bool = False,
    accept_partial: bool = False,
) -> ImportSummary:
    """Import per-repeat exports and stores into the store at `out` in one transaction.

    Raises:
        InputError: an unreadable, incomplete or invalid input (nothing is written), a destination
            that is not a harness store, inputs that disagree with each other, or rows that conflict
            with the destination without `replace`.
    """
    out = Path(out)
    if not sources:
        raise InputError(
            "no inputs given; pass --results FILE (a per-repeat export or a store), repeatable."
        )
    inputs = [_read_input(Path(p), accept_partial) for p in sources]
    summary = ImportSummary(str(out), read={})
    for item in inputs:
        summary.read[item.path] = summary.read.get(item.path, 0) + len(item.rows)
    frames = [
        item.rows.assign(source_path=item.path, input_no=k)
        for k, item in enumerate(inputs)
        if len(item.rows)
    ]
    if frames:
        incoming = pd.concat(frames, ignore_index=True)
        incoming["signature"] = _signature(incoming)
        incoming, repeated = _dedupe_inputs(incoming)
    else:
        incoming, repeated = (
            pd.DataFrame(columns=[*_COLUMNS, "source_path", "input_no", "signature"]),
            0,
        )

    directions: dict[str, tuple[bool, str, str]] = {}
    for item in inputs:
        for proxy, (hib, meta) in item.proxies.items():
            if proxy in directions and directions[proxy][0] != hib:
                raise InputError(
                    f"proxy {proxy!r} is higher-is-better in {directions[proxy][2]} but not in "
                    f"{item.path}; nothing was imported."
                )
            directions.setdefault(proxy, (hib, meta, item.path))

    if out.is_dir():
        raise InputError(f"--out {str(out)!r} is a folder; give the store file, e.g. all.sqlite.")
    exists = out.is_file() and out.stat().st_size > 0
    stored = None
    known_configs: set[str] = set()
    if exists:
        check_store(out)
        current = read_store(out)
        stored = current["results"]
        known_configs = set(current["configs"])
        for proxy, (hib, _meta) in current["proxies"].items():
            if proxy in directions and directions[proxy][0] != hib:
                raise InputError(
                    f"proxy {proxy!r} is higher-is-better in {out} but not in {directions[proxy][2]}; "
                    f"nothing was imported."
                )
    if stored is not None and len(stored) and len(incoming):
        stored = stored.assign(stored_signature=_signature(stored))[KEY + ["stored_signature"]]
        merged = incoming.merge(
            stored.astype({c: incoming[c].dtype for c in KEY}), on=KEY, how="left"
        )
    else:
        merged = incoming.assign(stored_signature=np.nan)
    is_new = merged["stored_signature"].isna()
    same = ~is_new & (merged["stored_signature"] == merged["signature"])
    clash = merged[~is_new & ~same]
    summary.new, summary.identical, summary.conflicting = (
        int(is_new.sum()),
        int(same.sum()) + repeated,
        len(clash),
    )
    if len(clash) and not replace:
        shown = "; ".join(
            f"{_describe_key(r)}: stored {r.stored_signature.split('|')[2]} ({r.stored_signature.split('|')[1]}), "
            f"incoming {r.signature.split('|')[2]} ({r.signature.split('|')[1]}) from {r.source_path}"
            for r in clash.head(_SHOWN).itertuples()
        )
        raise InputError(
            f"{len(clash)} incoming row(s) conflict with {out} (same key, another value), e.g. {shown}; "
            f"nothing was imported. Pass --replace to overwrite them."
        )
    write = merged[is_new | (~same)]
    summary.replaced = len(clash)

    needed = set(write["config_hash"]) - known_configs
    summary.created = not out.exists()
    try:
        with ResultStore(out) as store:
            with store.transaction():
                for item in inputs:
                    for digest, (config, created) in item.configs.items():
                        if digest in needed:
                            store.copy_config(digest, config, created)
                            needed.discard(digest)
                            summary.configs_added += 1
                store.add_proxies(
                    (
                        {"name": p, "direction": "higher" if hib else "lower"} | _metadata(meta)
                        for p, (hib, meta, _src) in directions.items()
                    ),
                    replace=False,
                )
                run_ids = _copy_runs(store, inputs, write)
                summary.runs_copied = len(run_ids)
                _write_rows(store, write, run_ids)
    except BaseException:
        if summary.created:  # leave nothing behind when a new store could not be filled
            for suffix in ("", "-wal", "-shm"):
                Path(f"{out}{suffix}").unlink(missing_ok=True)
        raise
    return summary


def _metadata(meta: str) -> dict:
    try:
        parsed = json.loads(meta)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _copy_runs(
    store: ResultStore, inputs: list[_Input], write: pd.DataFrame
) -> dict[tuple[int, int], int]:
    """Copy the run records that written rows point to; {(input number, old run_id): new run_id}."""
    mapping = {}
    used = write.dropna(subset=["run_id"])[["input_no", "run_id"]].drop_duplicates()
    for k, old in sorted((int(k), int(r)) for k, r in used.itertuples(index=False)):
        run = inputs[k].runs.get(old)
        if run is not None:
            mapping[(k, old)] = store.copy_run(run)
    return mapping


def _optional(value, kind=float):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return kind(value)


def _write_rows(store: ResultStore, write: pd.DataFrame, run_ids: dict) -> None:
    from harness.store import ResultRow

    for (digest, space, k), part in write.groupby(["config_hash", "space", "input_no"], sort=False):
        for run, rows in part.groupby(part["run_id"].fillna(-1), sort=False):
            new_run = run_ids.get((int(k), int(run))) if run != -1 else None
            store.write_rows(
                digest,
                space,
                [
                    ResultRow(
                        int(r.cell),
                        r.arch_str,
                        r.proxy,
                        int(r.repeat),
                        _optional(r.value),
                        r.status,
                        r.message if isinstance(r.message, str) else None,
                        _optional(r.seconds),
                        _optional(r.peak_mem_mb),
                        _optional(r.filled_from, int),
                    )
                    for r in rows.itertuples(index=False)
                ],
                new_run,
            )
