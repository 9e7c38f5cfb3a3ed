"""Top-k metrics of a proxy ranking against benchmark accuracies, tie-aware.

Ties are common (linear-region counts, parameter counts, a constant proxy), so every metric is the
*expected* value under uniformly random tie-breaking: a cell tied at the top-k boundary counts with
the probability that it lands inside. A constant proxy therefore scores the random baseline.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

#: Top fractions of the population reported by default, in percent.
TOP_PERCENTS: tuple[float, ...] = (1.0, 5.0, 10.0)


def topk_count(n: int, percent: float) -> int:
    """Number of cells in the top `percent` % of `n` (rounded half up, at least 1)."""
    return max(1, int(np.floor(n * percent / 100.0 + 0.5)))


def topk_weights(scores: ArrayLike, k: int) -> np.ndarray:
    """Probability that each cell is among the `k` best (highest `scores`) under random tie-breaks.

    Cells strictly above the k-th best value get 1, those strictly below 0, and the g cells tied
    with it share the remaining places: (k - above) / g each. The weights sum to `k`.
    """
    s = np.asarray(scores, dtype=float)
    n = s.size
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}; got {k}.")
    kth = np.sort(s)[::-1][k - 1]
    above = s > kth
    tied = s == kth
    w = above.astype(float)
    w[tied] = (k - above.sum()) / tied.sum()
    return w


def precision_at_k(proxy: ArrayLike, accuracy: ArrayLike, k: int) -> float:
    """Fraction of the proxy's top-k cells that are in the benchmark's top-k (expected over ties).

    Args:
        proxy: direction-oriented proxy scores (higher = predicted better).
        accuracy: benchmark accuracies of the same cells.
        k: size of both top sets.
    """
    return float(np.dot(topk_weights(proxy, k), topk_weights(accuracy, k)) / k)


def benchmark_ranks(accuracy: ArrayLike) -> np.ndarray:
    """Rank of each cell by accuracy among the given cells: 1 = best, ties share the best rank."""
    return rankdata(-np.asarray(accuracy, dtype=float), method="min").astype(float)


def topk_summary(proxy: ArrayLike, accuracy: ArrayLike, percents=TOP_PERCENTS) -> dict[str, float]:
    """All top-k metrics of one proxy on one benchmark metric.

    Returns a dict with ``precision_at_{p}pct`` for each percent, ``best_pick_rank`` (benchmark rank
    of the proxy's top pick, 1 = best), ``top1_acc`` and ``top10_mean_acc`` (accuracy of the top
    pick and mean accuracy of the top 10 picks), all expected values under random tie-breaking.
    """
    p = np.asarray(proxy, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if p.shape != a.shape:
        raise ValueError(f"proxy and accuracy differ in length: {p.size} vs {a.size}.")
    out: dict[str, float] = {}
    n = p.size
    for pct in percents:
        key = f"precision_at_{pct:g}pct"
        out[key] = precision_at_k(p, a, topk_count(n, pct)) if n else float("nan")
    if n == 0:
        return out | {"best_pick_rank": np.nan, "top1_acc": np.nan, "top10_mean_acc": np.nan}
    w1 = topk_weights(p, 1)
    k10 = min(10, n)
    out["best_pick_rank"] = float(np.dot(w1, benchmark_ranks(a)))
    out["top1_acc"] = float(np.dot(w1, a))
    out["top10_mean_acc"] = float(np.dot(topk_weights(p, k10), a) / k10)
    return out
