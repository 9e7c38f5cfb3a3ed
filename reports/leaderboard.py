"""Leaderboards: proxies ranked by direction-corrected Kendall tau per benchmark metric key.

Plain functions from the correlation table to a DataFrame, rendered as CSV and Markdown. Neither
rendering holds a timestamp, so the same inputs give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from harness.atomic import write_text

LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "metric",
    "rank",
    "label",
    "kind",
    "proxy",
    "profile",
    "dataset",
    "direction",
    "kendall_tau_dc",
    "kendall_tau",
    "kendall_tau_lo",
    "kendall_tau_hi",
    "spearman_rho_dc",
    "spearman_rho",
    "spearman_rho_lo",
    "spearman_rho_hi",
    "pearson_r",
    "pearson_r_lo",
    "pearson_r_hi",
    "precision_at_1pct",
    "precision_at_5pct",
    "precision_at_10pct",
    "best_pick_rank",
    "top1_acc",
    "top10_mean_acc",
    "best_acc",
    "seconds_per_cell",
    "n",
    "n_excluded",
    "n_nan",
    "n_inf",
    "n_error",
    "n_no_accuracy",
    "n_nan_as_worst",
    "n_inf_as_worst",
    "cells",
    "coverage",
    "unique",
    "bootstrap",
    "undefined",
    "config_hash",
    "note",
)


#: What a leaderboard row is (`reports.combine.label_kinds`): one proxy, or an ensemble fixed
#: before looking at accuracies, or one chosen by `harness ensemble select`.
KINDS: tuple[str, ...] = ("proxy", "a-priori ensemble", "selected ensemble")


def build_leaderboard(
    corr: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Sort the correlation table by metric (in `metrics` order) and direction-corrected tau.

    Proxies whose tau is undefined (constant, too few cells) come last with an empty rank. Ties
    in tau are broken by label so the order is deterministic. `kinds` (label -> one of `KINDS`,
    ``proxy`` where absent) fills the ``kind`` column.
    """
    metrics = list(metrics) if metrics is not None else list(dict.fromkeys(corr["metric"]))
    kinds = dict(kinds or {})
    corr = corr.assign(kind=[kinds.get(label, "proxy") for label in corr["label"]])
    parts = []
    for metric in metrics:
        g = corr[corr["metric"] == metric].copy()
        g["_nan"] = g["kendall_tau_dc"].isna()
        g = g.sort_values(
            ["_nan", "kendall_tau_dc", "label"], ascending=[True, False, True], kind="stable"
        )
        ranks = np.arange(1, len(g) + 1, dtype=float)
        ranks[g["_nan"].to_numpy()] = np.nan
        g["rank"] = pd.array(ranks, dtype="Float64").astype("Int64")
        parts.append(g.drop(columns="_nan"))
    board = (
        pd.concat(parts, ignore_index=True)
        if parts
        else corr.iloc[0:0].assign(rank=pd.Series(dtype="Int64"))
    )
    cols = [c for c in LEADERBOARD_COLUMNS if c in board.columns]
    return board.loc[:, cols]


def write_leaderboard_csv(board: pd.DataFrame, path: Path) -> Path:
    """CSV with 6 significant digits and Unix line ends (stable across runs and platforms)."""
    return write_text(path, board.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def _num(v, fmt: str = "{:.3f}") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
        return "–"
    return fmt.format(v)


def _ci(row) -> str:
    if not np.isfinite(row["kendall_tau_lo"]):
        return _num(row["kendall_tau"])
    return (
        f"{_num(row['kendall_tau'])} [{_num(row['kendall_tau_lo'])}, {_num(row['kendall_tau_hi'])}]"
    )


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]
) -> str:
    """A GitHub-flavoured Markdown table; `align` holds 'l' or 'r' per column."""

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = ["---:" if a == "r" else ":---" for a in align]
    return "\n".join([line(header), line(rule), *(line(r) for r in rows)])


MD_HEADER = (
    "rank",
    "proxy",
    "kind",
    "images",
    "better",
    "τ (dir.-corrected)",
    "signed τ [95% CI]",
    "signed ρ",
    "P@1%",
    "P@5%",
    "P@10%",
    "best-pick rank",
    "top-1 acc (%)",
    "top-10 acc (%)",
    "s / cell",
    "n",
    "excluded",
    "coverage",
)


def display_rows(board: pd.DataFrame) -> list[list[str]]:
    """The rows of one metric's leaderboard as the formatted cells under `MD_HEADER`."""
    return [_md_row(r) for _, r in board.iterrows()]


def _md_row(r) -> list[str]:
    rank = "–" if pd.isna(r["rank"]) else str(int(r["rank"]))
    return [
        rank,
        r["label"],
        r.get("kind", "proxy"),
        r["dataset"],
        r["direction"],
        _num(r["kendall_tau_dc"]),
        _ci(r),
        _num(r["spearman_rho"]),
        _num(r["precision_at_1pct"]),
        _num(r["precision_at_5pct"]),
        _num(r["precision_at_10pct"]),
        _num(r["best_pick_rank"], "{:.1f}"),
        _num(r["top1_acc"], "{:.2f}"),
        _num(r["top10_mean_acc"], "{:.2f}"),
        _num(r["seconds_per_cell"], "{:.4g}"),
        str(int(r["n"])),
        str(int(r["n_excluded"])),
        _num(100 * r["coverage"], "{:.1f}%"),
    ]


def leaderboard_markdown(
    board: pd.DataFrame,
    footer: Sequence[str] = (),
    title: str = "Proxy leaderboard",
    sections: Sequence[str] = (),
) -> str:
    """Markdown: one table per metric key, notes for undefined correlations, extra `sections`
    (ready Markdown lines), then the footer lines."""
    out = [
        f"# {title}",
        "",
        (
            "Ranked by direction-corrected Kendall τ (signed τ × +1 for higher-is-better, × −1 for "
            "lower-is-better proxies). Signed τ and ρ are on the raw scores; intervals are bootstrap "
            "95% percentile intervals. P@k% = fraction of the proxy's top k% cells that are in the "
            "benchmark's top k%; best-pick rank = benchmark rank (1 = best, among the n cells "
            "used) of the proxy's top cell; "
            "ties count as random tie-breaks (expected values). Kind: a proxy, an a-priori "
            "ensemble (members and aggregation fixed without looking at accuracies) or a selected "
            "ensemble (chosen by `harness ensemble select` on half of the cells, so its figures "
            "here include the cells it was chosen on; its held-out figures are in the selection "
            "record); an ensemble's s / cell is the sum of its members'."
        ),
        "",
    ]
    for metric, g in board.groupby("metric", sort=False):
        out += [
            f"## {metric}",
            "",
            markdown_table(
                MD_HEADER,
                display_rows(g),
                ["r", "l", "l", "l", "l"] + ["r"] * (len(MD_HEADER) - 5),
            ),
            "",
        ]
        notes = [f"- {r['label']}: {r['note']}" for _, r in g.iterrows() if r.get("note")]
        if notes:
            out += ["Notes:", *notes, ""]
    out += list(sections)
    if footer:
        out += ["---", "", *[f"{line}  " for line in footer], ""]
    return "\n".join(out).rstrip() + "\n"
