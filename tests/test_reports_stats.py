"""reports: top-k metrics, rank sums, labels and correlations on small hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.errors import InputError
from harness.spaces import nb201
from reports.combine import add_combined, parse_combine, rank_sum
from reports.correlation import (
    _resample_ranks,
    bootstrap_intervals,
    correlate,
    correlation_stats,
    place_undefined,
    unique_cells,
)
from reports.labels import add_labels
from reports.leaderboard import build_leaderboard, leaderboard_markdown, write_leaderboard_csv
from reports.topk import benchmark_ranks, precision_at_k, topk_count, topk_summary, topk_weights
from tests.fakes import bench_frame

METRIC = "cifar10-valid/x-valid@200"


def results(
    proxy: str,
    values,
    *,
    index=None,
    status=None,
    hib=True,
    profile="bench",
    config_hash="h0",
    seconds=0.5,
    repeats=1,
    filled_from=None,
) -> pd.DataFrame:
    """A tidy results frame (the runner's export contract) for one proxy."""
    values = np.asarray(values, dtype=float)
    index = np.arange(len(values)) if index is None else np.asarray(index)
    if status is None:
        status = ["ok" if np.isfinite(v) else ("nan" if np.isnan(v) else "inf") for v in values]
    return pd.DataFrame(
        {
            "space": "nb201",
            "index": index,
            "arch_str": [str(nb201.Nb201Arch.from_index(int(i))) for i in index],
            "proxy": proxy,
            "profile": profile,
            "dataset": "cifar10",
            "value": np.where(np.array(status) == "ok", values, np.nan),
            "status": status,
            "message": "",
            "seconds": seconds,
            "repeats": repeats,
            "higher_is_better": hib,
            "config_hash": config_hash,
            "filled_from": pd.array(
                [pd.NA] * len(values) if filled_from is None else filled_from, dtype="Int64"
            ),
            "source": "test",
        }
    )


# ---- top-k ------------------------------------------------------------------------------
def test_precision_at_k_hand_example():
    # Proxy's top 3: cells 0, 1, 2; benchmark's top 3: cells 0, 2, 4 -> 2 of 3 shared.
    proxy = [9, 8, 7, 6, 5, 4]
    acc = [90, 10, 80, 20, 85, 30]
    assert precision_at_k(proxy, acc, 3) == pytest.approx(2 / 3)
    assert precision_at_k(proxy, acc, 1) == 1.0
    assert precision_at_k(proxy[::-1], acc, 1) == 0.0


def test_topk_weights_split_ties_at_the_boundary():
    w = topk_weights([5, 4, 4, 4, 1], 2)
    np.testing.assert_allclose(w, [1, 1 / 3, 1 / 3, 1 / 3, 0])
    assert w.sum() == pytest.approx(2)
    # A constant proxy has no information: its precision is the random baseline k/n.
    assert precision_at_k(np.zeros(20), np.arange(20), 5) == pytest.approx(5 / 20)


def test_topk_summary_hand_example():
    proxy = np.array([3.0, 1.0, 2.0, 0.0])
    acc = np.array([70.0, 90.0, 80.0, 60.0])
    out = topk_summary(proxy, acc, percents=(50,))
    assert out["best_pick_rank"] == 3  # proxy's pick (cell 0, 70%) is third best
    assert out["top1_acc"] == 70.0
    assert out["top10_mean_acc"] == pytest.approx(acc.mean())  # n < 10: all cells
    assert out["precision_at_50pct"] == pytest.approx(0.5)  # top-2 {0, 2} vs {1, 2}
    np.testing.assert_array_equal(benchmark_ranks([50, 70, 70, 10]), [3, 1, 1, 4])
    assert topk_count(15625, 1) == 156 and topk_count(10, 1) == 1


# ---- rank sums ------------------------------------------------------------------------
def test_tenas_rank_sum_hand_example():
    kappa = np.array([10.0, 100.0, 1.0, 100.0])  # lower is better: ranks 2, 3.5, 1, 3.5
    regions = np.array([50.0, 80.0, 20.0, 90.0])  # higher is better: ranks 3, 2, 4, 1
    np.testing.assert_allclose(rank_sum([kappa, regions], [False, True]), [5.0, 5.5, 5.0, 4.5])


def test_add_combined_uses_only_cells_where_all_components_are_ok():
    kappa = results(
        "ntk_cond", [10.0, 100.0, np.nan, 1.0, 5.0], hib=False, profile="tenas", config_hash="k"
    )
    regions = results(
        "linear_regions", [50.0, 80.0, 20.0, 90.0, 60.0], profile="tenas", config_hash="r"
    )
    regions.loc[4, ["status", "value"]] = ["error", np.nan]
    frame = add_combined(add_labels(pd.concat([kappa, regions], ignore_index=True)))
    tenas = frame[frame["label"] == "tenas/tenas"].set_index("index")
    assert list(tenas["status"]) == ["ok", "ok", "nan", "ok", "error"]
    # Ranks over cells 0, 1, 3 only: kappa (10, 100, 1) -> 2, 3, 1; regions (50, 80, 90) -> 3, 2, 1.
    np.testing.assert_allclose(tenas.loc[[0, 1, 3], "value"], [5.0, 5.0, 2.0])
    assert not tenas["higher_is_better"].any()


def test_parse_combine():
    assert parse_combine("a,b;c, d ,e") == [("a", "b"), ("c", "d", "e")]
    with pytest.raises(InputError, match="at least two"):
        parse_combine("a")
    with pytest.raises(InputError, match="not in the results"):
        add_combined(add_labels(results("params", [1.0, 2.0])), [("params", "snip")])


# ---- labels and --unique ----------------------------------------------------------------
def test_two_configs_of_one_proxy_get_separate_labels():
    frame = pd.concat(
        [
            results("snip", [1.0, 2.0], config_hash="aaaaaaaaaaaa"),
            results("snip", [3.0, 4.0], config_hash="bbbbbbbbbbbb"),
        ],
        ignore_index=True,
    )
    labels = sorted(add_labels(frame)["label"].unique())
    assert labels == ["snip/bench#aaaaaaaa", "snip/bench#bbbbbbbb"]


def test_unique_cells_keeps_one_cell_per_isomorphism_class():
    keys = nb201.unique_keys()
    frame = add_labels(results("params", np.arange(300.0)))
    kept = unique_cells(frame)
    assert len(kept) == len({keys[i] for i in range(300)}) < 300
    assert len({keys[i] for i in kept["index"]}) == len(kept)
    # The lowest index of each class present is kept.
    assert set(kept["index"]) == {
        min(i for i in range(300) if keys[i] == k) for k in {keys[i] for i in range(300)}
    }


# ---- correlations ------------------------------------------------------------------------
def test_kendall_is_tau_b_and_spearman_is_pearson_on_ranks():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 200).astype(float)  # heavy ties
    y = x + rng.normal(0, 2, 200)
    out = correlation_stats(x, y)
    assert out["kendall_tau"] == pytest.approx(stats.kendalltau(x, y, variant="b").statistic)
    assert out["kendall_tau"] != pytest.approx(stats.kendalltau(x, y, variant="c").statistic)
    assert out["spearman_rho"] == pytest.approx(
        np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1]
    )
    assert out["pearson_r"] == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_bootstrap_intervals_contain_estimate_and_are_seeded():
    rng = np.random.default_rng(2)
    x = rng.normal(size=300)
    y = 0.5 * x + rng.normal(size=300)
    point = correlation_stats(x, y)
    ci = bootstrap_intervals(x, y, 300, seed=0)
    for name, value in point.items():
        assert ci[f"{name}_lo"] < value < ci[f"{name}_hi"]
    assert bootstrap_intervals(x, y, 300, seed=0) == ci
    assert bootstrap_intervals(x, y, 300, seed=1) != ci


