"""The results store: one SQLite file (WAL mode) holding configurations, runs and proxy values.

Tables: ``configs`` (hash -> full JSON configuration), ``runs`` (one row per invocation with its
environment and summary), ``proxies`` (each proxy's declared direction, so reports need no
torch), ``results`` keyed by (config hash, space, cell, proxy, repeat). Every cell's rows are
written in one transaction, so a killed run loses at most the cells in flight and never leaves
a partial row; re-running skips keys already present. Torch-free: reports read it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DataNotFoundError, InputError

SCHEMA_VERSION = 1
STATUSES = ("ok", "nan", "inf", "error")
#: Keys of a configuration that describe where and how it ran, not what each value is (not hashed):
#: the environment, and the request (number of repeats, NTK engine) of the first run.
UNHASHED_KEYS = ("environment", "request")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (
    config_hash TEXT PRIMARY KEY, profile TEXT NOT NULL, config TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, config_hash TEXT NOT NULL, started TEXT NOT NULL,
    finished TEXT, environment TEXT NOT NULL, command TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS proxies (
    proxy TEXT PRIMARY KEY, higher_is_better INTEGER NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    config_hash TEXT NOT NULL, space TEXT NOT NULL, cell INTEGER NOT NULL, proxy TEXT NOT NULL,
    repeat INTEGER NOT NULL, arch_str TEXT NOT NULL, value REAL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'nan', 'inf', 'error')), message TEXT,
    seconds REAL, peak_mem_mb REAL, filled_from INTEGER, run_id INTEGER,
    PRIMARY KEY (config_hash, space, cell, proxy, repeat));
"""


@dataclass(frozen=True)
class ResultRow:
    cell: int
    arch_str: str
    proxy: str
    repeat: int
    value: float | None
    status: str
    message: str | None = None
    seconds: float | None = None
    peak_mem_mb: float | None = None
    filled_from: int | None = None


