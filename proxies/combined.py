"""Population-level scores built from the ranks of per-cell proxies (TE-NAS's combination)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from proxies.registry import get_proxy, register_combined

register_combined(
    "tenas",
    ("ntk_cond", "linear_regions"),
    description="TE-NAS ranking: rank(κ ascending) + rank(R descending) over a population; lower sum is better.",
    reference="Chen, Gong & Wang, ICLR 2021 (TE-NAS), prune_tenas.py prune_func_rank",
)


def rank_sum(values: Mapping[str, Sequence[float]], method: str = "average") -> np.ndarray:
    """Sum over proxies of each cell's rank, best = rank 1 under each proxy's direction.

    Ties share their rank (`method` as in `scipy.stats.rankdata`). Lower sum is better. Cells
    with a non-finite value in any component get NaN.
    """
    columns = []
    for name, column in values.items():
        column = np.asarray(column, dtype=float)
        oriented = -column if get_proxy(name).higher_is_better else column
        ranks = np.full(column.shape, np.nan)
        finite = np.isfinite(column)
        ranks[finite] = rankdata(oriented[finite], method=method)
        columns.append(ranks)
    stacked = np.vstack(columns)
    total = stacked.sum(axis=0)
    total[~np.isfinite(stacked).all(axis=0)] = np.nan
    return total


def tenas_score(
    kappa: Sequence[float], regions: Sequence[float], method: str = "average"
) -> np.ndarray:
    """TE-NAS combined rank sum (lower is better) of κ (lower better) and R (higher better)."""
    return rank_sum({"ntk_cond": kappa, "linear_regions": regions}, method)
