"""Fault battery, stores: a foreign SQLite file is refused untouched, concurrent creation succeeds,
import is exact and all-or-nothing, each cell is one transaction, shard stores merge exactly."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.exports import configs_sidecar, write_export
from sweep.profiles import get_profile
from harness.store import ResultRow, ResultStore

from tests.fault_helpers import (
    ARCH,
    child_env,
    export_store,
    invoke,
    make_store,
    one_line_error,
    rows_of,
)


# ---- 3. a foreign SQLite database is refused untouched ----------------------------------------
def _foreign_db(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO customers (name) VALUES (?)", [("a",), ("b",)])
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    "command",
    [
        ["run-proxies", "--proxies", "params", "--indices", "0", "--dataset", "synthetic", "--out"],
        ["import", "--results", "EXPORT", "--out"],
        ["export", "--results"],
        ["correlate", "--results"],
    ],
)
def test_foreign_database_is_refused_and_left_byte_identical(tmp_path, command):
    foreign = tmp_path / "other.sqlite"
    before = _foreign_db(foreign)
    if "EXPORT" in command:
        export = tmp_path / "x.csv"
        export_store(make_store(tmp_path / "s.sqlite"), export)
        command = [export if c == "EXPORT" else c for c in command]
    one_line_error(invoke(*command, foreign), "not a harness results store")
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("other")) == [
        "other.sqlite"
    ]


def _write_one_row(path: str, cell: int) -> None:
    with ResultStore(path) as store:
        digest = store.add_config({"profile": {"name": "bench"}})
        store.write_rows(digest, "nb201", [ResultRow(cell, ARCH[cell], "p", 0, 1.0, "ok")], None)


def test_writers_creating_one_store_at_once_all_succeed(tmp_path):
    """The foreign-file check must not refuse a store that another writer is creating."""
    import multiprocessing as mp

    context = mp.get_context("fork")
    for trial in range(5):
        path = str(tmp_path / f"s{trial}.sqlite")
        procs = [context.Process(target=_write_one_row, args=(path, k)) for k in range(4)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [proc.exitcode for proc in procs] == [0] * 4
        assert sorted(rows_of(Path(path))["cell"]) == [0, 1, 2, 3]


# ---- 4. import: exact, all or nothing, says what it did ---------------------------------------
@pytest.mark.parametrize("name", ["x.csv", "x.csv.gz"])
def test_export_import_export_is_byte_identical(tmp_path, name):
    store = make_store(tmp_path / "s.sqlite")
    raw = rows_of(store)
    assert {"ok", "nan", "inf", "error"} <= set(raw["status"]) and raw["repeat"].nunique() == 3
    assert (raw["value"] == -math.inf).any() and (raw["value"] == math.inf).any()
    first = export_store(store, tmp_path / "a" / name)
    result = invoke("import", "--results", tmp_path / "a" / name, "--out", tmp_path / "b.sqlite")
    assert result.exit_code == 0, result.output
    assert f"{len(raw)} new" in result.output
    assert export_store(tmp_path / "b.sqlite", tmp_path / "b" / name) == first
    assert (tmp_path / "a" / "x.configs.json").read_text().replace(name, "") == (
        tmp_path / "b" / "x.configs.json"
    ).read_text().replace(name, "")
    back = rows_of(tmp_path / "b.sqlite").drop(columns="run_id")
    pd.testing.assert_frame_equal(back, raw.drop(columns="run_id"))  # values bit for bit, -inf kept


def test_import_counts_duplicates_and_identical_rows(tmp_path):
    store = make_store(tmp_path / "s.sqlite", cells=10)
    export = tmp_path / "x.csv.gz"
    export_store(store, export)
    n = len(rows_of(store))
    result = invoke(
        "import",
        "--results",
        export,
        export,
        export,
        export,
        "--out",
        tmp_path / "d.sqlite",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["new"], summary["identical"], summary["conflicting"]) == (n, 3 * n, 0)
    assert len(rows_of(tmp_path / "d.sqlite")) == n
    again = json.loads(
        invoke("import", "--results", store, "--out", tmp_path / "d.sqlite", "--json").output
    )
    assert (again["new"], again["identical"]) == (0, n)


def test_import_conflicts_are_an_error_unless_replace(tmp_path):
    store = make_store(tmp_path / "s.sqlite", cells=5)
    export = tmp_path / "x.csv"
    export_store(store, export)
    frame = pd.read_csv(export, keep_default_na=False, na_values=[""])
    ok = frame.index[frame["status"] == "ok"][0]
    frame.loc[ok, "value"] = frame.loc[ok, "value"] + 1.0
    changed = tmp_path / "changed.csv"
    write_export(frame, changed, json.loads(configs_sidecar(export).read_text()))
    target = tmp_path / "t.sqlite"
    shutil.copy(store, target)
    before = rows_of(target)
    one_line_error(
        invoke("import", "--results", changed, "--out", target),
        "1 incoming row(s) conflict",
        "--replace",
    )
    pd.testing.assert_frame_equal(rows_of(target), before)
    result = invoke("import", "--results", changed, "--out", target, "--replace")
    assert result.exit_code == 0 and "1 conflicting (replaced)" in result.output, result.output
    one_line_error(
        invoke("import", "--results", export, changed, "--out", tmp_path / "new.sqlite"),
        "the inputs disagree on 1 key",
    )
    assert not (tmp_path / "new.sqlite").exists()


def _last_value_text(frame):
    frame = frame.assign(value=frame["value"].astype(object))
    frame.loc[frame.index[-1], "value"] = "abc"
    return frame


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (_last_value_text, "non-numeric value"),
        (lambda f: f.assign(status=list(f["status"][:-1]) + ["weird"]), "a status other than"),
        (lambda f: f.assign(index=list(f["index"][:-1]) + [15625]), "NB201 index out of range"),
        (lambda f: f.assign(repeat=list(f["repeat"][:-1]) + [-1]), "negative repeat"),
        (lambda f: f.drop(columns="repeat"), "aggregated repeats"),
        (lambda f: f.drop(columns="arch_str"), "lacks column(s) arch_str"),
    ],
)
def test_import_bad_row_imports_nothing(tmp_path, mutate, needle):
    store = make_store(tmp_path / "s.sqlite", cells=5)
    export = tmp_path / "x.csv"
    export_store(store, export)
    frame = mutate(pd.read_csv(export, keep_default_na=False, na_values=[""]))
    bad = tmp_path / "bad.csv"
    write_export(frame, bad, json.loads(configs_sidecar(export).read_text()))
    one_line_error(invoke("import", "--results", bad, "--out", tmp_path / "new.sqlite"), needle)
    assert not (tmp_path / "new.sqlite").exists()
    target = tmp_path / "t.sqlite"
    shutil.copy(store, target)
    before = target.read_bytes()
    one_line_error(invoke("import", "--results", export, bad, "--out", target), needle)
    assert target.read_bytes() == before


# ---- 5. each cell in one explicit transaction -------------------------------------------------
def test_a_failing_row_rolls_back_the_whole_cell(tmp_path):
    path = tmp_path / "t.sqlite"
    with ResultStore(path) as store:
        digest = store.add_config({"profile": {"name": "bench"}})
        rows = [
            ResultRow(0, ARCH[0], "p", 0, 1.0, "ok"),
            ResultRow(0, ARCH[0], "p", 1, 2.0, "ok"),
            ResultRow(0, None, "p", 2, 3.0, "ok"),
        ]  # NOT NULL arch_str fails on the third row
        with pytest.raises(sqlite3.IntegrityError):
            store.write_rows(digest, "nb201", rows, None)
        assert not store.conn.in_transaction
        assert (
            store.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0
        )  # not the first two
        store.write_rows(digest, "nb201", rows[:2], None)  # the store is still usable
    assert len(rows_of(path)) == 2


# ---- merging shard stores (harness import --results shard_*.sqlite) ---------------------------
@pytest.mark.slow  # four `harness` processes: 20 s on two cores
def test_shards_in_separate_processes_merge_into_the_single_process_result(tmp_path):
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    cells = "0-11,6111"
    base = [
        sys.executable,
        "-m",
        "cli",
        "run-proxies",
        "--proxies",
        "params,linear_regions",
        "--profile",
        "tenas",
        "--repeats",
        "2",
        "--dataset",
        "synthetic",
        "--indices",
        cells,
        "--threads",
        "1",
        "-q",
    ]
    shards = [tmp_path / f"shard_{i}.sqlite" for i in (1, 2, 3)]
    procs = [
        subprocess.Popen(
            [*base, "--shard", f"{i}/3", "--out", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for i, path in zip((1, 2, 3), shards)
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    single = tmp_path / "single.sqlite"
    spec = SweepSpec(
        ("params", "linear_regions"),
        get_profile("tenas", repeats=2),
        "synthetic",
        data_source="cifar10",
    )
    from harness.selection import parse_indices

    run_sweep(spec, SweepOptions(parse_indices(cells), quiet=True), str(single))
    merged = tmp_path / "all.sqlite"
    result = invoke("import", "--results", *shards, "--out", merged, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["new"], summary["identical"], summary["conflicting"]) == (13 * 2 * 2, 0, 0)
    assert summary["configs_added"] == 1 and summary["runs_copied"] == 3
    key = ["config_hash", "space", "cell", "proxy", "repeat"]
    got, want = rows_of(merged), rows_of(single)
    assert not got.duplicated(key).any() and len(got) == len(want) == 13 * 2 * 2
    columns = [*key, "arch_str", "value", "status", "filled_from"]
    pd.testing.assert_frame_equal(got[columns], want[columns])  # bit-identical values, same keys
    again = json.loads(
        invoke("import", "--results", *shards, single, "--out", merged, "--json").output
    )
    assert (again["new"], again["identical"], again["conflicting"]) == (0, 2 * len(want), 0)


def test_shard_stores_merge_into_the_unsharded_result(tmp_path):
    """The same in one process (fast); the test above runs the shards as separate processes."""
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(
        ("params",), get_profile("bench", repeats=2), "synthetic", data_source="cifar10"
    )
    cells = [*range(7), 6111]
    shards = [tmp_path / f"shard_{i}.sqlite" for i in (1, 2, 3)]
    for i, path in zip((1, 2, 3), shards):
        run_sweep(spec, SweepOptions(cells, shard=(i, 3), quiet=True), str(path))
    run_sweep(spec, SweepOptions(cells, quiet=True), str(tmp_path / "single.sqlite"))
    result = invoke("import", "--results", *shards, "--out", tmp_path / "all.sqlite")
    assert (
        result.exit_code == 0 and "16 new, 0 identical (kept once), 0 conflicting" in result.output
    ), result.output
    columns = [
        "config_hash",
        "space",
        "cell",
        "proxy",
        "repeat",
        "arch_str",
        "value",
        "status",
        "filled_from",
    ]
    pd.testing.assert_frame_equal(
        rows_of(tmp_path / "all.sqlite")[columns], rows_of(tmp_path / "single.sqlite")[columns]
    )