def config_hash(config: dict) -> str:
    """Stable 16-hex-digit hash of a configuration (environment keys excluded)."""
    hashed = {k: v for k, v in config.items() if k not in UNHASHED_KEYS}
    text = json.dumps(hashed, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class ResultStore:
    """Read/write access to one store file; use as a context manager."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise DataNotFoundError(f"results store not found: {self.path}.")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            if create:
                self.conn.executescript(_SCHEMA)
                self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._check_schema()
        except (sqlite3.Error, OSError) as err:
            raise InputError(f"cannot use {str(self.path)!r} as a results store: {err}.") from None

    def _check_schema(self) -> None:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as err:
            raise InputError(f"{str(self.path)!r} is not a harness results store: {err}.") from None
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise InputError(f"{str(self.path)!r} has store schema {row and row[0]}; this harness reads {SCHEMA_VERSION}.")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self.conn.close()

    # ---- configurations, runs, proxies -----------------------------------------------
    def add_config(self, config: dict) -> str:
        digest = config_hash(config)
        profile = config.get("profile", {}).get("name", "")
        self.conn.execute("INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?)",
                          (digest, profile, json.dumps(config, sort_keys=True, default=str), _now()))
        return digest

    def add_proxies(self, metadata: Iterable[dict]) -> None:
        with self.conn:
            for meta in metadata:
                self.conn.execute("INSERT OR REPLACE INTO proxies VALUES (?, ?, ?)",
                                  (meta["name"], int(meta["direction"] == "higher"), json.dumps(meta)))

    def start_run(self, digest: str, environment: dict, command: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO runs (config_hash, started, environment, command) VALUES (?, ?, ?, ?)",
            (digest, _now(), json.dumps(environment, default=str), command))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, summary: dict) -> None:
        self.conn.execute("UPDATE runs SET finished = ?, summary = ? WHERE run_id = ?",
                          (_now(), json.dumps(summary, default=str), run_id))

    # ---- results -----------------------------------------------------------------------
    def done_keys(self, digest: str, space: str, include_errors: bool = True,
                  include_filled: bool = True) -> set[tuple[int, str, int]]:
        """(cell, proxy, repeat) keys already stored for a configuration; optionally leaving out
        failed keys (to retry them) and keys copied from an isomorphic representative."""
        sql = "SELECT cell, proxy, repeat FROM results WHERE config_hash = ? AND space = ?"
        if not include_errors:
            sql += " AND status != 'error'"
        if not include_filled:
            sql += " AND filled_from IS NULL"
        return {tuple(r) for r in self.conn.execute(sql, (digest, space))}

    def cell_rows(self, digest: str, space: str, cell: int) -> list[ResultRow]:
        """Every stored row of one cell under a configuration."""
        cur = self.conn.execute(
            "SELECT cell, arch_str, proxy, repeat, value, status, message, seconds, peak_mem_mb, filled_from "
            "FROM results WHERE config_hash = ? AND space = ? AND cell = ?", (digest, space, cell))
        return [ResultRow(*r) for r in cur]

    def write_rows(self, digest: str, space: str, rows: Sequence[ResultRow], run_id: int | None) -> None:
        """Write rows in one transaction (all or nothing)."""
        for row in rows:
            if row.status not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}; got {row.status!r}")
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(digest, space, r.cell, r.proxy, r.repeat, r.arch_str, r.value, r.status, r.message,
                  r.seconds, r.peak_mem_mb, r.filled_from, run_id) for r in rows])


# ---- exported tables ------------------------------------------------------------------------
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")


def configs_sidecar(path: str | Path) -> Path:
    """The configurations that go with an exported table: ``x.csv.gz`` -> ``x.configs.json``."""
    path = Path(path)
    name = path.name
    for suffix in TABLE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(f"{name}.configs.json")


def read_table(path: str | Path):
    """An exported table and its configurations ({} when the sidecar is missing)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"results table not found: {path}.")
    try:
        if path.name.lower().endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            # Only empty fields are missing: the status column holds the literal word "nan".
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, ImportError) as err:  # corrupt file, bad compression, no pyarrow
        raise InputError(f"cannot read results table {str(path)!r}: {err}") from err
    side = configs_sidecar(path)
    if not side.is_file():
        return frame, {}
    try:
        configs = json.loads(side.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read configs sidecar {str(side)!r}: {err}") from err
    if not isinstance(configs, dict):
        raise InputError(f"configs sidecar {str(side)!r} must hold a JSON object {{config_hash: config}}.")
    return frame, configs


def import_table(path: str | Path, store: ResultStore) -> int:
    """Load a per-repeat export (``harness export --per-repeat``) back into a store, so a sweep
    can continue from results that travelled as files. Returns the number of rows written."""
    frame, configs = read_table(path)
    if "repeat" not in frame.columns:
        raise InputError(f"{str(path)!r} has aggregated repeats; import needs `harness export --per-repeat`.")
    missing = sorted(set(frame["config_hash"]) - set(configs))
    if missing:
        raise InputError(f"{str(path)!r}: no configuration for {', '.join(missing)} in {configs_sidecar(path)}.")
    for digest in sorted(set(frame["config_hash"])):
        if config_hash(configs[digest]) != digest:
            raise InputError(f"{configs_sidecar(path)}: the configuration stored under {digest} hashes to "
                             f"{config_hash(configs[digest])}; the file was edited or is from another schema.")
        store.add_config(configs[digest])
    directions = frame.drop_duplicates("proxy").set_index("proxy")["higher_is_better"]
    with store.conn:
        store.conn.executemany("INSERT OR IGNORE INTO proxies VALUES (?, ?, ?)",
                               [(p, int(str(h).lower() in ("true", "1")), json.dumps({"name": p, "imported": True}))
                                for p, h in directions.items()])
    for (digest, space), part in frame.groupby(["config_hash", "space"]):
        rows = [ResultRow(int(r.index), r.arch_str, r.proxy, int(r.repeat),
                          None if r.status != "ok" else float(r.value), r.status,
                          r.message if isinstance(r.message, str) else None,
                          None if r.seconds != r.seconds else float(r.seconds),
                          None, None if r.filled_from != r.filled_from else int(r.filled_from))
                for r in part.itertuples(index=False)]
        store.write_rows(digest, space, rows, None)
    return len(frame)


# ---- reading (pandas) ----------------------------------------------------------------------
def _open_readonly(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"results store not found: {path}.")
    with ResultStore(path, create=False):
        pass  # validates the schema with a clear error
    return sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True)


