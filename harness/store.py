"""The results store: one SQLite file (WAL mode) holding configurations, runs and proxy values.

Tables: ``configs`` (hash -> full JSON configuration), ``runs`` (one row per invocation with its
environment and summary), ``proxies`` (each proxy's declared direction, so reports need no
torch), ``results`` keyed by (config hash, space, cell, proxy, repeat). Every cell's rows are
written in one explicit transaction, so a killed run loses at most the cells in flight and never
leaves a partial cell; re-running skips keys already present. Writers refuse any file that is not
a harness store before writing a byte, and copy the write-ahead log into the store file when they
close (and, in sweeps, periodically), so the ``.sqlite`` file alone holds every finished result.
Readers open stores read-only (``mode=ro``, else ``immutable=1`` on read-only storage). Torch-free:
reports read it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DataNotFoundError, InputError

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
STATUSES = ("ok", "nan", "inf", "error")
#: The export contract: the columns of every results table (exports, `reports.io`), in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "space",
    "index",
    "arch_str",
    "proxy",
    "profile",
    "dataset",
    "value",
    "status",
    "message",
    "seconds",
    "repeats",
    "higher_is_better",
    "config_hash",
    "filled_from",
)
#: Keys of a configuration that describe where and how it ran, not what each value is (not hashed):
#: the environment, and the request (number of repeats, NTK engine) of the first run.
UNHASHED_KEYS = ("environment", "request")
#: Keys of the ``data`` section that say where the images were read from, not what they are: the
#: hash follows their content (the checksum), so a store resumes whether the same images come from
#: the package, a data folder or a copy elsewhere.
UNHASHED_DATA_KEYS = ("source", "origin")

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
    """Stable 16-hex-digit hash of a configuration (environment, request and data location
    excluded)."""
    hashed = {k: v for k, v in config.items() if k not in UNHASHED_KEYS}
    if isinstance(hashed.get("data"), dict):
        hashed["data"] = {k: v for k, v in hashed["data"].items() if k not in UNHASHED_DATA_KEYS}
    text = json.dumps(hashed, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _uri(path: Path, query: str) -> str:
    return f"{path.resolve().as_uri()}?{query}"


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A connection that never writes to `path`: SQLite ``mode=ro``, or on read-only storage (a
    read-only folder or file, where a WAL store's ``-shm`` file cannot be created) ``immutable=1``.

    Raises:
        InputError: the file cannot be opened even so; or it must be read immutable while its
            ``-wal`` file still holds results that only a writable copy can read.
    """
    path = Path(path)
    try:
        conn = sqlite3.connect(_uri(path, "mode=ro"), uri=True)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn
    except sqlite3.OperationalError as err:  # e.g. "unable to open database file"
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            raise InputError(
                f"cannot open {str(path)!r} read-only ({err}), and its {wal.name} holds results not "
                f"yet in the store file; copy the store with its -wal file to writable storage and "
                f"read it there."
            ) from None
        try:
            conn = sqlite3.connect(_uri(path, "immutable=1"), uri=True)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as err2:
            raise InputError(f"cannot open {str(path)!r} as a results store: {err2}.") from None
        return conn
    except sqlite3.DatabaseError as err:  # "file is not a database"
        raise InputError(
            f"{str(path)!r} is not a harness results store ({err}); it is left untouched."
        ) from None


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as err:
        raise InputError(
            f"{str(path)!r} is not a harness results store ({err}); it is left untouched."
        ) from None
    if row is None or str(row[0]) != str(SCHEMA_VERSION):
        raise InputError(
            f"{str(path)!r} has store schema {row and row[0]}; this harness reads {SCHEMA_VERSION}."
        )


def check_store(path: str | Path, *, allow_empty: bool = False) -> bool:
    """Check, read-only, that `path` is a harness results store of this schema; with `allow_empty`
    a database without any table passes too (a store another writer is creating this instant).
    Returns True for such an empty database.

    Raises:
        InputError: another program's database, not a database, or another schema.
    """
    path = Path(path)
    conn = connect_readonly(path)
    try:
        if allow_empty and conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
            return True
        _check_schema(conn, path)
        return False
    except sqlite3.DatabaseError as err:  # e.g. a file that only looks like a database at first
        raise InputError(
            f"{str(path)!r} is not a harness results store ({err}); it is left untouched."
        ) from None
    finally:
        conn.close()