def test_resample_ranks_equal_rankdata_of_the_resample():
    x = np.round(np.random.default_rng(4).normal(size=500), 1)  # ties
    idx = np.random.default_rng(5).integers(0, 500, size=500)  # repeats
    values, groups = np.unique(x, return_inverse=True)
    np.testing.assert_allclose(_resample_ranks(groups, len(values), idx), stats.rankdata(x[idx]))


def test_correlate_counts_exclusions_and_orients_direction():
    acc = np.linspace(50, 90, 12)
    bench = bench_frame(acc)
    bench.loc[11, METRIC] = np.nan  # not covered by the benchmark
    kappa = 100.0 - acc + np.sin(np.arange(12))  # lower better, good proxy
    kappa[[2, 3, 4]] = [np.nan, np.inf, np.nan]
    frame = results("ntk_cond", kappa, hib=False)
    frame.loc[4, "status"] = "error"
    rec = correlate(frame, bench, [METRIC], bootstrap=0, undefined="exclude").iloc[0]
    assert (rec["n"], rec["n_nan"], rec["n_inf"], rec["n_error"], rec["n_no_accuracy"]) == (
        8,
        1,
        1,
        1,
        1,
    )
    assert rec["n_excluded"] == 4 and rec["n"] + rec["n_excluded"] == 12
    use = [0, 1, 5, 6, 7, 8, 9, 10]
    tau = stats.kendalltau(kappa[use], acc[use]).statistic
    assert rec["kendall_tau"] == pytest.approx(tau) and tau < 0
    assert rec["kendall_tau_dc"] == pytest.approx(-tau)
    assert np.isnan(rec["kendall_tau_lo"])  # bootstrap=0: no intervals

    # Default: TE-NAS's treatment, the NaN (cell 2) and the +inf (cell 3) kappa rank worst.
    worst = correlate(frame, bench, [METRIC], bootstrap=0).iloc[0]
    assert (worst["n"], worst["n_nan"], worst["n_inf"], worst["n_excluded"]) == (10, 1, 1, 2)
    assert (worst["n_nan_as_worst"], worst["n_inf_as_worst"]) == (1, 1)
    use = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10]
    placed = np.where(np.isnan(kappa), np.inf, kappa)[use]
    assert worst["kendall_tau"] == pytest.approx(stats.kendalltau(placed, acc[use]).statistic)


