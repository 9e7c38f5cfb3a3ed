"""An honest ensemble selection: choose members on one half of the NB201 cells, report on the other.

Protocol (docs/ensembles.md): the isomorphism classes are shuffled with a seed and taken in that
order until half of the cells are in (the selection half; a class never straddles the halves, as
bench-profile values are copied across a class). Every subset of 2..``max_size`` proxies of the
results is scored with every aggregation of `harness.ranking` (``mean_rank`` orders cells exactly
as ``rank_sum`` does, so it is not searched twice) and ranked by Kendall tau with ONE metric key on
the selection half; the best is the selected ensemble. Every report metric key is then computed on
the held-out half only (ranks re-taken over that half), with bootstrap intervals, beside the
selection half's figures, for the selected ensemble, the a-priori ones and the best single proxies
(chosen on the selection half too).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from harness.ensembles import ENSEMBLES, Ensemble
from harness.errors import InputError
from harness.ranking import AGGREGATIONS, aggregate, best_first_ranks
from reports.combine import member_seconds
from reports.correlation import bootstrap_intervals, check_metrics, prepare

log = logging.getLogger(__name__)

#: Aggregations searched: every registered one but mean_rank (the same cell order as rank_sum).
SEARCHED_AGGREGATIONS: tuple[str, ...] = tuple(a for a in AGGREGATIONS.names() if a != "mean_rank")
A_PRIORI: tuple[str, ...] = ("tenas", "az_nas", "all")


@dataclass(frozen=True)
class SelectConfig:
    """The protocol's settings; written in full into the selection record."""

    seed: int = 0  # shuffles the isomorphism classes into the two halves
    metric: str = "cifar10-valid/x-valid@200"  # the ONE key members are chosen on
    max_size: int = 3  # exhaustive over every subset of 2..max_size proxies
    aggregations: tuple[str, ...] = SEARCHED_AGGREGATIONS
    report_metrics: tuple[str, ...] = (
        "cifar10-valid/x-valid@200",
        "cifar10/ori-test@200",
        "cifar100/x-test@200",
        "ImageNet16-120/x-test@200",
    )
    bootstrap: int = 500  # resamples of held-out cells for the 95% intervals
    bootstrap_seed: int = 0
    singles: int = 3  # best single proxies (on the selection half) reported beside
    undefined: str = "worst"  # NaN/inf scores ranked worst (reports.correlation.place_undefined)
    exclude: tuple[str, ...] = field(default=())  # proxies left out of the pool

    def check(self) -> None:
        if self.max_size < 2:
            raise InputError(f"--max-size {self.max_size} must be at least 2 (an ensemble).")
        for name in self.aggregations:
            AGGREGATIONS.get(name)  # InputError naming the accepted ones
        if self.bootstrap < 0 or self.singles < 0:
            raise InputError("--bootstrap and the number of singles must be >= 0.")


def split_halves(indices: np.ndarray, seed: int) -> np.ndarray:
    """Mask of the selection half over `indices`: whole isomorphism classes, seeded, half the cells.

    Classes (keyed by their representative, `harness.spaces.nb201.representatives`) are shuffled
    with ``numpy.random.default_rng(seed)`` and taken in that order until half the cells are in.
    """
    from harness.spaces.nb201 import representatives

    reps = np.asarray(representatives())[indices]
    classes, counts = np.unique(reps, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(classes))
    taken = np.cumsum(counts[order]) <= len(indices) / 2
    chosen = classes[order[taken]]
    return np.isin(reps, chosen)


def indices_sha256(indices: np.ndarray) -> str:
    """SHA-256 of the sorted indices as comma-separated decimals (the split's fingerprint)."""
    text = ",".join(str(int(i)) for i in np.sort(indices))
    return hashlib.sha256(text.encode()).hexdigest()


def _tau(score: np.ndarray, acc: np.ndarray, higher_is_better: bool) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        tau = float(stats.kendalltau(score, acc).statistic)
    return tau if higher_is_better else -tau


def _finite(x: float) -> float | None:
    """JSON-safe: None for an undefined figure (constant input, no resamples)."""
    return float(x) if np.isfinite(x) else None


