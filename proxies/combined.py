"""Population-level scores built from the ranks of per-cell proxies (TE-NAS's combination).

The ranking itself is `harness.ranking` (one implementation, one NaN policy for the whole
harness); this module names the columns by proxy and takes each direction from the registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from harness.ranking import rank_sum as _rank_sum
from proxies.registry import get_proxy, register_combined

register_combined(
    "tenas",
    ("ntk_cond", "linear_regions"),
    description="TE-NAS ranking: rank(κ ascending) + rank(R descending) over a population; lower sum is better.",
    reference="Chen, Gong & Wang, ICLR 2021 (TE-NAS), prune_tenas.py prune_func_rank",
)


def rank_sum(values: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Sum over proxies of each cell's best-first rank under the proxy's registered direction.

    Lower sum is better. `harness.ranking`'s NaN policy: the ranks are taken over the cells where
    every component is finite, and the other cells get NaN.
    """
    names = list(values)
    return _rank_sum(
        [np.asarray(values[n], dtype=float) for n in names],
        [get_proxy(n).higher_is_better for n in names],
    )


def tenas_score(kappa: Sequence[float], regions: Sequence[float]) -> np.ndarray:
    """TE-NAS combined rank sum (lower is better) of κ (lower better) and R (higher better)."""
    return rank_sum({"ntk_cond": kappa, "linear_regions": regions})