def test_place_undefined_keeps_infinities_at_their_own_ends():
    frame = add_labels(results("naswot", np.array([1.0, 3.0, np.nan, -np.inf, np.inf, 2.0])))
    frame.loc[[2, 3, 4], "status"] = ["nan", "inf", "inf"]
    frame.loc[[3, 4], "value"] = [-np.inf, np.inf]  # as a store keeps them
    placed = place_undefined(frame, "worst")
    v = placed["value"].to_numpy()
    assert np.isfinite(v).all() and (placed["status"] == "ok").all()
    assert v[2] == v[3] < 1.0 and v[4] > 3.0  # higher is better: NaN and -inf lowest, +inf top
    assert list(placed["undefined"]) == ["", "", "nan", "inf", "inf", ""]
    assert place_undefined(frame, "exclude")["value"].isna().sum() == 1
    with pytest.raises(InputError, match="'zero'.*worst, exclude"):
        place_undefined(frame, "zero")


def test_constant_proxy_is_reported_not_crashed():
    bench = bench_frame(np.linspace(50, 90, 40))
    rec = correlate(results("constant", np.ones(40)), bench, [METRIC], bootstrap=50).iloc[0]
    assert rec["n"] == 40
    assert (
        np.isnan(rec["kendall_tau"])
        and np.isnan(rec["spearman_rho"])
        and np.isnan(rec["kendall_tau_lo"])
    )
    assert "constant" in rec["note"]
    assert rec["precision_at_10pct"] == pytest.approx(0.1)  # random baseline


def test_partial_sweep_reports_coverage_and_seconds():
    idx = np.arange(0, 15625, 50)  # 313 of 15,625 cells
    rng = np.random.default_rng(3)
    acc = {int(i): float(a) for i, a in zip(idx, rng.uniform(10, 90, len(idx)))}
    frame = results("params", rng.normal(size=len(idx)), index=idx, seconds=0.2, repeats=3)
    rec = correlate(frame, bench_frame(acc), [METRIC], bootstrap=0).iloc[0]
    assert rec["cells"] == 313 and rec["n"] == 313
    assert rec["coverage"] == pytest.approx(313 / 15625)
    assert rec["seconds_per_cell"] == pytest.approx(0.6)


def test_correlate_rejects_bad_inputs():
    bench = bench_frame(np.linspace(50, 90, 10))
    frame = results("params", np.arange(10.0))
    with pytest.raises(InputError, match="unknown benchmark metric key 'cifar10/valid'"):
        correlate(frame, bench, ["cifar10/valid"])
    wrong = frame.copy()
    wrong.loc[3, "arch_str"] = wrong.loc[4, "arch_str"]
    with pytest.raises(InputError, match="index 3"):
        correlate(wrong, bench, [METRIC])
    outside = results("params", [1.0, 2.0], index=[3, 5000])
    with pytest.raises(InputError, match="5000"):
        correlate(outside, bench, [METRIC])


def test_leaderboard_files_are_identical_for_identical_inputs(tmp_path):
    rng = np.random.default_rng(6)
    acc = rng.uniform(40, 90, 60)
    frame = pd.concat(
        [
            results("params", acc + rng.normal(0, 5, 60), config_hash="p"),
            results(
                "ntk_cond", -acc + rng.normal(0, 9, 60), hib=False, profile="tenas", config_hash="k"
            ),
            results("linear_regions", np.round(acc / 10), profile="tenas", config_hash="r"),
        ],
        ignore_index=True,
    )
    texts = []
    for run in ("a", "b"):
        board = build_leaderboard(
            correlate(frame, bench_frame(acc), [METRIC], bootstrap=30, seed=3), [METRIC]
        )
        csv = write_leaderboard_csv(board, tmp_path / f"{run}.csv").read_bytes()
        texts.append((csv, leaderboard_markdown(board, ["Results: x.csv"])))
    assert texts[0] == texts[1]
    board = pd.read_csv(tmp_path / "a.csv")
    assert list(board["label"]) == list(
        board.sort_values("kendall_tau_dc", ascending=False)["label"]
    )
    assert list(board["rank"]) == [1, 2, 3, 4]