class ResultStore:
    """Read/write access to one store file; use as a context manager."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(
                f"results store {str(self.path)!r} is a folder; give a file such as runs/nb201.sqlite."
            )
        if not create and not self.path.is_file():
            raise DataNotFoundError(f"results store not found: {self.path}.")
        # An existing file is checked read-only first: a foreign database stays byte-identical.
        existing = self.path.is_file() and self.path.stat().st_size > 0
        if existing and create and check_store(self.path, allow_empty=True):
            existing = False  # no tables yet: (another writer is) creating it
        elif existing:
            check_store(self.path)
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            if create and not existing:
                self.conn.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} INSERT OR IGNORE INTO meta VALUES "
                    f"('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
                )
            _check_schema(self.conn, self.path)
        except (sqlite3.Error, OSError) as err:
            raise InputError(f"cannot use {str(self.path)!r} as a results store: {err}.") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        """Copy the write-ahead log into the store file, then close."""
        try:
            if not self.conn.in_transaction:
                self.checkpoint()
        except sqlite3.Error as err:  # e.g. another process is writing; its own close will copy it
            log.info("checkpoint of %s deferred: %s", self.path, err)
        finally:
            self.conn.close()

    def checkpoint(self, mode: str = "TRUNCATE") -> bool:
        """Copy every committed transaction from the ``-wal`` file into the store file (TRUNCATE also
        empties the ``-wal`` file; PASSIVE never waits for other connections). True when complete."""
        busy, _, _ = self.conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return not busy

    @contextlib.contextmanager
    def transaction(self):
        """Statements in the block commit together or not at all (an inner block joins the outer)."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # ---- configurations, runs, proxies -----------------------------------------------
    def add_config(self, config: dict) -> str:
        digest = config_hash(config)
        self.copy_config(digest, config)
        return digest

    def copy_config(self, digest: str, config: dict, created: str | None = None) -> None:
        """Store `config` under `digest` as given (imports keep the hash they were written under)."""
        profile = config.get("profile", {}).get("name", "")
        with self.transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?)",
                (
                    digest,
                    profile,
                    json.dumps(config, sort_keys=True, default=str),
                    created or _now(),
                ),
            )

    def add_proxies(self, metadata: Iterable[dict], *, replace: bool = True) -> None:
        verb = "REPLACE" if replace else "IGNORE"
        with self.transaction():
            for meta in metadata:
                self.conn.execute(
                    f"INSERT OR {verb} INTO proxies VALUES (?, ?, ?)",
                    (meta["name"], int(meta["direction"] == "higher"), json.dumps(meta)),
                )

    def directions(self) -> dict[str, bool]:
        """{proxy: higher_is_better} of the proxies the store knows."""
        return {
            p: bool(h) for p, h in self.conn.execute("SELECT proxy, higher_is_better FROM proxies")
        }

    def start_run(self, digest: str, environment: dict, command: str) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (config_hash, started, environment, command) VALUES (?, ?, ?, ?)",
                (digest, _now(), json.dumps(environment, default=str), command),
            )
        return int(cur.lastrowid)

    def copy_run(self, run: dict) -> int:
        """Insert a run record read from another store (`read_store`); returns its new run_id here."""
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (config_hash, started, finished, environment, command, summary) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                tuple(
                    run[k]
                    for k in (
                        "config_hash",
                        "started",
                        "finished",
                        "environment",
                        "command",
                        "summary",
                    )
                ),
            )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, summary: dict) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET finished = ?, summary = ? WHERE run_id = ?",
                (_now(), json.dumps(summary, default=str), run_id),
            )

    # ---- results -----------------------------------------------------------------------
    def done_keys(
        self, digest: str, space: str, include_errors: bool = True, include_filled: bool = True
    ) -> set[tuple[int, str, int]]:
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
            "FROM results WHERE config_hash = ? AND space = ? AND cell = ?",
            (digest, space, cell),
        )
        return [ResultRow(*r) for r in cur]

    def write_rows(
        self, digest: str, space: str, rows: Sequence[ResultRow], run_id: int | None
    ) -> None:
        """Write rows in one explicit transaction (all or nothing)."""
        for row in rows:
            if row.status not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}; got {row.status!r}")
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        digest,
                        space,
                        r.cell,
                        r.proxy,
                        r.repeat,
                        r.arch_str,
                        r.value,
                        r.status,
                        r.message,
                        r.seconds,
                        r.peak_mem_mb,
                        r.filled_from,
                        run_id,
                    )
                    for r in rows
                ],
            )


