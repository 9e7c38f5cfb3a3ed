"""Figure-level compositions of `reports.plots` and byte-stable saving as PNG and SVG."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.atomic import atomic_path
from reports.correlation import defined
from reports.plots import (
    plot_heatmap,
    plot_proxy_vs_accuracy,
    plot_pruning_trajectory,
    plot_score_distribution,
)

# Fixed SVG id salt and no dates/software stamps, so a regenerated report diffs clean.
_SAVE_RC = {"svg.hashsalt": "harness-report", "svg.fonttype": "path", "path.simplify": True}
PNG_DPI = 110


def slug(text: str) -> str:
    """File-name-safe form of a label: ``ntk_cond/tenas#1a2b`` -> ``ntk_cond-tenas-1a2b``."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-") or "figure"


def save_figure(fig: Figure, directory: Path, stem: str) -> dict[str, Path]:
    """Write `fig` as ``<stem>.png`` and ``<stem>.svg`` with deterministic bytes; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"png": directory / f"{stem}.png", "svg": directory / f"{stem}.svg"}
    # Each file is written to a temporary name and renamed when complete (harness.atomic).
    with mpl.rc_context(_SAVE_RC):
        with atomic_path(paths["png"]) as tmp:
            fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Software": None})
        # The layout is solved by the first save; do not solve it again for the second.
        fig.set_layout_engine("none")
        with atomic_path(paths["svg"]) as tmp:
            fig.savefig(tmp, format="svg", metadata={"Date": None, "Creator": None})
    return paths


def _grid(n: int, ncols: int, panel=(4.2, 3.4)) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, axes[:n]


def figure_proxy_vs_accuracy(
    cells: pd.DataFrame, label: str, metrics: Sequence[str], taus: dict[str, float]
) -> Figure:
    """One panel per benchmark metric: the proxy's ok scores against that metric's accuracy (%).

    Args:
        cells: the label's rows with ``value`` and one accuracy column per metric key.
        taus: signed Kendall tau per metric, printed in the panel titles.
    """
    fig, axes = _grid(len(metrics), 2)
    for ax, metric in zip(axes, metrics):
        d = cells[["value", metric]].rename(columns={metric: "accuracy"})
        d = d[np.isfinite(d["value"]) & np.isfinite(d["accuracy"])]
        tau = taus.get(metric, float("nan"))
        plot_proxy_vs_accuracy(
            d,
            ax=ax,
            xlabel=label,
            ylabel=f"{metric} accuracy (%)",
            title=f"{metric}\nKendall τ = {tau:.3f}, n = {len(d)}",
        )
    fig.suptitle(f"{label} vs benchmark accuracy")
    return fig


def tau_order(corr: pd.DataFrame, metric: str) -> list[str]:
    """Labels best first by direction-corrected tau on `metric` (undefined last, ties by label)."""
    labels = sorted(corr["label"].unique())
    tau = corr[corr["metric"] == metric].groupby("label")["kendall_tau_dc"].first()
    tau = tau.reindex(labels)
    return sorted(labels, key=lambda lab: (not np.isfinite(tau[lab]), -np.nan_to_num(tau[lab])))


def figure_tau_heatmap(corr: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """Direction-corrected Kendall tau: one row per metric key, one column per proxy, the
    columns sorted best first by tau on the first key (a strip that fits beside the leaderboard).
    """
    table = corr.pivot_table(
        index="metric", columns="label", values="kendall_tau_dc", aggfunc="first", dropna=False
    )
    table = table.reindex(index=list(metrics), columns=tau_order(corr, metrics[0]))
    longest_key = max((len(m) for m in metrics), default=0)
    longest_label = max((len(str(c)) for c in table.columns), default=0)
    fig = Figure(
        figsize=(
            1.1 + 0.058 * longest_key + 0.19 * table.shape[1],
            0.9 + 0.26 * table.shape[0] + 0.062 * longest_label,
        ),
        layout="constrained",
    )
    ax = plot_heatmap(
        table,
        ax=fig.add_subplot(),
        colorbar_label="τ × direction",
        title=f"Direction-corrected Kendall τ, proxies sorted by τ on {metrics[0]}",
        xlabel="proxy / ensemble",
        ylabel="benchmark metric key",
        fmt="{:.2f}",
        xrotation=90,
        fontsize=6.5,
        compact=True,
    )
    ax.tick_params(labelsize=7.5)
    return fig


def figure_proxy_matrix(data: pd.DataFrame) -> Figure:
    """Pairwise Spearman rho between proxies over the cells both scored ok (signed, raw values)."""
    ok = data[defined(data)]
    wide = ok.pivot_table(index="index", columns="label", values="value", aggfunc="first")
    corr = wide.corr(method="spearman", min_periods=3)
    ax = plot_heatmap(
        corr,
        colorbar_label="Spearman ρ",
        xlabel="proxy",
        ylabel="proxy",
        title="Proxy vs proxy Spearman ρ (raw scores, cells both scored)",
    )
    return ax.figure


def figure_distributions(data: pd.DataFrame) -> Figure:
    """Histogram of each proxy's ok scores."""
    labels = sorted(data["label"].unique())
    fig, axes = _grid(len(labels), 3, panel=(4.0, 3.0))
    for ax, label in zip(axes, labels):
        d = data[(data["label"] == label) & defined(data)]
        plot_score_distribution(d, ax=ax, xlabel=f"{label} score", title=f"{label} (n = {len(d)})")
    fig.suptitle("Score distributions (cells with status ok)")
    return fig


def figure_tenas_panels(
    kappa: pd.DataFrame | None,
    regions: pd.DataFrame | None,
    metric: str,
    profile: str,
    taus: tuple[float, float],
) -> Figure:
    """TE-NAS Fig. 1/2 style: accuracy against kappa_N (left) and against R_N (right).

    Either indicator may be None (not in the results); the figure then has one panel.
    """
    panels = [
        (data, xlabel, name, tau)
        for data, xlabel, name, tau in (
            (kappa, "NTK condition number $\\kappa_N$", "$\\kappa_N$", taus[0]),
            (regions, "number of linear regions $R_N$", "$R_N$", taus[1]),
        )
        if data is not None
    ]
    fig, axes = _grid(len(panels), 2, panel=(4.2, 3.3))
    for ax, (data, xlabel, name, tau) in zip(axes, panels):
        plot_proxy_vs_accuracy(
            data,
            ax=ax,
            xlabel=xlabel,
            ylabel=f"{metric} accuracy (%)",
            title=f"{name} ({profile})\nKendall τ = {tau:.3f}, n = {len(data)}",
        )
    fig.suptitle(f"TE-NAS indicators vs {metric} accuracy")
    return fig


def figure_trajectory(runs: pd.DataFrame) -> Figure:
    """Pruning trajectories of the given search runs in the (kappa_N, R_N) plane."""
    ax = plot_pruning_trajectory(
        runs, title="TE-NAS pruning trajectory (0 = supernet before pruning)"
    )
    return ax.figure
