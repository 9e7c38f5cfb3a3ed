"""The official pruning rules on plain values: candidates and the prune-number cap, the per-repeat
rounding of Δκ and ΔR, the 3-significant-figure sort key, the rank sum and the selection per edge
(docs/tenas-spec.md §5-§7, §16.5-§16.6)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from search.tenas.space import Key


def candidates(masks: np.ndarray) -> list[Key]:
    """Per-round candidates in the official loop order: cell type -> edge -> op; edges with one op
    left are skipped."""
    out = []
    for ct in range(masks.shape[0]):
        for e in range(masks.shape[1]):
            if masks[ct, e].sum() == 1:
                continue
            out.extend((ct, e, int(op)) for op in np.flatnonzero(masks[ct, e]))
    return out


def effective_prune_number(masks: np.ndarray, configured: int) -> int:
    """min(configured, active ops on edge 0 of cell type 0 minus 1): the official cap, taken from
    the first edge only (docs/tenas-spec.md §7 step 2, §16.5)."""
    return int(min(configured, int(masks[0, 0].sum()) - 1))


def round_to(number, precision: int, eps: float = 1e-8):
    """The official sort key: `number` rounded to `precision` significant figures.

    Same arithmetic as ``prune_tenas.round_to``, including the 1e-8 added to the magnitude and
    ``round`` applied to the value's own type (numpy rounding for numpy floats).
    """
    dtype = type(number)
    if number == 0 or not math.isfinite(number):
        # The official function raises on NaN/inf (math.floor); they cannot occur after its
        # nan_to_num except in overflow corner cases, which we keep in the sort rather than crash.
        return number
    sign = number / abs(number)
    number = abs(number) + eps
    power = math.floor(math.log(number, 10)) + 1
    if dtype is int:
        return int(sign * round(number * 10 ** (-power), precision) * 10**power)
    return sign * round(number * 10 ** (-power), precision) * 10**power


def measure_ranks(
    values: Sequence[tuple[Any, Key]], precision: int, *, descending: bool
) -> dict[Key, int]:
    """One measure's official tie ranks, keyed in sorted order.

    Sorted by `round_to(value, precision)` (stable: equal keys keep measurement order). Walking the
    sorted list, a value *exactly equal* to its predecessor's unrounded value shares its rank, any
    other value gets the predecessor's rank plus one -- so two equal values separated by a
    different value with the same rounded key get different ranks (docs/tenas-spec.md §16.6).
    """
    ordered = sorted(values, key=lambda t: round_to(t[0], precision), reverse=descending)
    ranks: dict[Key, int] = {}
    for idx, (value, key) in enumerate(ordered):
        if idx == 0:
            ranks[key] = 0
        elif value == ordered[idx - 1][0]:
            ranks[key] = ranks[ordered[idx - 1][1]]
        else:
            ranks[key] = ranks[ordered[idx - 1][1]] + 1
    return ranks


def combine_ranks(
    measures: Sequence[tuple[Sequence[tuple[Any, Key]], bool]], precision: int
) -> list[tuple[Key, list[int]]]:
    """The rank-sum combination of any number of candidate measures, in one place.

    Args:
        measures: ``(values, descending)`` per measure, where `values` is ``(value, key)`` per
            candidate in measurement order (the same keys in every measure) and `descending`
            says whether a larger value ranks first.

    Returns:
        ``[(key, [rank per measure]), ...]`` sorted ascending by the rank sum (stable: ties keep
        the first measure's sorted order).
    """
    by_measure = [measure_ranks(v, precision, descending=d) for v, d in measures]
    rankings = {key: [ranks[key] for ranks in by_measure] for key in by_measure[0]}
    return sorted(rankings.items(), key=lambda kv: sum(kv[1]))


def rank_candidates(
    ntk: Sequence[tuple[Any, Key]], regions: Sequence[tuple[Any, Key]], precision: int
) -> list[tuple[Key, list[int]]]:
    """Official rank sum (``prune_func_rank``): ``[(key, [ntk_rank, regions_rank]), ...]`` sorted
    ascending by the sum (stable; ties keep the NTK-sorted order).

    Δκ ranks descending and ΔR ascending (`measure_ranks`), combined by `combine_ranks`.

    Args:
        ntk, regions: ``(averaged change, key)`` per candidate, in measurement order; the same keys.
    """
    return combine_ranks([(ntk, True), (regions, False)], precision)


def select_prunes(
    ranked: Sequence[tuple[Key, list[int]]], prune_number: int
) -> dict[tuple[int, int], list[Key]]:
    """Walk the rank-sum order and give every edge its first `prune_number` candidates.

    As the official code, an edge's first candidate is always taken (even when the capped
    prune number is 0).
    """
    chosen: dict[tuple[int, int], list[Key]] = {}
    for key, _ in ranked:
        edge = key[:2]
        if edge not in chosen:
            chosen[edge] = [key]
        elif len(chosen[edge]) < prune_number:
            chosen[edge].append(key)
    return chosen


def kappa_change(kappa_origin: np.float64, kappa: np.float64, precision: int):
    """Per-repeat Δκ = (κ_origin - κ) / κ_origin, rounded as the official code does: the κ are
    numpy float64 (from np.nan_to_num), so ``round`` is numpy's (0.0005 -> 0.0)."""
    return round((kappa_origin - kappa) / kappa_origin, precision)


def regions_change(regions_origin: float, regions: float, precision: int) -> float:
    """Per-repeat ΔR = (R_origin - R) / R_origin with Python's ``round`` (the official counts are
    Python floats from ``.item()``; 0.0005 -> 0.001)."""
    return round((float(regions_origin) - float(regions)) / float(regions_origin), precision)
