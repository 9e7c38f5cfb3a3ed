"""Rank correlations of proxies with benchmark accuracies, with bootstrap intervals and top-k metrics.

Correlations are reported **signed** on the raw proxy values (kappa, lower-better, correlates
negatively when it works) next to the direction-corrected value (x +1 for higher-better, x -1 for
lower-better proxies), which is what leaderboards rank by. Kendall is tau-b (ties handled), Spearman
is the Pearson correlation of average ranks, Pearson is on the raw values.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from harness.errors import InputError
from reports.combine import add_combined
from reports.labels import add_labels
from reports.topk import TOP_PERCENTS, topk_summary

log = logging.getLogger(__name__)

STAT_NAMES: tuple[str, ...] = ("kendall_tau", "spearman_rho", "pearson_r")
CI_LEVEL = 0.95
EXCLUDED_STATUSES: tuple[str, ...] = ("nan", "inf", "error")
#: How NaN / ±inf scores (statuses ``nan``, ``inf``) enter the statistics; ``error`` rows never do.
UNDEFINED_POLICIES: tuple[str, ...] = ("worst", "exclude")
#: Cells per space, for coverage; spaces not listed get coverage NaN.
SPACE_SIZES = {"nb201": 15625}


def check_metrics(bench_frame: pd.DataFrame, metrics: Iterable[str]) -> list[str]:
    """Validate benchmark metric keys against the benchmark's columns.

    Raises:
        InputError: a key is not a column of the benchmark (names the accepted keys).
    """
    metrics = list(metrics)
    known = [c for c in bench_frame.columns if "/" in c]
    for m in metrics:
        if m not in bench_frame.columns:
            raise InputError(f"unknown benchmark metric key {m!r}; available: {', '.join(known)}.")
    if not metrics:
        raise InputError("no benchmark metric key given.")
    return metrics


def prepare(
    frame: pd.DataFrame,
    bench_frame: pd.DataFrame,
    *,
    unique: bool = False,
    combine: Sequence[Sequence[str]] = (),
    tenas: bool = True,
    undefined: str = "worst",
) -> pd.DataFrame:
    """Label proxies, check cells against the benchmark, place undefined scores, optionally
    de-duplicate, add rank sums (so a rank sum sees the placed values too).

    Raises:
        InputError: the results hold a space other than nb201, an index outside the benchmark, or
            an arch string that disagrees with the benchmark's for the same index.
    """
    spaces = sorted(set(frame["space"]))
    if spaces != ["nb201"]:
        raise InputError(
            "correlation needs NB201 results (space 'nb201'); the results hold space(s) "
            f"{', '.join(map(repr, spaces))}."
        )
    _check_cells(frame, bench_frame)
    out = place_undefined(add_labels(frame), undefined)
    if unique:
        out = unique_cells(out)
    return add_combined(out, combine, tenas=tenas)


def original_status(frame: pd.DataFrame) -> pd.Series:
    """Each row's status before `place_undefined` (which marks placed rows ``ok``)."""
    if "undefined" not in frame:
        return frame["status"]
    placed = frame["undefined"].fillna("")
    return frame["status"].where(placed == "", placed)


def defined(frame: pd.DataFrame) -> pd.Series:
    """Rows with a real score: status ok and not placed by `place_undefined` (what figures plot)."""
    return original_status(frame) == "ok"


def place_undefined(frame: pd.DataFrame, policy: str = "worst") -> pd.DataFrame:
    """Apply the undefined-score policy to a labelled frame; the column ``undefined`` keeps the
    original status (``nan``/``inf``) of every placed row.

    ``worst`` follows TE-NAS, whose code maps a NaN condition number to 1e5 so the cell ranks
    last (NASLib does the same with -1e8): per label, NaN goes just beyond the worst end of the
    finite values, -inf below them and +inf above them (so kappa's +inf, a singular kernel, is
    worst too), and the row counts as ``ok``. NaN here is a network whose output ignores its
    weights, such as a disconnected NB201 cell (a 0/0 kernel). ``exclude`` leaves them out.

    Raises:
        InputError: an unknown policy.
    """
    if policy not in UNDEFINED_POLICIES:
        raise InputError(
            f"unknown undefined-score policy {policy!r}; accepted: {', '.join(UNDEFINED_POLICIES)}."
        )
    out = frame.assign(undefined="")
    if policy == "exclude":
        return out
    values = out["value"].to_numpy(dtype=float).copy()
    status = out["status"].to_numpy(dtype=object).copy()
    undefined = out["undefined"].to_numpy(dtype=object).copy()
    for _label, pos in out.groupby("label", sort=False).indices.items():
        st = status[pos]
        v = values[pos]
        placed = (st == "nan") | (st == "inf")
        if not placed.any():
            continue
        finite = v[(st == "ok") & np.isfinite(v)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        span = (hi - lo) or 1.0
        below, above = lo - span, hi + span
        higher_better = bool(out["higher_is_better"].iloc[pos[0]])
        new = np.where(np.isnan(v), below if higher_better else above, v)
        new = np.where(np.isposinf(v), above, np.where(np.isneginf(v), below, new))
        values[pos[placed]] = new[placed]
        undefined[pos[placed]] = st[placed]
        status[pos[placed]] = "ok"
    return out.assign(value=values, status=status, undefined=undefined)


def _check_cells(frame: pd.DataFrame, bench_frame: pd.DataFrame) -> None:
    """Cheap self-check that the results and the benchmark use the same index order."""
    idx = frame["index"].to_numpy()
    outside = ~np.isin(idx, bench_frame.index.to_numpy())
    if outside.any():
        raise InputError(
            f"result index {int(idx[outside][0])} is not in the benchmark table "
            f"(indices {bench_frame.index.min()}..{bench_frame.index.max()})."
        )
    if "arch_str" in bench_frame.columns:
        given = frame["arch_str"].to_numpy()
        expected = bench_frame["arch_str"].reindex(idx).to_numpy()
        bad = (given != "") & (given != expected)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"result row for index {int(idx[i])} has arch {given[i]!r} but the benchmark has "
                f"{expected[i]!r}; the results were not written in the official NB201 index order."
            )


