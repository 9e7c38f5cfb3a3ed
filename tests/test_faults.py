"""Fault and bad-input battery (issue 19): nothing lost, nothing half-written, every bad input one line.

Writers are killed (SIGKILL) at several byte counts inside their writes, through a driver that
wraps `open()` in the killed process; stores are checked for transactions, foreign files,
read-only storage and WAL checkpoints; corrupt inputs must give one line and exit 2.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli
from harness.errors import InputError
from harness.exports import configs_sidecar, write_export
from sweep.profiles import get_profile
from harness.spaces import nb201
from harness.store import ResultRow, ResultStore, read_results
from tests.conftest import REPO
from tests.fakes import ramp_table

ARCH = [str(nb201.Nb201Arch.from_index(i)) for i in range(60)]


# ---- helpers ---------------------------------------------------------------------------------
def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, *needles) -> str:
    """The command failed with exit 2 and exactly one line, which holds every needle."""
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def make_store(path: Path, cells: int = 40, repeats: int = 3, seed: int = 0) -> Path:
    """A store with ok values of many magnitudes, NaN, +inf, -inf, errors, filled rows and repeats."""
    rng = np.random.default_rng(seed)
    config = {
        "profile": {"name": "tenas", "batch_size": 72},
        "data": {"dataset": "cifar10", "checksum": "x"},
    }
    with ResultStore(path) as store:
        digest = store.add_config(config)
        store.add_proxies(
            [{"name": "p_hi", "direction": "higher"}, {"name": "p_lo", "direction": "lower"}]
        )
        run_id = store.start_run(digest, {"host": "test"}, "harness run-proxies (test)")
        for cell in range(cells):
            rows = []
            for proxy in ("p_hi", "p_lo"):
                for r in range(repeats):
                    kind = (cell * 7 + r) % 11
                    value, status, message = (
                        float(rng.normal() * 10.0 ** rng.integers(-8, 9)),
                        "ok",
                        None,
                    )
                    if kind == 3:
                        value, status = None, "nan"
                    elif kind == 5:
                        value, status, message = math.inf, "inf", "+inf"
                    elif kind == 6:
                        value, status, message = -math.inf, "inf", "-inf"
                    elif kind == 8:
                        value, status, message = None, "error", "RuntimeError: boom, with a comma"
                    rows.append(
                        ResultRow(
                            cell,
                            ARCH[cell],
                            proxy,
                            r,
                            value,
                            status,
                            message,
                            float(rng.random()),
                            float(rng.random() * 1000),
                            cell - 1 if cell % 13 == 12 else None,
                        )
                    )
            store.write_rows(digest, "nb201", rows, run_id)
        store.finish_run(run_id, {"scored": cells})
    return path


def rows_of(path: Path) -> pd.DataFrame:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return pd.read_sql_query(
            "SELECT * FROM results ORDER BY config_hash, space, cell, proxy, repeat", conn
        )
    finally:
        conn.close()


# ---- 1. atomic outputs; incomplete exports are refused ----------------------------------------
class _Killing:
    """A file opened for writing whose writes count towards LIMIT; the write that crosses it is cut
    there and flushed, then the process SIGKILLs itself."""

    written = 0
    limit = -1

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        if 0 <= _Killing.limit < _Killing.written + len(data):
            self._handle.write(data[: _Killing.limit - _Killing.written])
            self._handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        _Killing.written += len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __iter__(self):
        return iter(self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)


def run_killed(limit: int, module: str, args, timeout: float = 120) -> tuple[bool, int]:
    """Run `harness <module's command> args` in a forked process that SIGKILLs itself once `limit`
    bytes went into files it opened for writing (never when -1). Returns (killed, bytes written)."""
    import builtins
    import importlib

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.close(read_end)
            real_open = builtins.open
            _Killing.limit, _Killing.written = limit, 0

            def patched(file, mode="r", *a, **k):
                handle = real_open(file, mode, *a, **k)
                return _Killing(handle) if any(c in mode for c in "wax+") else handle

            builtins.open = patched
            command = importlib.import_module(module).command
            command.main([str(a) for a in args], prog_name="harness", standalone_mode=False)
            os.write(write_end, str(_Killing.written).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"{module} {args} did not finish in {timeout} s")
        time.sleep(0.02)
    with os.fdopen(read_end, "rb") as pipe:
        reported = pipe.read()
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert killed or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0), (module, args, status)
    return killed, int(reported or -1)


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")


def _visible(folder: Path) -> dict[str, bytes]:
    """Files at their destinations (hidden temporary files left by a kill excluded)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.mark.parametrize("name", ["x.csv", "x.csv.gz"])
