"""Fake NB201 benchmark tables: the shared table's layout with made-up accuracies.

One builder for every test that needs a benchmark it controls (the readers, `correlate`, `report`,
the fault checks), so they stop rebuilding the 15,625-row table each in its own way. The layout is
that of `nb201_accuracy.csv`: `index`, `arch_str` and one column per `harness.bench.TABLE_COLUMNS`
key; the values are either an exact ramp (each key and cell told apart by its value) or accuracies
that follow a hidden per-cell quality (so proxies made from that quality correlate with them).
`bench_frame` is the in-memory form the report functions take (`harness.bench.Benchmark.frame`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from harness.bench import TABLE_COLUMNS
from harness.spaces import nb201

METRIC = "cifar10-valid/x-valid@200"


@functools.cache
def arch_strs() -> tuple[str, ...]:
    """Every NB201 cell's arch string, in index order (built once per test session)."""
    return tuple(str(a) for a in nb201.all_archs())


def nb201_table(
    column_values: Callable[[int, int], np.ndarray], archs: Sequence[str] | None = None
) -> pd.DataFrame:
    """A table of `archs` (default: all cells in index order) whose k-th TABLE_COLUMNS column holds
    `column_values(k, len(archs))`."""
    archs = list(arch_strs() if archs is None else archs)
    table = pd.DataFrame({"index": range(len(archs)), "arch_str": archs})
    for k, column in enumerate(TABLE_COLUMNS.values()):
        table[column] = column_values(k, len(archs))
    return table


def ramp_table(archs: Sequence[str] | None = None) -> pd.DataFrame:
    """Column k holds k + index / 1000, so a lookup shows which key and cell it read; CIFAR-100
    validation is filled on every fifth cell only (a partly covered key)."""
    table = nb201_table(lambda k, n: np.arange(n) * 1e-3 + k, archs)
    partial = table["index"] % 5 != 0
    table.loc[partial, TABLE_COLUMNS["cifar100/x-valid@200"]] = np.nan
    return table


def quality_table(
    quality: np.ndarray,
    rng: np.random.Generator,
    *,
    scale: float = 10.0,
    noise: float | Sequence[float] = 1.0,
) -> pd.DataFrame:
    """Accuracies 70 + scale * quality + Gaussian noise, clipped to 0-100, on all cells.

    `noise` is one standard deviation or one per column; the noise is drawn from `rng` column by
    column, so a test's later draws from the same generator stay where they were.
    """
    sds = [noise] * len(TABLE_COLUMNS) if np.isscalar(noise) else list(noise)
    return nb201_table(lambda k, n: (70 + scale * quality + rng.normal(0, sds[k], n)).clip(0, 100))


def bench_frame(acc: dict[int, float] | Sequence[float], metric: str = METRIC) -> pd.DataFrame:
    """A frame like `harness.bench.Benchmark.frame` holding one metric: `acc` maps cells to their
    accuracy, or lists the accuracies of cells 0, 1, 2, ..."""
    if isinstance(acc, dict):
        index = np.array(sorted(acc))
        values = np.array([acc[i] for i in index], dtype=float)
    else:
        index = np.arange(len(acc))
        values = np.asarray(acc, dtype=float)
    return pd.DataFrame(
        {"arch_str": [str(nb201.Nb201Arch.from_index(int(i))) for i in index], metric: values},
        index=pd.Index(index, name="index"),
    )