def _pool(data: pd.DataFrame, exclude: Sequence[str]) -> tuple[pd.DataFrame, dict, dict]:
    """Cells x proxies values (cells where every pooled proxy is ok), directions, seconds/cell."""
    labels = data.groupby("proxy")["label"].unique()
    many = {p: sorted(v) for p, v in labels.items() if len(v) > 1}
    if many:
        p, v = next(iter(many.items()))
        raise InputError(
            f"proxy {p!r} has several labels ({', '.join(v)}); selection needs one measurement "
            "per proxy: pass one profile/configuration's results or --exclude it."
        )
    unknown = sorted(set(exclude) - set(labels.index))
    if unknown:
        raise InputError(
            f"--exclude names {unknown[0]!r}, which is not in the results; "
            f"available: {', '.join(sorted(labels.index))}."
        )
    ok = data[(data["status"] == "ok") & ~data["proxy"].isin(exclude)]
    wide = ok.pivot(index="index", columns="proxy", values="value").dropna().sort_index()
    if wide.shape[1] < 2:
        raise InputError(f"selection needs at least two proxies; the results hold {wide.shape[1]}.")
    hib = ok.groupby("proxy")["higher_is_better"].first().astype(bool).to_dict()
    seconds = {p: member_seconds(g) for p, g in data.groupby("proxy")}
    return wide, hib, seconds


