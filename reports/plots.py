"""Axes-level plots of tidy result tables (seaborn's convention: data + column names + ``ax`` -> Axes).

Nothing here touches pyplot, a backend or files: figures are `matplotlib.figure.Figure` objects
created on demand, and `reports.figures` saves them. Log scales are for display only; the
statistics are computed on the raw values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Above this many points a hexbin (density) replaces the scatter plot.
HEXBIN_ABOVE = 2000
#: A proxy is drawn on a log axis when its positive values span more than this many decades.
LOG_DECADES = 2.0


def _axes(ax: Axes | None, figsize=(5.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    return Figure(figsize=figsize, layout="constrained").add_subplot()


def needs_log_scale(values) -> bool:
    """True when the finite positive values span more than `LOG_DECADES` decades."""
    v = np.asarray(values, dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    return pos.size >= 2 and np.log10(pos.max() / pos.min()) > LOG_DECADES


def _log_filter(x: np.ndarray, log_x: bool) -> tuple[np.ndarray, int]:
    if not log_x:
        return np.ones(x.size, dtype=bool), 0
    keep = x > 0
    return keep, int((~keep).sum())


def plot_proxy_vs_accuracy(
    data: pd.DataFrame,
    x: str = "value",
    y: str = "accuracy",
    *,
    ax: Axes | None = None,
    log_x: bool | None = None,
    xlabel: str | None = None,
    ylabel: str = "accuracy (%)",
    title: str | None = None,
) -> Axes:
    """Scatter (or hexbin above `HEXBIN_ABOVE` points) of a proxy's scores against accuracy.

    Args:
        data: one row per cell with finite `x` and `y`.
        log_x: log-scale the proxy axis; None decides by `needs_log_scale`. Non-positive values
            cannot be shown on it and are counted in the axis label.
    """
    ax = _axes(ax)
    xv = data[x].to_numpy(dtype=float)
    yv = data[y].to_numpy(dtype=float)
    log_x = needs_log_scale(xv) if log_x is None else log_x
    keep, dropped = _log_filter(xv, log_x)
    xv, yv = xv[keep], yv[keep]
    if xv.size > HEXBIN_ABOVE:
        coll = ax.hexbin(
            xv,
            yv,
            gridsize=60,
            bins="log",
            mincnt=1,
            cmap="viridis",
            xscale="log" if log_x else "linear",
            linewidths=0.0,
        )
        ax.figure.colorbar(coll, ax=ax, label="cells per bin")
    else:
        ax.scatter(xv, yv, s=6, alpha=0.5, linewidths=0, color="tab:blue")
        if log_x:
            ax.set_xscale("log")
    label = xlabel or x
    if log_x:
        label += " (log scale" + (f"; {dropped} non-positive not shown)" if dropped else ")")
    ax.set_xlabel(label)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def _compact(text: str) -> str:
    """``0.73`` -> ``.73``, ``-0.05`` -> ``-.05``: fits a narrow heat-map cell."""
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def plot_heatmap(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    vmin: float = -1.0,
    vmax: float = 1.0,
    cmap: str = "RdBu_r",
    colorbar_label: str = "",
    fmt: str = "{:.2f}",
    title: str | None = None,
    xlabel: str = "",
    ylabel: str = "",
    xrotation: float = 30,
    fontsize: float | str = "small",
    compact: bool = False,
) -> Axes:
    """Annotated heat map of a numeric table (rows x columns as given); NaN cells are left grey.

    Args:
        xrotation: column labels' angle (90 for many narrow columns).
        fontsize: of the cell annotations.
        compact: drop the leading zero of annotations (``.73``) so narrow cells fit them.
    """
    longest = max((len(str(r)) for r in table.index), default=0)
    ax = _axes(
        ax, figsize=(3.5 + 0.07 * longest + 1.2 * table.shape[1], 2.5 + 0.45 * table.shape[0])
    )
    values = table.to_numpy(dtype=float)
    masked = np.ma.masked_invalid(values)
    image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_facecolor("0.85")
    ax.set_xticks(
        range(table.shape[1]),
        [str(c) for c in table.columns],
        rotation=xrotation,
        ha="center" if xrotation == 90 else "right",
    )
    ax.set_yticks(range(table.shape[0]), [str(r) for r in table.index])
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            text = "n/a" if not np.isfinite(v) else fmt.format(v)
            dark = np.isfinite(v) and abs(v) > 0.6 * max(abs(vmin), abs(vmax))
            ax.text(
                j,
                i,
                _compact(text) if compact else text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if dark else "black",
            )
    ax.figure.colorbar(image, ax=ax, label=colorbar_label, fraction=0.04, pad=0.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_score_distribution(
    data: pd.DataFrame,
    x: str = "value",
    *,
    ax: Axes | None = None,
    log_x: bool | None = None,
    bins: int = 50,
    xlabel: str | None = None,
    title: str | None = None,
) -> Axes:
    """Histogram of a proxy's finite scores (log-spaced bins when the values span decades)."""
    ax = _axes(ax)
    xv = data[x].to_numpy(dtype=float)
    xv = xv[np.isfinite(xv)]
    log_x = needs_log_scale(xv) if log_x is None else log_x
    keep, dropped = _log_filter(xv, log_x)
    xv = xv[keep]
    if log_x and xv.size:
        edges = np.logspace(np.log10(xv.min()), np.log10(xv.max()), bins + 1)
        ax.hist(xv, bins=edges, color="tab:blue")
        ax.set_xscale("log")
    else:
        ax.hist(xv, bins=bins, color="tab:blue")
    label = xlabel or x
    if log_x:
        label += " (log scale" + (f"; {dropped} non-positive not shown)" if dropped else ")")
    ax.set_xlabel(label)
    ax.set_ylabel("cells")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_pruning_trajectory(
    data: pd.DataFrame,
    x: str = "kappa",
    y: str = "regions",
    *,
    run: str = "run",
    round_col: str = "round",
    ax: Axes | None = None,
    log_x: bool | None = None,
    title: str | None = None,
) -> Axes:
    """Supernet kappa vs linear regions per pruning round, one line per search run, rounds labelled.

    Round 0 is the full supernet before pruning (TE-NAS Fig. 3 style).
    """
    ax = _axes(ax, figsize=(6.0, 4.5))
    log_x = needs_log_scale(data[x]) if log_x is None else log_x
    for name, g in data.sort_values([run, round_col]).groupby(run, sort=True):
        (line,) = ax.plot(g[x], g[y], marker="o", markersize=4, linewidth=1.2, label=str(name))
        for xi, yi, r in zip(g[x], g[y], g[round_col]):
            ax.annotate(
                str(int(r)),
                (xi, yi),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="x-small",
                color=line.get_color(),
            )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(
        "NTK condition number $\\kappa_N$ of the supernet" + (" (log scale)" if log_x else "")
    )
    ax.set_ylabel("linear regions $R_N$ of the supernet")
    ax.legend(fontsize="x-small", title="search run", title_fontsize="x-small")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax
