"""Shared helpers of the fault battery (tests/test_faults_*.py): the CLI, one-line errors, a
small store with known rows."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from cli import cli
from harness.spaces import nb201
from harness.store import ResultRow, ResultStore
from tests.conftest import REPO


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


def child_env() -> dict:
    """The environment of a CLI run in a child process (this checkout first on the path)."""
    return dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")


def export_store(store: Path, out: Path) -> bytes:
    """`harness export --per-repeat` of `store` to `out`; the bytes written."""
    result = invoke("export", "--results", store, "--per-repeat", "--out", out)
    assert result.exit_code == 0, result.output
    return out.read_bytes()