def unique_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep one cell per NB201 isomorphism class and label: the lowest index present.

    Works the same on ``--unique`` sweeps (whose copied rows carry ``filled_from``) and on full
    sweeps: isomorphic cells compute the same function, so which member is kept does not matter
    beyond seed noise.
    """
    from harness.spaces.nb201 import unique_keys  # pure Python, no torch

    keys = np.asarray(unique_keys(), dtype=object)
    out = frame.assign(_key=keys[frame["index"].to_numpy()]).sort_values(
        ["label", "index"], kind="stable"
    )
    out = out.drop_duplicates(subset=["label", "_key"], keep="first").drop(columns="_key")
    return out.sort_index()


def correlation_stats(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Signed Kendall tau-b, Spearman rho and Pearson r of two aligned arrays (NaN if undefined)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return dict.fromkeys(STAT_NAMES, float("nan"))
    return {
        "kendall_tau": float(stats.kendalltau(x, y).statistic),
        "spearman_rho": float(stats.spearmanr(x, y).statistic),
        "pearson_r": float(stats.pearsonr(x, y).statistic),
    }


def _resample_ranks(groups: np.ndarray, num_groups: int, idx: np.ndarray) -> np.ndarray:
    """Average ranks of a resample (with repeats) from the value-group ids of the full sample."""
    counts = np.bincount(groups[idx], minlength=num_groups).astype(float)
    avg = np.cumsum(counts) - (counts - 1.0) / 2.0
    return avg[groups[idx]]


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def bootstrap_intervals(
    x: np.ndarray, y: np.ndarray, n_resamples: int, seed: int, level: float = CI_LEVEL
) -> dict[str, float]:
    """Percentile bootstrap intervals of the three correlations, resampling cells with replacement.

    The resampling indices depend only on (`seed`, n), so every proxy of one population is
    resampled identically (common random numbers). Resamples where a statistic is undefined (a
    constant resample) are left out of its percentiles.

    Returns:
        ``{stat}_lo`` and ``{stat}_hi`` for each of `STAT_NAMES` (NaN when n < 3 or no resamples).
    """
    out = {f"{s}_{end}": float("nan") for s in STAT_NAMES for end in ("lo", "hi")}
    n = len(x)
    if n_resamples <= 0 or n < 3:
        return out
    rng = np.random.default_rng(seed)
    gx = np.unique(x, return_inverse=True)
    gy = np.unique(y, return_inverse=True)
    reps = np.full((n_resamples, len(STAT_NAMES)), np.nan)
    for b in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        xs, ys = x[idx], y[idx]
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:
            continue
        rx = _resample_ranks(gx[1], len(gx[0]), idx)
        ry = _resample_ranks(gy[1], len(gy[0]), idx)
        reps[b] = (stats.kendalltau(rx, ry).statistic, _pearson_rows(rx, ry), _pearson_rows(xs, ys))
    alpha = (1.0 - level) / 2.0
    for j, name in enumerate(STAT_NAMES):
        col = reps[:, j][np.isfinite(reps[:, j])]
        if col.size:
            out[f"{name}_lo"], out[f"{name}_hi"] = (
                float(v) for v in np.percentile(col, [100 * alpha, 100 * (1 - alpha)])
            )
    return out


def coverage_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per label: cells present, counts by status, coverage of the space and seconds per cell."""
    rows = []
    for label, g in frame.groupby("label", sort=True):
        size = SPACE_SIZES.get(g["space"].iloc[0], np.nan)
        own = g[g["filled_from"].isna()]
        per_cell = own["seconds"] * own["repeats"].fillna(1.0)
        row = {
            "label": label,
            "proxy": g["proxy"].iloc[0],
            "profile": g["profile"].iloc[0],
            "dataset": ",".join(sorted(g["dataset"].unique())),
            "config_hash": ",".join(sorted(g["config_hash"].unique())),
            "direction": "higher" if bool(g["higher_is_better"].iloc[0]) else "lower",
            "cells": int(g["index"].nunique()),
            "cells_scored": len(own),
        }
        own_status = original_status(g)
        for status in ("ok", *EXCLUDED_STATUSES):
            row[f"n_{status}"] = int((own_status == status).sum())
        row["coverage"] = row["cells"] / size
        row["seconds_per_cell"] = float(per_cell.mean()) if len(per_cell) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def correlate_one(
    group: pd.DataFrame,
    accuracy: pd.Series,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    percents: Sequence[float] = TOP_PERCENTS,
) -> dict:
    """All statistics of one labelled proxy against one accuracy column (indexed by NB201 index)."""
    hib = bool(group["higher_is_better"].iloc[0])
    acc = accuracy.reindex(group["index"].to_numpy()).to_numpy(dtype=float)
    ok = (group["status"] == "ok").to_numpy() & np.isfinite(group["value"].to_numpy(dtype=float))
    use = ok & np.isfinite(acc)
    x = group["value"].to_numpy(dtype=float)[use]
    y = acc[use]
    sign = 1.0 if hib else -1.0
    rec: dict = {"n": int(use.sum())}
    own_status = original_status(group)
    for status in EXCLUDED_STATUSES:  # by the cells' own status, placed or not
        rec[f"n_{status}"] = int((own_status == status).sum())
    rec["n_no_accuracy"] = int((ok & ~np.isfinite(acc)).sum())
    rec["n_excluded"] = len(group) - rec["n"]
    for status in ("nan", "inf"):
        rec[f"n_{status}_as_worst"] = int(
            ((own_status == status) & (group["status"] == "ok")).sum()
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rec |= correlation_stats(x, y)
        rec |= bootstrap_intervals(x, y, bootstrap, seed)
    rec["kendall_tau_dc"] = rec["kendall_tau"] * sign
    rec["spearman_rho_dc"] = rec["spearman_rho"] * sign
    rec |= topk_summary(sign * x, y, percents)
    rec["best_acc"] = float(y.max()) if y.size else float("nan")
    notes = []
    n_placed = rec["n_nan_as_worst"] + rec["n_inf_as_worst"]
    if n_placed:
        notes.append(f"{n_placed} NaN/inf scores placed at the ends (--undefined worst)")
    if rec["n"] < 3:
        notes.append(f"only {rec['n']} usable cells")
    elif np.ptp(x) == 0:
        notes.append("constant proxy: correlations undefined")
    rec["note"] = "; ".join(notes)
    return rec


def correlate(
    frame: pd.DataFrame,
    bench_frame: pd.DataFrame,
    metrics: Sequence[str],
    *,
    unique: bool = False,
    bootstrap: int = 1000,
    seed: int = 0,
    combine: Sequence[Sequence[str]] = (),
    tenas: bool = True,
    undefined: str = "worst",
    prepared: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Correlate every proxy (and rank-sum combination) with every benchmark metric.

    Args:
        frame: tidy results (see `reports.io.load_results`).
        bench_frame: benchmark table indexed by NB201 index, one column per metric key.
        metrics: benchmark metric keys, e.g. ``cifar10-valid/x-valid@200``.
        unique: keep one cell per isomorphism class.
        bootstrap: number of bootstrap resamples for the 95% intervals (0 = none).
        seed: seed of the bootstrap resampling.
        combine: extra rank-sum combinations (tuples of proxy names).
        tenas: add the TE-NAS rank sum where ntk_cond and linear_regions are both present.
        undefined: ``worst`` ranks NaN/inf scores at the worst end (TE-NAS), ``exclude`` drops
            them (see `place_undefined`).
        prepared: the output of `prepare` for these arguments, to skip recomputing it.

    Returns:
        One row per (label, metric): the label's coverage, n and exclusion counts, signed and
        direction-corrected correlations with intervals, and top-k metrics.
    """
    metrics = check_metrics(bench_frame, metrics)
    data = (
        prepared
        if prepared is not None
        else prepare(
            frame, bench_frame, unique=unique, combine=combine, tenas=tenas, undefined=undefined
        )
    )
    if data.empty:
        raise InputError("no result rows to correlate.")
    # Coverage describes the sweep, so it is taken before any --unique filtering.
    full = (
        add_combined(place_undefined(add_labels(frame), undefined), combine, tenas=tenas)
        if unique
        else data
    )
    cover = coverage_table(full).set_index("label")
    rows = []
    for label, group in data.groupby("label", sort=True):
        info = cover.loc[label]
        for metric in metrics:
            rec = {
                "label": label,
                "proxy": info["proxy"],
                "profile": info["profile"],
                "dataset": info["dataset"],
                "direction": info["direction"],
                "metric": metric,
            }
            rec |= correlate_one(group, bench_frame[metric], bootstrap=bootstrap, seed=seed)
            rec |= {
                "cells": int(info["cells"]),
                "coverage": float(info["coverage"]),
                "seconds_per_cell": float(info["seconds_per_cell"]),
                "unique": unique,
                "bootstrap": int(bootstrap),
                "undefined": undefined,
                "config_hash": info["config_hash"],
            }
            rows.append(rec)
    return pd.DataFrame(rows)