def search(
    wide: pd.DataFrame, hib: Mapping[str, bool], acc: np.ndarray, config: SelectConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every (subset, aggregation) and every single proxy scored by tau on these cells.

    Returns:
        (candidates sorted best first: tau desc, then fewer members, then names; singles sorted).
    """
    names = list(wide.columns)
    ranks = {p: best_first_ranks(wide[p].to_numpy(), hib[p]) for p in names}
    n = len(wide)
    singles = pd.DataFrame(
        [{"proxy": p, "tau": _tau(-ranks[p], acc, True)} for p in names]
    ).sort_values(["tau", "proxy"], ascending=[False, True], ignore_index=True)
    rows = []
    for size in range(2, config.max_size + 1):
        for members in itertools.combinations(names, size):
            member_ranks = [ranks[m] for m in members]
            for agg_name in config.aggregations:
                agg = AGGREGATIONS.get(agg_name)
                score = agg.from_ranks(member_ranks, [n] * size)
                rows.append(
                    {
                        "members": members,
                        "size": size,
                        "aggregation": agg_name,
                        "tau": _tau(score, acc, agg.higher_is_better),
                    }
                )
    cands = pd.DataFrame(rows)
    cands["_key"] = ["+".join(m) for m in cands["members"]]
    cands = cands.sort_values(
        ["tau", "size", "_key", "aggregation"],
        ascending=[False, True, True, True],
        ignore_index=True,
    ).drop(columns="_key")
    return cands, singles


def _figures(
    entry: str,
    kind: str,
    members: Sequence[str],
    aggregation: str | None,
    wide: pd.DataFrame,
    hib: Mapping[str, bool],
    bench_frame: pd.DataFrame,
    halves: Mapping[str, np.ndarray],
    config: SelectConfig,
) -> list[dict]:
    """Kendall tau (direction-corrected) of one entry per half and report key; intervals held out."""
    out = []
    for half, mask in halves.items():
        cells = wide.index.to_numpy()[mask]
        cols = [wide[m].to_numpy()[mask] for m in members]
        if aggregation is None:
            score, up = cols[0], hib[members[0]]
        else:
            score = aggregate(aggregation, cols, [hib[m] for m in members])
            up = AGGREGATIONS.get(aggregation).higher_is_better
        oriented = score if up else -score
        for metric in config.report_metrics:
            acc = bench_frame[metric].reindex(cells).to_numpy(dtype=float)
            use = np.isfinite(acc)
            rec = {"entry": entry, "kind": kind, "half": half, "metric": metric}
            rec["n"] = int(use.sum())
            rec["kendall_tau"] = _finite(_tau(oriented[use], acc[use], True))
            rec["kendall_tau_lo"] = rec["kendall_tau_hi"] = None  # no interval
            if half == "heldout" and config.bootstrap:
                ci = bootstrap_intervals(
                    oriented[use], acc[use], config.bootstrap, config.bootstrap_seed
                )
                rec["kendall_tau_lo"] = _finite(ci["kendall_tau_lo"])
                rec["kendall_tau_hi"] = _finite(ci["kendall_tau_hi"])
            out.append(rec)
    return out


def select_ensemble(
    frame: pd.DataFrame, bench_frame: pd.DataFrame, config: SelectConfig = SelectConfig()
) -> dict:
    """Run the protocol on a results frame; returns the selection record (JSON-ready).

    Raises:
        InputError: bad settings, unknown metric keys, a proxy with several labels, too few
            proxies.
    """
    config.check()
    check_metrics(bench_frame, [config.metric, *config.report_metrics])
    data = prepare(frame, bench_frame, tenas=False, undefined=config.undefined)
    wide, hib, seconds = _pool(data, config.exclude)
    cells = wide.index.to_numpy()
    sel = split_halves(cells, config.seed)
    halves = {"selection": sel, "heldout": ~sel}
    acc_sel = bench_frame[config.metric].reindex(cells[sel]).to_numpy(dtype=float)
    finite = np.isfinite(acc_sel)
    cands, singles = search(wide[sel][finite], hib, acc_sel[finite], config)
    best = cands.iloc[0]
    members = tuple(best["members"])
    chosen = Ensemble(
        "selected",
        members,
        best["aggregation"],
        kind="selected",
        description=(
            f"chosen by `harness ensemble select` (seed {config.seed}) on {config.metric}, "
            f"selection half; best of {len(cands)} candidates"
        ),
    )
    pool = list(wide.columns)
    entries = [("selected", "selected ensemble", members, chosen.aggregation)]
    for name in A_PRIORI:
        ens = ENSEMBLES.get(name)
        try:
            entries.append((name, "a-priori ensemble", ens.resolve(pool), ens.aggregation))
        except InputError:
            log.info("a-priori ensemble %s: members not all in the results; left out", name)
    entries += [(p, "proxy", (p,), None) for p in singles["proxy"].iloc[: config.singles]]
    figures = []
    for entry, kind, entry_members, agg in entries:
        figures += _figures(entry, kind, entry_members, agg, wide, hib, bench_frame, halves, config)
    subsets = sum(math.comb(len(pool), k) for k in range(2, config.max_size + 1))
    return {
        "schema": 1,
        "protocol": __doc__.split("\n\n", 1)[1].replace("\n", " ").strip(),
        "config": asdict(config) | {"pool": pool},
        "split": {
            "by": "nb201 isomorphism class (harness.spaces.nb201.representatives)",
            "seed": config.seed,
            "selection_cells": int(sel.sum()),
            "heldout_cells": int((~sel).sum()),
            "selection_indices_sha256": indices_sha256(cells[sel]),
            "heldout_indices_sha256": indices_sha256(cells[~sel]),
        },
        "search": {
            "space": f"every subset of 2..{config.max_size} of the {len(pool)} proxies x "
            f"{len(config.aggregations)} aggregations ({', '.join(config.aggregations)})",
            "subsets_searched": subsets,
            "candidates_scored": len(cands),
            "metric": config.metric,
            "top": [
                {"members": list(r.members), "aggregation": r.aggregation, "tau": r.tau}
                for r in cands.head(10).itertuples()
            ],
            "best_single": [
                {"proxy": r.proxy, "tau": r.tau} for r in singles.head(config.singles).itertuples()
            ],
        },
        "selected": {
            "ensemble": chosen.to_dict(),
            "selection_tau": float(best["tau"]),
            "seconds_per_cell": float(sum(seconds[m] for m in members)),
            "member_seconds_per_cell": {m: seconds[m] for m in members},
        },
        "entries": [
            {
                "entry": entry,
                "kind": kind,
                "members": list(entry_members),
                "aggregation": agg,
                "seconds_per_cell": float(sum(seconds[m] for m in entry_members)),
            }
            for entry, kind, entry_members, agg in entries
        ],
        "figures": figures,
    }


_SHORT = {
    "cifar10-valid/x-valid@200": "C10 valid",
    "cifar10/ori-test@200": "C10 test",
    "cifar100/x-test@200": "C100",
    "ImageNet16-120/x-test@200": "IN16",
}


def _cell(fig: Mapping) -> str:
    tau = fig["kendall_tau"]
    if tau is None:
        return "–"
    if fig["kendall_tau_lo"] is not None:
        return f"{tau:.3f} [{fig['kendall_tau_lo']:.3f}, {fig['kendall_tau_hi']:.3f}]"
    return f"{tau:.3f}"


def _table(record: Mapping) -> str:
    """Held-out tau [95% CI] per report key, then the selection half's, one row per entry."""
    from reports.leaderboard import markdown_table

    metrics = record["config"]["report_metrics"]
    figs = {(f["entry"], f["half"], f["metric"]): f for f in record["figures"]}
    header = ["entry", "kind", "members (aggregation)", "s / cell"]
    header += [f"held-out τ {_SHORT.get(m, m)}" for m in metrics]
    header += [f"selection τ {_SHORT.get(m, m)}" for m in metrics]
    rows = []
    for e in record["entries"]:
        agg = f" ({e['aggregation']})" if e["aggregation"] else ""
        row = [e["entry"], e["kind"], ", ".join(e["members"]) + agg, f"{e['seconds_per_cell']:.3g}"]
        row += [_cell(figs[(e["entry"], "heldout", m)]) for m in metrics]
        row += [_cell(figs[(e["entry"], "selection", m)]) for m in metrics]
        rows.append(row)
    return markdown_table(header, rows, ["l", "l", "l"] + ["r"] * (len(header) - 3))


def heldout_section(record: Mapping) -> list[str]:
    """A leaderboard.md section: the selected ensemble's held-out figures beside the others'."""
    split = record["split"]
    return [
        "## Selected ensemble: held-out figures",
        "",
        f"`selected` was chosen by `harness ensemble select` on {split['selection_cells']} cells "
        f"(seed {split['seed']}); its rows above include those cells. The honest figures are "
        f"these, on the other {split['heldout_cells']} cells only (ensembles/selection.md):",
        "",
        _table(record),
        "",
    ]


def selection_markdown(record: Mapping) -> str:
    """The record as Markdown: held-out tau [95% CI] per key, the selection half's beside it."""
    split, srch, chosen = record["split"], record["search"], record["selected"]
    cfg = record["config"]
    ens = chosen["ensemble"]
    return "\n".join(
        [
            "# Ensemble selection (honest protocol)",
            "",
            f"Selected: **{', '.join(ens['members'])}** aggregated by `{ens['aggregation']}`, "
            f"Kendall τ {chosen['selection_tau']:.3f} on {srch['metric']} over the selection "
            f"half; {chosen['seconds_per_cell']:.3g} s per cell (sum of its members').",
            "",
            f"Split: NB201 isomorphism classes shuffled with seed {split['seed']}; "
            f"{split['selection_cells']} selection cells (indices SHA-256 "
            f"`{split['selection_indices_sha256'][:16]}…`), {split['heldout_cells']} held-out "
            "cells. A class never straddles the halves.",
            "",
            f"Search: {srch['space']}: {srch['subsets_searched']} subsets, "
            f"{srch['candidates_scored']} candidates, ranked by Kendall τ on {srch['metric']} "
            "(selection half only).",
            "",
            "Held-out τ: direction-corrected Kendall τ-b on the held-out half alone (ranks "
            f"re-taken there), 95% percentile bootstrap over cells ({cfg['bootstrap']} resamples, "
            f"seed {cfg['bootstrap_seed']}); selection τ: the same on the selection half, where "
            "the selected ensemble and the best single proxies were chosen (optimistic). "
            "NaN/inf scores ranked worst.",
            "",
            _table(record),
            "",
            "Generated by `harness ensemble select` (reports.ensemble_select); full record in "
            "selection.json.",
            "",
        ]
    )