# ---- reading (pandas) ----------------------------------------------------------------------
@contextlib.contextmanager
def _open_readonly(path: str | Path):
    """A checked read-only connection to a store, closed when the block ends."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"results store not found: {path}.")
    conn = connect_readonly(path)
    try:
        _check_schema(conn, path)
        yield conn
    finally:
        conn.close()


def read_configs(path: str | Path) -> dict[str, dict]:
    """{config_hash: configuration} of a store."""
    with _open_readonly(path) as conn:
        return {
            h: json.loads(c) for h, c in conn.execute("SELECT config_hash, config FROM configs")
        }


def read_store(path: str | Path) -> dict:
    """Everything an import carries over from a store, as stored: ``results`` (DataFrame of the raw
    rows), ``configs`` ({hash: (config, created)}), ``proxies`` ({name: (higher_is_better, metadata)})
    and ``runs`` ({run_id: run record})."""
    import pandas as pd

    with _open_readonly(path) as conn:
        results = pd.read_sql_query("SELECT * FROM results", conn)
        configs = {
            h: (json.loads(c), t)
            for h, c, t in conn.execute("SELECT config_hash, config, created FROM configs")
        }
        proxies = {
            p: (bool(h), m)
            for p, h, m in conn.execute("SELECT proxy, higher_is_better, metadata FROM proxies")
        }
        cur = conn.execute("SELECT * FROM runs")
        names = [d[0] for d in cur.description]
        runs = {row[0]: dict(zip(names, row)) for row in cur}
    return {"results": results, "configs": configs, "proxies": proxies, "runs": runs}


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
    raw["higher_is_better"] = raw["proxy"].map(
        lambda p: bool(directions[p]) if p in directions else None
    )
    raw["value"] = raw["value"].astype(float)
    columns = list(RESULT_COLUMNS)
    if per_repeat:
        raw["repeats"] = 1
        out = raw[columns[:10] + ["repeat"] + columns[10:] + ["peak_mem_mb"]]
        return out.sort_values(["config_hash", "space", "proxy", "index", "repeat"]).reset_index(
            drop=True
        )
    return aggregate_repeats(raw)[columns]


_STATUS_RANK = {"ok": 0, "inf": 1, "nan": 2, "error": 3}


def aggregate_repeats(raw):
    """Collapse per-repeat rows into one row per (config, space, cell, proxy)."""
    keys = ["config_hash", "space", "index", "proxy"]
    raw = raw.assign(_rank=raw["status"].map(_STATUS_RANK))
    grouped = raw.groupby(keys, sort=True)
    out = grouped.agg(
        arch_str=("arch_str", "first"),
        profile=("profile", "first"),
        dataset=("dataset", "first"),
        value=("value", "mean"),
        _rank=("_rank", "max"),
        seconds=("seconds", "mean"),
        repeats=("repeat", "count"),
        higher_is_better=("higher_is_better", "first"),
        filled_from=("filled_from", "first"),
        message=("message", lambda m: next((x for x in m if isinstance(x, str)), None)),
    ).reset_index()
    inverse = {v: k for k, v in _STATUS_RANK.items()}
    out["status"] = out["_rank"].map(inverse)
    # NaN unless every repeat is ok -- or some are infinite (one sign, the rest ok): that infinity stays.
    out.loc[~out["status"].isin(["ok", "inf"]), "value"] = float("nan")
    out["filled_from"] = out["filled_from"].astype("Int64")
    return (
        out.drop(columns="_rank")
        .sort_values(["config_hash", "space", "proxy", "index"])
        .reset_index(drop=True)
    )
