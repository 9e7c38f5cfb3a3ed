"""reports.figures / reports.plots: every figure has axis labels, units and its metric key; stable bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.figures import (
    figure_distributions,
    figure_proxy_matrix,
    figure_proxy_vs_accuracy,
    figure_tau_heatmap,
    figure_tenas_panels,
    figure_trajectory,
    save_figure,
)
from reports.plots import HEXBIN_ABOVE, needs_log_scale

KEYS = ["cifar10-valid/x-valid@200", "cifar100/x-test@200"]


def _main_axes(fig):
    """The plotting axes of a figure, without colorbars and switched-off grid cells."""
    return [ax for ax in fig.axes if ax.axison and not hasattr(ax, "_colorbar")]


def _labelled(fig) -> None:
    axes = _main_axes(fig)
    assert axes
    for ax in axes:
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), ax


def _cells(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    acc = rng.uniform(10, 90, n)
    return pd.DataFrame(
        {
            "index": np.arange(n),
            "value": np.exp(acc / 10 + rng.normal(0, 1, n)),
            KEYS[0]: acc,
            KEYS[1]: acc - 20,
        }
    )


def test_needs_log_scale():
    assert needs_log_scale([1e-2, 1.0, 10.0, 1e4])
    assert not needs_log_scale([1.0, 50.0, 99.0])
    assert not needs_log_scale([-5.0, 0.0, 3.0])  # fewer than two positive values


@pytest.mark.parametrize("n", [50, HEXBIN_ABOVE + 1])
def test_proxy_vs_accuracy_panels_name_metric_and_units(n):
    cells = _cells(n)
    cells.loc[0, "value"] = -1.0  # cannot be shown on a log axis: counted in the label
    fig = figure_proxy_vs_accuracy(cells, "synflow/bench", KEYS, {KEYS[0]: 0.5, KEYS[1]: 0.4})
    _labelled(fig)
    for ax, key in zip(_main_axes(fig), KEYS):
        assert key in ax.get_title() and "Kendall τ" in ax.get_title()
        assert ax.get_ylabel() == f"{key} accuracy (%)"
        assert ax.get_xscale() == "log" and "1 non-positive not shown" in ax.get_xlabel()


def test_summary_figures_are_labelled():
    corr = pd.DataFrame(
        {
            "label": ["a/x", "a/x", "b/x", "b/x"],
            "metric": KEYS * 2,
            "kendall_tau_dc": [0.3, 0.2, np.nan, np.nan],
        }
    )
    heat = figure_tau_heatmap(corr, KEYS)
    _labelled(heat)
    # One row per key, one column per proxy, best first on the first key (undefined last).
    assert [t.get_text() for t in _main_axes(heat)[0].get_yticklabels()] == KEYS
    assert [t.get_text() for t in _main_axes(heat)[0].get_xticklabels()] == ["a/x", "b/x"]
    swapped = corr.assign(kendall_tau_dc=[0.1, 0.2, 0.5, 0.0])
    heat = figure_tau_heatmap(swapped, KEYS)
    assert [t.get_text() for t in _main_axes(heat)[0].get_xticklabels()] == ["b/x", "a/x"]
    rng = np.random.default_rng(1)
    data = pd.DataFrame(
        {
            "label": np.repeat(["a/x", "b/x"], 30),
            "index": np.tile(np.arange(30), 2),
            "value": rng.normal(size=60),
            "status": "ok",
        }
    )
    _labelled(figure_proxy_matrix(data))
    _labelled(figure_distributions(data))
    runs = pd.DataFrame(
        {
            "run": ["s0"] * 3 + ["s1"] * 3,
            "round": [0, 1, 2] * 2,
            "kappa": [900.0, 90.0, 9.0, 800.0, 80.0, 8.0],
            "regions": [10.0, 8, 5, 11, 9, 6],
        }
    )
    traj = figure_trajectory(runs)
    _labelled(traj)
    ax = _main_axes(traj)[0]
    assert ax.get_xscale() == "log" and len(ax.get_lines()) == 2
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0", "1", "2"] * 2)  # round labels


def test_tenas_panels():
    cells = _cells(80)
    kappa = cells.rename(columns={KEYS[1]: "accuracy"})
    fig = figure_tenas_panels(
        kappa, kappa.assign(value=np.arange(80.0) + 1), KEYS[1], "tenas", (-0.4, 0.5)
    )
    _labelled(fig)
    left, right = _main_axes(fig)
    assert "kappa" in left.get_xlabel() and "linear regions" in right.get_xlabel()
    assert all(ax.get_ylabel() == f"{KEYS[1]} accuracy (%)" for ax in (left, right))
    only_kappa = figure_tenas_panels(kappa, None, KEYS[1], "tenas", (-0.4, float("nan")))
    (ax,) = _main_axes(only_kappa)
    assert "kappa" in ax.get_xlabel() and KEYS[1] in ax.get_ylabel()


def test_saved_files_are_byte_stable(tmp_path):
    corr = pd.DataFrame(
        {"label": ["a/x", "b/x"], "metric": [KEYS[0]] * 2, "kendall_tau_dc": [0.3, -0.1]}
    )
    first = save_figure(figure_tau_heatmap(corr, KEYS[:1]), tmp_path / "one", "heat")
    second = save_figure(figure_tau_heatmap(corr, KEYS[:1]), tmp_path / "two", "heat")
    for kind in ("png", "svg"):
        assert first[kind].read_bytes() == second[kind].read_bytes()
    svg = first["svg"].read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    assert b"Software" not in first["png"].read_bytes()
