"""Best-first ranks and the rank aggregations that turn several proxies into one score.

Torch-free (numpy, scipy), so proxies, search, reports and the CLI share ONE implementation of
TE-NAS's rank sum, AZ-NAS's log-rank sum and the others in `AGGREGATIONS`.

NaN policy (one, for every aggregation): each member is ranked best-first over the cells where
its own value is finite (its population size n is that count), and a cell where any member is
not finite (NaN, +-inf) gets NaN. Callers that want undefined scores ranked at the worst end
(TE-NAS maps a NaN kappa to 1e5) place them first, as `reports.correlation.place_undefined` does;
reports first keep the cells where every member is ``ok``, so there every member's population is
the same. This keeps the committed best-of-N TE-NAS scores (`search.baselines`) as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from harness.errors import InputError
from harness.registry import Registry

#: ``(best-first ranks of each member, each member's population size n) -> aggregate per cell``;
#: a rank is NaN where the member's value is not finite, and NaN may propagate (it is masked).
RankFn = Callable[[Sequence[np.ndarray], Sequence[int]], np.ndarray]


def best_first_ranks(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Ranks 1 (best) .. n (worst) under the direction over the finite values, ties sharing their
    average rank; NaN where the value is not finite (n = the number of finite values)."""
    v = np.asarray(values, dtype=float)
    out = np.full(v.shape, np.nan)
    finite = np.isfinite(v)
    out[finite] = rankdata(-v[finite] if higher_is_better else v[finite], method="average")
    return out


def finite_rows(values: Sequence[np.ndarray]) -> np.ndarray:
    """Mask of the cells where every member's value is finite (the NaN policy's population)."""
    stacked = np.vstack([np.asarray(v, dtype=float) for v in values])
    return np.isfinite(stacked).all(axis=0)


@dataclasses.dataclass(frozen=True)
class Aggregation:
    """A rank aggregation: `from_ranks` on best-first ranks, and the aggregate's direction."""

    name: str
    from_ranks: RankFn
    higher_is_better: bool
    description: str
    reference: str

    def __call__(
        self, values: Sequence[np.ndarray], higher_is_better: Sequence[bool]
    ) -> np.ndarray:
        """Aggregate aligned member columns (one array per member); NaN where any is not finite."""
        return aggregate(self, values, higher_is_better)


AGGREGATIONS: Registry[Aggregation] = Registry("aggregation")


def aggregate(
    aggregation: Aggregation | str,
    values: Sequence[np.ndarray],
    higher_is_better: Sequence[bool],
) -> np.ndarray:
    """Rank each member best-first over its finite cells, then aggregate (module NaN policy).

    Raises:
        InputError: no member, directions not one per member, columns of different lengths, or an
            unknown aggregation name.
    """
    agg = AGGREGATIONS.get(aggregation) if isinstance(aggregation, str) else aggregation
    values = [np.asarray(v, dtype=float) for v in values]
    if not values:
        raise InputError(f"aggregation {agg.name!r} needs at least one member; got none.")
    if len(higher_is_better) != len(values):
        raise InputError(
            f"aggregation {agg.name!r}: {len(values)} member columns but "
            f"{len(higher_is_better)} directions; give one direction per member."
        )
    lengths = {len(v) for v in values}
    if len(lengths) != 1:
        raise InputError(
            f"aggregation {agg.name!r}: member columns differ in length ({sorted(lengths)}); "
            "align them on the same cells."
        )
    ranks = [best_first_ranks(v, hib) for v, hib in zip(values, higher_is_better)]
    sizes = [int(np.isfinite(v).sum()) for v in values]
    with np.errstate(invalid="ignore"):
        out = np.asarray(agg.from_ranks(ranks, sizes), dtype=float)
    out[~finite_rows(values)] = np.nan
    return out


def _register(name: str, *, higher_is_better: bool, reference: str):
    def decorate(fn: RankFn) -> RankFn:
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        AGGREGATIONS.add(name, Aggregation(name, fn, higher_is_better, doc, reference))
        return fn

    return decorate


@_register(
    "rank_sum",
    higher_is_better=False,
    reference="Chen, Gong & Wang, ICLR 2021 (TE-NAS), prune_tenas.py prune_func_rank",
)
def _rank_sum(ranks: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """Sum of best-first ranks (TE-NAS); lower is better."""
    total = np.zeros(len(ranks[0]), dtype=float)
    for r in ranks:  # summed in member order, as TE-NAS and the committed leaderboard
        total += r
    return total


@_register(
    "mean_rank",
    higher_is_better=False,
    reference="Borda count (de Borda, 1781): the mean position over the members",
)
def _mean_rank(ranks: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """Mean of best-first ranks; lower is better (the rank sum's order, comparable across sizes)."""
    return _rank_sum(ranks, sizes) / len(ranks)


@_register(
    "log_rank_sum",
    higher_is_better=True,
    reference="Lee & Ham, CVPR 2024 (AZ-NAS), official code: sum of np.log(rankdata(score) / l)",
)
def _log_rank_sum(ranks: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """Sum of ln(rank / n), rank n = best (AZ-NAS); higher is better.

    A cell last under any one member is pulled far down (ln(1/n) against ln(1) = 0 for the best):
    a soft "no weak member" rule. Ranks worst-first are n + 1 - best-first (exact, ties averaged).
    """
    total = np.zeros(len(ranks[0]), dtype=float)
    for r, n in zip(ranks, sizes):
        total += np.log((n + 1 - r) / n)
    return total


@_register(
    "normal_score_sum",
    higher_is_better=True,
    reference="van der Waerden, 1952 (normal scores); the rank-based inverse normal transform",
)
def _normal_score_sum(ranks: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """Sum of normal scores Phi^-1((n + 1 - rank) / (n + 1)); higher is better.

    Earns its place beside the other two: the rank sum weighs every position alike and AZ-NAS's
    log ranks stretch only the bottom end; normal scores stretch both ends, so a cell among the
    very best of one member gains as much as one among the very worst loses, which is what
    matters when the top of the space is what a search wants.
    """
    total = np.zeros(len(ranks[0]), dtype=float)
    for r, n in zip(ranks, sizes):
        total += ndtri((n + 1 - r) / (n + 1))
    return total


@_register(
    "worst_rank",
    higher_is_better=False,
    reference="minimax (max-rank) aggregation, e.g. Fagin, Kumar & Sivakumar, SIGMOD 2003",
)
def _worst_rank(ranks: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """The worst of a cell's best-first ranks; lower is better.

    The hard limit of AZ-NAS's soft rule: a cell is only as good as its weakest member, so a
    network that any member finds hopeless is never preferred. Many ties (Kendall tau-b handles them).
    """
    return np.max(np.vstack(ranks), axis=0)


def rank_sum(values: Sequence[np.ndarray], higher_is_better: Sequence[bool]) -> np.ndarray:
    """TE-NAS's rank sum of aligned member columns (lower is better; module NaN policy)."""
    return aggregate("rank_sum", values, higher_is_better)


def log_rank_sum(values: Sequence[np.ndarray], higher_is_better: Sequence[bool]) -> np.ndarray:
    """AZ-NAS's log-rank sum of aligned member columns (higher is better; module NaN policy)."""
    return aggregate("log_rank_sum", values, higher_is_better)


def list_aggregations() -> list[str]:
    return AGGREGATIONS.names()