def test_export_killed_at_any_byte_leaves_no_partial_file(tmp_path, name):
    store = make_store(tmp_path / "s.sqlite", cells=60)
    args = ["--results", store, "--per-repeat", "--out"]
    killed, total = run_killed(-1, "cli.export", [*args, tmp_path / "ref" / name])
    complete = _visible(tmp_path / "ref")
    table_size = len(complete[name])
    assert set(complete) == {name, "x.configs.json"} and total == table_size + len(
        complete["x.configs.json"]
    )
    cuts = sorted(
        {1, table_size // 3, 2 * table_size // 3, table_size - 1, table_size + 5, total - 1}
    )
    for cut in cuts:
        work = tmp_path / f"cut{cut}"
        work.mkdir()
        assert run_killed(cut, "cli.export", [*args, work / name])[0], cut
        left = _visible(work)
        for file, data in left.items():  # whatever is at a destination is whole
            assert data == complete[file], (cut, file)
        assert set(left) == ({name} if cut >= table_size else set()), (cut, set(left))
        if left:  # the table made it, its sidecar did not: readers refuse it
            one_line_error(
                invoke("correlate", "--results", work / name, "--bootstrap", "0"), "no sidecar"
            )


def test_reader_refuses_a_truncated_or_sidecarless_export(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    out = tmp_path / "x.csv"
    assert invoke("export", "--results", store, "--out", out).exit_code == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(
        b"".join(lines[: len(lines) // 2])
    )  # cut at a line boundary, as a killed writer did
    one_line_error(
        invoke("correlate", "--results", out, "--bootstrap", "0"),
        "x.csv",
        "incomplete",
        "--accept-partial",
    )
    one_line_error(invoke("import", "--results", out, "--out", tmp_path / "n.sqlite"), "incomplete")
    assert not (tmp_path / "n.sqlite").exists()
    configs_sidecar(out).unlink()
    one_line_error(invoke("report", "--results", out, "--out", tmp_path / "rep"), "no sidecar")


def test_accept_partial_reads_it_anyway(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    out = tmp_path / "x.csv"
    assert invoke("export", "--results", store, "--out", out).exit_code == 0
    configs_sidecar(out).unlink()
    result = invoke("correlate", "--results", out, "--bootstrap", "0", "--accept-partial")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "cuts",
    [(1, 0.5), pytest.param((0.25, 0.75, 0.999), marks=pytest.mark.slow)],
    ids=["2-cuts", "3-more-cuts"],
)
def test_report_killed_at_any_byte_leaves_no_partial_file(tmp_path, cuts):
    store = make_store(tmp_path / "s.sqlite", cells=30, repeats=2)
    args = [
        "--results",
        store,
        "--metric",
        "cifar10-valid/x-valid@200",
        "--bootstrap",
        "0",
        "--out",
    ]
    total = run_killed(-1, "cli.report", [*args, tmp_path / "ref"])[1]
    complete = _visible(tmp_path / "ref")
    assert {"leaderboard.csv", "leaderboard.md", "index.html", "repeats.csv"} <= set(complete)
    for cut in cuts:
        limit = int(cut if cut >= 1 else cut * total)
        work = tmp_path / f"cut{limit}"
        assert run_killed(limit, "cli.report", [*args, work])[0], limit
        left = _visible(work) if work.exists() else {}
        assert (
            "index.html" not in left
        )  # written last: it is there only when the report is complete
        for file, data in left.items():
            assert data == complete[file], (limit, file)


_IN_PLACE = re.compile(
    r"(?<!records)(?<!atomic)\.write_(text|bytes)\("  # Path.write_text / write_bytes
    r"|\.to_(csv|parquet)\((?!index=|sys\.stdout|text|tmp)"  # pandas to a path
    r"|savefig\((?!tmp)|torch\.save\([^)]*,\s*(?!tmp)[^,\s)]+\)"  # figures, checkpoints
    r"|\bopen\((?!tmp|partial)[^)]*[\"'][wa]b?[\"']"  # open(destination, "w") / "a"
)


def test_every_writer_goes_through_the_atomic_helper():
    """No module of the harness writes a destination file in place: writers go through
    harness.atomic or write a temporary (``tmp``) / ``partial`` file that is renamed when complete."""
    offenders = []
    for folder in ("harness", "proxies", "sweep", "search", "training", "reports", "cli"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name == "atomic.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if _IN_PLACE.search(line) and "atomic" not in line:
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ---- 2. options validated before any work; failed keys retried -------------------------------
@pytest.mark.parametrize(
    "args, needle",
    [
        (["--proxies", "ntk_cond", "--ntk-engine", "foo"], "unknown --ntk-engine 'foo'"),
        (
            ["--proxies", "params", "--threads", "-1"],
            "--threads must be a positive integer; got -1",
        ),
        (["--proxies", "params", "--threads", "0"], "--threads must be a positive integer; got 0"),
        (
            ["--proxies", "params", "--cpus-per-task", "0"],
            "--cpus-per-task must be a positive integer",
        ),
        (["--proxies", "params", "--gpus-per-task", "-1"], "--gpus-per-task must be >= 0"),
        (["--proxies", "params", "--workers", "-3"], "--workers must be a positive integer"),
        (["--proxies", "params", "--indices", ""], "--indices '' is empty"),
        (["--proxies", "params", "--indices", " "], "is empty"),
        (["--proxies", "params", "--indices", "0,,3"], "empty item"),
        (["--proxies", "params", "--indices", "0,"], "empty item"),
        (["--proxies", "params", "--indices", ","], "empty item"),
    ],
)
def test_run_proxies_bad_options_exit_2_and_create_nothing(tmp_path, args, needle):
    out = tmp_path / "s.sqlite"
    one_line_error(
        invoke("run-proxies", "--indices", "0", "--dataset", "synthetic", "--out", out, *args),
        needle,
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--summary", "--init-channels", "0"],
            "--init-channels must be a positive integer; got 0",
        ),
        (["--summary", "--layers", "0"], "--layers must be a positive integer; got 0"),
        (["--summary", "--layers", "-1"], "--layers must be a positive integer"),
        (["--summary", "--image-size", "0"], "--image-size must be a positive integer"),
        (["--init-channels", "0", "--epochs", "1"], "--init-channels must be a positive integer"),
    ],
)
def test_train_bad_sizes_exit_2(args, needle):
    one_line_error(invoke("train", *args), needle)


_FLAKY = {"fail": True}


@pytest.fixture
def flaky_proxy():
    """A proxy that fails while _FLAKY["fail"] is set, registered for one test only."""
    from proxies.registry import PROXIES, register_proxy

    @register_proxy("test_flaky", higher_is_better=True, inputs="shape")
    def _flaky(model, inputs, labels=None):
        """Fails while FAIL is set (test only)."""
        if _FLAKY["fail"]:
            raise RuntimeError("transient failure")
        return 1.0

    try:
        yield "test_flaky"
    finally:
        PROXIES._items.pop("test_flaky", None)  # the registry has no public removal: tests only


def test_failed_keys_are_retried_by_a_rerun_never_counted_done(tmp_path, flaky_proxy):
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(
        (flaky_proxy,), get_profile("tenas", repeats=1), "synthetic", data_source="cifar10"
    )
    out = tmp_path / "f.sqlite"
    _FLAKY["fail"] = True
    first = run_sweep(spec, SweepOptions([0, 1], quiet=True), str(out))
    assert first.failed_cells == 2 and set(rows_of(out)["status"]) == {"error"}
    kept = run_sweep(spec, SweepOptions([0, 1], quiet=True, retry_errors=False), str(out))
    assert kept.scored == 0  # --keep-errors leaves them
    _FLAKY["fail"] = False
    second = run_sweep(spec, SweepOptions([0, 1], quiet=True), str(out))
    assert (second.skipped, second.scored) == (0, 2)
    assert set(rows_of(out)["status"]) == {"ok"}
    assert run_sweep(spec, SweepOptions([0, 1], quiet=True), str(out)).skipped == 2


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
        _export(make_store(tmp_path / "s.sqlite"), export)
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
def _export(store: Path, out: Path) -> bytes:
    result = invoke("export", "--results", store, "--per-repeat", "--out", out)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.parametrize("name", ["x.csv", "x.csv.gz"])
def test_export_import_export_is_byte_identical(tmp_path, name):
    store = make_store(tmp_path / "s.sqlite")
    raw = rows_of(store)
    assert {"ok", "nan", "inf", "error"} <= set(raw["status"]) and raw["repeat"].nunique() == 3
    assert (raw["value"] == -math.inf).any() and (raw["value"] == math.inf).any()
    first = _export(store, tmp_path / "a" / name)
    result = invoke("import", "--results", tmp_path / "a" / name, "--out", tmp_path / "b.sqlite")
    assert result.exit_code == 0, result.output
    assert f"{len(raw)} new" in result.output
    assert _export(tmp_path / "b.sqlite", tmp_path / "b" / name) == first
    assert (tmp_path / "a" / "x.configs.json").read_text().replace(name, "") == (
        tmp_path / "b" / "x.configs.json"
    ).read_text().replace(name, "")
    back = rows_of(tmp_path / "b.sqlite").drop(columns="run_id")
    pd.testing.assert_frame_equal(back, raw.drop(columns="run_id"))  # values bit for bit, -inf kept


def test_import_counts_duplicates_and_identical_rows(tmp_path):
    store = make_store(tmp_path / "s.sqlite", cells=10)
    export = tmp_path / "x.csv.gz"
    _export(store, export)
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
    _export(store, export)
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
    _export(store, export)
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


# ---- 6. corrupt inputs: one line naming the file, exit 2, nothing created ---------------------
def _good_npz(path: Path, n: int = 80, **overrides) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "images": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        "labels": rng.integers(0, 10, n).astype(np.int64),
    }
    arrays.update(overrides)
    np.savez_compressed(path, **arrays)


def _npz_faults(path: Path) -> dict:
    """name -> function that writes a damaged images/cifar10_train_4000.npz at `path`."""

    def truncated():
        _good_npz(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def garbled():
        _good_npz(path)
        data = bytearray(path.read_bytes())
        for i in range(200, len(data) - 200, 97):
            data[i] ^= 0x5A
        path.write_bytes(bytes(data))

    def crc():
        _good_npz(path)
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
        data = bytearray(path.read_bytes())
        start = infos[0].header_offset + 30 + len(infos[0].filename) + len(infos[0].extra)
        data[start + infos[0].compress_size // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    return {
        "empty": lambda: path.write_bytes(b""),
        "truncated": truncated,
        "garbled": garbled,
        "bad-crc": crc,
        "not-a-zip": lambda: path.write_bytes(b"PK\x03\x04" + b"\0" * 100),
        "pickle": lambda: path.write_bytes(b"\x80\x04\x95" + b"x" * 50),
        "npy": lambda: np.save(open(path, "wb"), np.zeros(3)),
        "wrong-keys": lambda: np.savez(
            path, pixels=np.zeros((2, 32, 32, 3), np.uint8), labels=np.zeros(2)
        ),
        "wrong-shape": lambda: _good_npz(path, images=np.zeros((80, 28, 28, 3), np.uint8)),
        "float-pixels": lambda: _good_npz(path, images=np.zeros((80, 32, 32, 3), np.float32)),
        "too-few-labels": lambda: _good_npz(path, labels=np.zeros(79, np.int64)),
        "float-labels": lambda: _good_npz(path, labels=np.zeros(80, np.float64)),
        "label-10": lambda: _good_npz(path, labels=np.full(80, 10, np.int64)),
        "label-negative": lambda: _good_npz(path, labels=np.full(80, -1, np.int64)),
    }


FAULTS = sorted(_npz_faults(Path("x")))


@pytest.mark.parametrize("fault", FAULTS)
def test_corrupt_npz_is_one_line_naming_the_file(tmp_path, fault):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    npz = data / "images" / "cifar10_train_4000.npz"
    _npz_faults(npz)[fault]()
    out = tmp_path / "s.sqlite"
    line = one_line_error(
        invoke(
            "run-proxies",
            "--proxies",
            "params",
            "--indices",
            "0",
            "--data-dir",
            data,
            "--data-source",
            "npz",
            "--out",
            out,
        ),
        "cifar10_train_4000.npz",
    )
    assert "Traceback" not in line
    assert not out.exists()


@pytest.mark.parametrize(
    "fault", ["offsets-beyond", "offsets-short", "labels-range", "split-values", "keys"]
)
def test_corrupt_jpeg_bytes_file_is_one_line(tmp_path, fault):
    from harness.data import load_images

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    path = data / "images" / "cifar10_all_60000_jpegbytes.npz"
    n = 4
    arrays = {
        "jpeg_bytes": np.zeros(100, np.uint8),
        "offsets": np.arange(0, 125, 25)[: n + 1],
        "labels": np.zeros(n, np.int64),
        "split": np.zeros(n, np.int64),
    }
    if fault == "offsets-beyond":
        arrays["offsets"] = np.array([0, 25, 50, 75, 400])
    elif fault == "offsets-short":
        arrays["offsets"] = np.array([0, 25, 50])
    elif fault == "labels-range":
        arrays["labels"] = np.array([0, 1, 2, 99])
    elif fault == "split-values":
        arrays["split"] = np.array([0, 1, 2, 0])
    else:
        arrays.pop("split")
    np.savez(path, **arrays)
    with pytest.raises(InputError, match="cifar10_all_60000_jpegbytes.npz"):
        load_images("cifar10", "train", data, source="jpegbytes")


def test_truncated_csv_gz_in_correlate_and_import(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    export = tmp_path / "x.csv.gz"
    _export(store, export)
    export.write_bytes(export.read_bytes()[:-200])
    for accept in ([], ["--accept-partial"]):
        line = one_line_error(
            invoke("correlate", "--results", export, "--bootstrap", "0", *accept), "x.csv.gz"
        )
        assert "Aborted" not in line
        one_line_error(
            invoke("import", "--results", export, "--out", tmp_path / "n.sqlite", *accept),
            "x.csv.gz",
        )
        assert not (tmp_path / "n.sqlite").exists()


@pytest.mark.parametrize(
    "content", [b"", b"\x1f\x8b\x08garbage", b"space,index\n1,2,3,4\n\xff\xfe"]
)
def test_garbage_exports_are_one_line(tmp_path, content):
    path = tmp_path / "x.csv.gz"
    path.write_bytes(content)
    one_line_error(invoke("correlate", "--results", path, "--accept-partial"), "x.csv.gz")
    one_line_error(
        invoke("import", "--results", path, "--out", tmp_path / "n.sqlite", "--accept-partial"),
        "x.csv.gz",
    )
    assert not (tmp_path / "n.sqlite").exists()


@pytest.mark.parametrize("value", [1e9, -5.0, float("inf")])
def test_benchmark_with_absurd_accuracies_is_refused(tmp_path, value):
    table = ramp_table()
    table.loc[17, "cifar10_valid_acc"] = value
    bench = tmp_path / "nb201_accuracy.csv"
    table.to_csv(bench, index=False)
    store = make_store(tmp_path / "s.sqlite", cells=5)
    one_line_error(
        invoke("correlate", "--results", store, "--bench", bench, "--bootstrap", "0"),
        "nb201_accuracy.csv",
        "outside 0-100",
    )


# ---- 7. stores on read-only storage are readable ---------------------------------------------
def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-r", "-m", "true"], capture_output=True)
    return probe.returncode == 0


def _in_read_only(folder: Path, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `argv` with `folder` mounted read-only (a private mount namespace; root cannot write it)."""
    script = (
        f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}' && exec "
        + " ".join(f"'{a}'" for a in argv)
    )
    return subprocess.run(
        ["unshare", "-r", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=_env(),
    )


read_only_storage = pytest.mark.skipif(
    not _unshare_ok(), reason="needs `unshare -r -m` for a read-only mount"
)


@read_only_storage
def test_store_in_a_read_only_folder_is_readable(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    store = make_store(folder / "s.sqlite")
    n = len(rows_of(store))
    for left in folder.glob("s.sqlite-*"):  # as copied there: the store file alone
        left.unlink()
    # The readers behind export, correlate and report (the CLI itself is tested on a writable copy).
    reader = (
        "import sys; from harness.store import read_configs, read_results, read_runs; "
        "p = sys.argv[1]; print(len(read_results(p, per_repeat=True)), len(read_results(p)), "
        "len(read_configs(p)), len(read_runs(p)))"
    )
    proc = _in_read_only(folder, [sys.executable, "-c", reader, str(store)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["s.sqlite"]
    assert proc.stdout.split() == [str(n), str(n // 3), "1", "1"]


@pytest.mark.slow  # a fresh `harness` process (5 s of imports); the fast check uses /proc below
@read_only_storage
def test_report_into_a_read_only_folder_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    store = make_store(tmp_path / "s.sqlite", cells=5)
    argv = [
        sys.executable,
        "-c",
        "from cli import main; main()",
        "report",
        "--results",
        str(store),
        "--out",
        str(folder / "rep"),
    ]
    proc = _in_read_only(folder, argv, tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert (
        lines[0].startswith("Error: cannot write the report to")
        and "Read-only file system" in lines[0]
    )


def test_report_into_an_unwritable_folder_is_one_line(tmp_path):
    store = make_store(tmp_path / "s.sqlite", cells=5)
    one_line_error(
        invoke("report", "--results", store, "--out", "/proc/harness-test/report"),
        "cannot write the report to '/proc/harness-test/report'",
    )
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(
        invoke("report", "--results", store, "--out", blocker / "sub"), "cannot write the report"
    )
    one_line_error(
        invoke("export", "--results", store, "--out", blocker / "x.csv"), "cannot write the export"
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["search", "--algo", "random", "--out", "/proc/harness-test/runs"],
            "cannot write search runs to",
        ),
        (
            [
                "search",
                "--leaderboard",
                "--out",
                REPO / "results" / "search" / "runs",
                "--leaderboard-dir",
                "/proc/harness-test",
            ],
            "cannot write the leaderboard to",
        ),
        (
            ["train", "--epochs", "1", "--out", "/proc/harness-test/train"],
            "cannot write the training run to",
        ),
    ],
)
def test_other_unwritable_outputs_are_one_line(args, needle):
    one_line_error(invoke(*args), needle, "/proc/harness-test")


def test_immutable_store_is_readable(tmp_path):
    """An immutable store file in an immutable folder (chattr +i: not even root writes there)."""
    folder = tmp_path / "frozen"
    folder.mkdir()
    store = make_store(folder / "s.sqlite", cells=5)
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(store)], capture_output=True).returncode != 0
    ):
        pytest.skip("chattr +i is not available here")
    try:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        result = invoke("export", "--results", store)
        assert result.exit_code == 0, result.output
        assert len(result.output.splitlines()) == 5 * 2 + 1
        assert invoke("correlate", "--results", store, "--bootstrap", "0").exit_code == 0
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
        subprocess.run(["chattr", "-i", str(store)], check=True)


# ---- 8. --indices: empty or malformed lists are errors ------------------------------------------
@pytest.mark.parametrize("spec", ["", "  ", "0,,3", "0,", ",3"])
def test_correlate_and_report_reject_empty_index_lists(tmp_path, spec):
    store = make_store(tmp_path / "s.sqlite", cells=5)
    one_line_error(invoke("correlate", "--results", store, "--indices", spec), "--indices")
    one_line_error(
        invoke("report", "--results", store, "--indices", spec, "--out", tmp_path / "r"),
        "--indices",
    )


# ---- 10. the store file alone holds every finished result -------------------------------------
def test_store_file_alone_holds_results_after_a_clean_finish(tmp_path):
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(("params",), get_profile("bench"), "synthetic", data_source="cifar10")
    out = tmp_path / "nb201.sqlite"
    run_sweep(spec, SweepOptions([0], quiet=True), str(out))
    watcher = sqlite3.connect(out)  # e.g. a monitoring job: the last closer is not the sweep
    watcher.execute("SELECT COUNT(*) FROM results").fetchone()
    try:
        run_sweep(spec, SweepOptions([0, 1, 2], quiet=True), str(out))
        staged = tmp_path / "staged"
        staged.mkdir()
        shutil.copy(out, staged / out.name)  # a cluster job's stage-out copies the .sqlite alone
        assert sorted(read_results(staged / out.name)["index"]) == [0, 1, 2]
    finally:
        watcher.close()


def test_long_sweeps_checkpoint_periodically(tmp_path, monkeypatch):
    import sweep.runner as runner
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    calls = []
    real = ResultStore.checkpoint
    monkeypatch.setattr(
        ResultStore,
        "checkpoint",
        lambda self, mode="TRUNCATE": calls.append(mode) or real(self, mode),
    )
    monkeypatch.setattr(runner, "CHECKPOINT_SECONDS", 0.0)
    spec = SweepSpec(("params",), get_profile("bench"), "synthetic", data_source="cifar10")
    run_sweep(spec, SweepOptions([0, 1, 2], quiet=True), str(tmp_path / "s.sqlite"))
    assert calls == ["PASSIVE"] * 3 + [
        "TRUNCATE"
    ]  # after each cell here (every 60 s by default), then at the end


# ---- 12. unusual profile/proxy combinations get one line ---------------------------------------
def test_unusual_combinations_say_what_they_cost_or_mean(tmp_path, caplog):
    from sweep.profiles import combination_notes

    assert combination_notes("tenas", ["ntk_cond", "linear_regions"]) == []
    assert combination_notes("bench", ["naswot", "synflow", "linear_regions"]) == []
    (cost,) = combination_notes("bench", ["ntk_cond", "params"])
    assert "105 s per cell" in cost and "--profile tenas" in cost
    (meaning,) = combination_notes("tenas", ["naswot", "ntk_cond"])
    assert meaning.startswith("naswot with --profile tenas") and "not comparable" in meaning

    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(
        ("params",), get_profile("tenas", repeats=1), "synthetic", data_source="cifar10"
    )
    with caplog.at_level(logging.WARNING, logger="sweep.runner"):
        run_sweep(spec, SweepOptions([0], quiet=True), str(tmp_path / "s.sqlite"))
    notes = [r.getMessage() for r in caplog.records if "note:" in r.getMessage()]
    assert len(notes) == 1 and "params with --profile tenas" in notes[0], notes


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
            env=_env(),
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
