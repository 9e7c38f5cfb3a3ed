"""Agreement between repeats: how much a proxy's ranking of cells moves with its weight seed.

TE-NAS averages κ_N and R_N over 3 independently initialised networks because one draw ranks cells
noisily. For every proxy measured with two or more repeats this module reports the Kendall τ-b
between the repeats (their ranking noise) and, against one benchmark metric, the τ of a single
repeat next to the τ of the repeat mean (what averaging buys). With common random numbers every
cell of a repeat shares its seeds, so one repeat's τ is one draw: the lowest and highest show how
far a single seed can mislead. Only directly scored cells count
(rows copied with ``--unique`` would repeat their representative's values), and only cells whose
every repeat is finite, so all three τ use the same cells.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from reports.correlation import correlation_stats
from reports.labels import add_labels
from reports.leaderboard import markdown_table

#: Columns of `repeat_agreement`'s table.
AGREEMENT_COLUMNS: tuple[str, ...] = (
    "label",
    "repeats",
    "cells",
    "tau_between_repeats",
    "tau_between_repeats_min",
    "tau_between_repeats_max",
    "metric",
    "tau_single_repeat",
    "tau_single_repeat_lo",
    "tau_single_repeat_hi",
    "tau_repeat_mean",
    "tau_repeat_geomean",
)


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    return correlation_stats(x, y)["kendall_tau"]


def repeat_values(rows: pd.DataFrame) -> pd.DataFrame:
    """One proxy measurement's values as a (cell index x repeat) table: directly scored cells whose
    every repeat is ok and finite."""
    own = rows[rows["filled_from"].isna()]
    value = own["value"].where((own["status"] == "ok") & np.isfinite(own["value"]))
    return own.assign(value=value).pivot(index="index", columns="repeat", values="value").dropna()


def repeat_agreement(
    per_repeat: pd.DataFrame, bench_frame: pd.DataFrame | None = None, metric: str | None = None
) -> pd.DataFrame:
    """Per proxy measurement (label) with >= 2 repeats: τ between repeats and, given `metric`, τ with it.

    Args:
        per_repeat: one row per (config_hash, space, index, proxy, repeat), as `reports.io.load_repeat_rows`.
        bench_frame, metric: benchmark table indexed by NB201 index and one of its columns; the τ of
            one repeat (mean over repeats) and of the repeat mean with it are signed, on raw scores.

    Returns:
        One row per label, columns `AGREEMENT_COLUMNS`; empty when no measurement has two repeats.
    """
    rows = []
    if per_repeat.empty:
        return pd.DataFrame(columns=list(AGREEMENT_COLUMNS))
    for label, group in add_labels(per_repeat.reset_index(drop=True)).groupby("label", sort=True):
        table = repeat_values(group)
        if table.shape[1] < 2:
            continue
        values = table.to_numpy()
        pairs = [
            _tau(values[:, a], values[:, b])
            for a, b in itertools.combinations(range(values.shape[1]), 2)
        ]
        row = {
            "label": label,
            "repeats": values.shape[1],
            "cells": len(table),
            "tau_between_repeats": float(np.mean(pairs)),
            "tau_between_repeats_min": float(np.min(pairs)),
            "tau_between_repeats_max": float(np.max(pairs)),
            "metric": metric or "",
            "tau_single_repeat": float("nan"),
            "tau_single_repeat_lo": float("nan"),
            "tau_single_repeat_hi": float("nan"),
            "tau_repeat_mean": float("nan"),
            "tau_repeat_geomean": float("nan"),
        }
        if metric is not None and bench_frame is not None:
            acc = bench_frame[metric].reindex(table.index).to_numpy(dtype=float)
            known = np.isfinite(acc)
            single = [_tau(col[known], acc[known]) for col in values.T]
            row["tau_single_repeat"] = float(np.mean(single))
            row["tau_single_repeat_lo"], row["tau_single_repeat_hi"] = (
                float(np.min(single)),
                float(np.max(single)),
            )
            row["tau_repeat_mean"] = _tau(values[known].mean(axis=1), acc[known])
            if (values > 0).all():  # a diagnostic, not TE-NAS's aggregation: heavy tails weigh less
                row["tau_repeat_geomean"] = _tau(np.log(values[known]).mean(axis=1), acc[known])
        rows.append(row)
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))


def agreement_markdown(table: pd.DataFrame) -> list[str]:
    """The agreement table as Markdown lines (a heading, a sentence, the table); [] when empty."""
    if table.empty:
        return []
    metric = table["metric"].iloc[0]

    def num(v) -> str:
        return "–" if pd.isna(v) else f"{v:+.3f}"

    body = [
        [
            r.label,
            str(r.repeats),
            str(r.cells),
            num(r.tau_between_repeats),
            f"[{num(r.tau_between_repeats_min)}, {num(r.tau_between_repeats_max)}]",
            f"{num(r.tau_single_repeat)} [{num(r.tau_single_repeat_lo)}, {num(r.tau_single_repeat_hi)}]",
            num(r.tau_repeat_mean),
            num(r.tau_repeat_geomean),
        ]
        for r in table.itertuples()
    ]
    header = [
        "proxy",
        "repeats",
        "cells",
        "τ between repeats",
        "[min, max] over pairs",
        f"τ one repeat [lo, hi] ({metric})",
        f"τ repeat mean ({metric})",
        "τ geometric mean",
    ]
    return [
        "## Agreement between repeats",
        "",
        "Kendall τ-b between independently initialised repeats of the same proxy (mean over pairs of "
        "repeats), and the signed τ with the benchmark of one repeat (mean, lowest and highest over "
        "repeats) and of the repeat mean (how the report aggregates, as TE-NAS), on the directly scored "
        "cells whose every repeat is finite. The geometric mean (positive scores only) is a diagnostic: "
        "it weighs a heavy-tailed draw less.",
        "",
        markdown_table(header, body, ["l"] + ["r"] * 7),
        "",
    ]