def read_configs(path: str | Path) -> dict[str, dict]:
    """{config_hash: configuration} of a store."""
    with _open_readonly(path) as conn:
        return {h: json.loads(c) for h, c in conn.execute("SELECT config_hash, config FROM configs")}


def read_runs(path: str | Path):
    import pandas as pd

    with _open_readonly(path) as conn:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY run_id", conn)


def read_results(path: str | Path, per_repeat: bool = False):
    """The tidy results table: one row per (config, space, cell, proxy), repeats aggregated.

    Aggregation: `value` is the mean over repeats when every repeat is ok (status `ok`), ±inf when
    some repeat is infinite and none failed (status `inf`), else NaN with the worst status
    (error > nan > inf); `seconds` is the mean per repeat; `repeats` counts them.
    With ``per_repeat=True`` every repeat is its own row (column `repeat`).
    """
    import pandas as pd

    with _open_readonly(path) as conn:
        raw = pd.read_sql_query("SELECT * FROM results", conn)
        directions = dict(conn.execute("SELECT proxy, higher_is_better FROM proxies").fetchall())
    configs = read_configs(path)
    raw = raw.rename(columns={"cell": "index"})
    raw["profile"] = raw["config_hash"].map(lambda h: configs[h].get("profile", {}).get("name"))
    raw["dataset"] = raw["config_hash"].map(lambda h: configs[h].get("data", {}).get("dataset"))
    raw["higher_is_better"] = raw["proxy"].map(lambda p: bool(directions[p]) if p in directions else None)
    raw["value"] = raw["value"].astype(float)
    columns = ["space", "index", "arch_str", "proxy", "profile", "dataset", "value", "status", "message",
               "seconds", "repeats", "higher_is_better", "config_hash", "filled_from"]
    if per_repeat:
        raw["repeats"] = 1
        out = raw[columns[:10] + ["repeat"] + columns[10:] + ["peak_mem_mb"]]
        return out.sort_values(["config_hash", "space", "proxy", "index", "repeat"]).reset_index(drop=True)
    return aggregate_repeats(raw)[columns]


_STATUS_RANK = {"ok": 0, "inf": 1, "nan": 2, "error": 3}


def aggregate_repeats(raw):
    """Collapse per-repeat rows into one row per (config, space, cell, proxy)."""
    keys = ["config_hash", "space", "index", "proxy"]
    raw = raw.assign(_rank=raw["status"].map(_STATUS_RANK))
    grouped = raw.groupby(keys, sort=True)
    out = grouped.agg(arch_str=("arch_str", "first"), profile=("profile", "first"), dataset=("dataset", "first"),
                      value=("value", "mean"), _rank=("_rank", "max"), seconds=("seconds", "mean"),
                      repeats=("repeat", "count"), higher_is_better=("higher_is_better", "first"),
                      filled_from=("filled_from", "first"),
                      message=("message", lambda m: next((x for x in m if isinstance(x, str)), None))).reset_index()
    inverse = {v: k for k, v in _STATUS_RANK.items()}
    out["status"] = out["_rank"].map(inverse)
    # NaN unless every repeat is ok -- or some are infinite (one sign, the rest ok): that infinity stays.
    out.loc[~out["status"].isin(["ok", "inf"]), "value"] = float("nan")
    out["filled_from"] = out["filled_from"].astype("Int64")
    return out.drop(columns="_rank").sort_values(["config_hash", "space", "proxy", "index"]).reset_index(drop=True)
