"""Ensembles and rank aggregations: known answers on tiny inputs, the NaN policy, the user TOML
file (good and bad), and `--ensemble` / `--ensembles` in `harness correlate`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from cli import cli
from harness.bench import TABLE_COLUMNS
from harness.ensembles import ENSEMBLES, Ensemble, get_ensemble, load_ensembles, score
from harness.errors import InputError
from harness.ranking import AGGREGATIONS, aggregate, best_first_ranks, log_rank_sum, rank_sum
from tests.fakes import arch_strs, quality_table

KAPPA = np.array([10.0, 20.0, 30.0, 40.0])  # lower is better
REGIONS = np.array([1.0, 3.0, 3.0, 4.0])  # higher is better, one tie


def test_best_first_ranks_average_ties_and_skip_non_finite():
    np.testing.assert_array_equal(best_first_ranks(REGIONS, True), [4.0, 2.5, 2.5, 1.0])
    np.testing.assert_array_equal(best_first_ranks(KAPPA, False), [1.0, 2.0, 3.0, 4.0])
    ranks = best_first_ranks(np.array([5.0, np.nan, 1.0, np.inf]), True)
    np.testing.assert_array_equal(ranks, [1.0, np.nan, 2.0, np.nan])


def test_aggregations_on_a_hand_example():
    cols, hib = [KAPPA, REGIONS], [False, True]
    np.testing.assert_allclose(rank_sum(cols, hib), [5.0, 4.5, 5.5, 5.0])
    np.testing.assert_allclose(aggregate("mean_rank", cols, hib), [2.5, 2.25, 2.75, 2.5])
    # worst-first ranks: kappa 4,3,2,1; regions 1,2.5,2.5,4; n = 4
    expected = np.log([4 / 4, 3 / 4, 2 / 4, 1 / 4]) + np.log([1 / 4, 2.5 / 4, 2.5 / 4, 4 / 4])
    np.testing.assert_allclose(log_rank_sum(cols, hib), expected)
    from scipy.special import ndtri

    normal = ndtri(np.array([4, 3, 2, 1]) / 5) + ndtri(np.array([1, 2.5, 2.5, 4]) / 5)
    np.testing.assert_allclose(aggregate("normal_score_sum", cols, hib), normal)
    np.testing.assert_array_equal(aggregate("worst_rank", cols, hib), [4.0, 2.5, 3.0, 4.0])
    assert [AGGREGATIONS.get(n).higher_is_better for n in AGGREGATIONS.names()] == [
        False,
        False,
        True,
        True,
        False,
    ]
    assert all(a.description and a.reference for a in AGGREGATIONS)


def test_log_rank_sum_equals_the_official_az_nas_formula():
    rng = np.random.default_rng(1)
    cols = [rng.normal(size=50).round(1) for _ in range(3)]  # with ties
    official = sum(np.log(stats.rankdata(c) / len(c)) for c in cols)  # all higher-is-better
    np.testing.assert_array_equal(log_rank_sum(cols, [True] * 3), official)


def test_nan_policy_each_member_ranked_over_its_own_finite_cells():
    kappa = np.array([10.0, np.nan, 30.0, 40.0])
    regions = np.array([1.0, 3.0, np.inf, 4.0])
    out = rank_sum([kappa, regions], [False, True])
    # kappa ranks over its 3 finite cells (1, -, 2, 3); regions over its 3 (3, 2, -, 1)
    np.testing.assert_array_equal(out, [4.0, np.nan, np.nan, 4.0])
    for name in AGGREGATIONS.names():
        assert np.isnan(aggregate(name, [kappa, regions], [False, True])[1:3]).all(), name


def test_bad_aggregation_input_is_one_input_error():
    with pytest.raises(InputError, match="unknown aggregation 'rank_summ'. Did you mean"):
        aggregate("rank_summ", [KAPPA], [False])
    with pytest.raises(InputError, match="differ in length"):
        rank_sum([KAPPA, REGIONS[:3]], [False, True])
    with pytest.raises(InputError, match="one direction per member"):
        rank_sum([KAPPA, REGIONS], [False])
    with pytest.raises(InputError, match="at least one member"):
        rank_sum([], [])


def test_builtin_ensembles_and_score():
    assert ENSEMBLES.names() == ["tenas", "az_nas", "all"]
    tenas = ENSEMBLES.get("tenas")
    assert (tenas.members, tenas.aggregation, tenas.higher_is_better) == (
        ("ntk_cond", "linear_regions"),
        "rank_sum",
        False,
    )
    columns = {"ntk_cond": KAPPA, "linear_regions": REGIONS, "params": REGIONS * 2}
    hib = {"ntk_cond": False, "linear_regions": True, "params": True}
    np.testing.assert_array_equal(score(tenas, columns, hib), [5.0, 4.5, 5.5, 5.0])
    everything = ENSEMBLES.get("all")
    assert everything.resolve(list(columns)) == ("linear_regions", "ntk_cond", "params")
    assert score(everything, columns, hib).shape == (4,)
    with pytest.raises(InputError, match="needs proxy 'az_expressivity', which is not in"):
        score(ENSEMBLES.get("az_nas"), columns, hib)
    with pytest.raises(InputError, match="kind 'chosen'"):
        Ensemble("x", ("a", "b"), "rank_sum", kind="chosen")
    with pytest.raises(InputError, match="unknown ensemble 'tena'. Did you mean 'tenas'"):
        get_ensemble("tena")


GOOD = """
[ensembles.pair]
members = ["params", "linear_regions"]
aggregation = "log_rank_sum"
description = "a test pair"
"""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[ensembles.pair\nmembers = 1", "is not valid TOML"),
        ("[other]\nx = 1", "must hold [ensembles.NAME] tables"),
        ('[ensembles.p]\nmembers = ["a", "b"]\naggregation = "median"', "unknown aggregation"),
        ('[ensembles.p]\nmembers = "a,b"\naggregation = "rank_sum"', "needs members = ["),
        ('[ensembles.p]\nmembers = ["a", "b"]', "needs aggregation = one of"),
        ('[ensembles.p]\nmembers = ["a", "b"]\naggregation = "rank_sum"\nweight = 2', "weight"),
        ('[ensembles.tenas]\nmembers = ["a", "b"]\naggregation = "rank_sum"', "built-in name"),
    ],
)
def test_bad_ensembles_file_is_one_input_error(tmp_path, text, fragment):
    path = tmp_path / "ens.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_ensembles(path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_good_ensembles_file(tmp_path):
    path = tmp_path / "ens.toml"
    path.write_text(GOOD)
    pair = load_ensembles(path)["pair"]
    assert (pair.members, pair.aggregation, pair.kind) == (
        ("params", "linear_regions"),
        "log_rank_sum",
        "a-priori",
    )


# ---- the CLI ---------------------------------------------------------------------------
CELLS = 300


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensembles")
    rng = np.random.default_rng(3)
    archs = arch_strs()
    quality = rng.normal(size=len(archs))
    quality_table(quality, rng).to_csv(root / "nb201_accuracy.csv", index=False)
    idx = np.sort(rng.choice(len(archs), CELLS, replace=False))
    q = quality[idx]
    proxies = {
        ("params", "bench", True, 0.5): q + rng.normal(0, 1, CELLS),
        ("ntk_cond", "tenas", False, 2.0): np.exp(-q + rng.normal(0, 1, CELLS)),
        ("linear_regions", "tenas", True, 0.25): q + rng.normal(0, 1, CELLS),
    }
    rows = [
        pd.DataFrame(
            {
                "space": "nb201",
                "index": idx,
                "arch_str": [archs[i] for i in idx],
                "proxy": proxy,
                "profile": profile,
                "dataset": "cifar10",
                "value": values,
                "status": "ok",
                "message": "",
                "seconds": seconds,
                "repeats": 1,
                "higher_is_better": hib,
                "config_hash": proxy[:2],
                "filled_from": "",
            }
        )
        for (proxy, profile, hib, seconds), values in proxies.items()
    ]
    pd.concat(rows).to_csv(root / "sweep.csv", index=False)
    (root / "ens.toml").write_text(GOOD)
    return root


def _correlate(root, *extra):
    args = ["correlate", "--results", root / "sweep.csv", "--bench", root / "nb201_accuracy.csv"]
    args += ["--bootstrap", "0", "--accept-partial", "--json", *extra]
    return CliRunner().invoke(cli, list(map(str, args)))


def test_correlate_with_ensembles(inputs):
    result = _correlate(inputs, "--ensemble", "all", "--ensembles", inputs / "ens.toml")
    assert result.exit_code == 0, result.output
    records = {r["label"]: r for r in json.loads(result.stdout)}
    assert records["params/bench"]["kind"] == "proxy"
    assert records["tenas/tenas"]["kind"] == "a-priori ensemble"
    assert records["pair"]["kind"] == records["all"]["kind"] == "a-priori ensemble"
    # cost per cell of an ensemble: the sum of its members'
    assert records["tenas/tenas"]["seconds_per_cell"] == pytest.approx(2.25)
    assert records["all"]["seconds_per_cell"] == pytest.approx(2.75)
    assert records["pair"]["seconds_per_cell"] == pytest.approx(0.75)
    # the pair's tau is scipy's on its log-rank sum of the two columns
    frame = pd.read_csv(inputs / "sweep.csv")
    bench = pd.read_csv(inputs / "nb201_accuracy.csv").set_index("index")
    wide = frame.pivot(index="index", columns="proxy", values="value")
    pair = log_rank_sum([wide["params"], wide["linear_regions"]], [True, True])
    acc = bench.loc[wide.index, TABLE_COLUMNS["cifar10-valid/x-valid@200"]].to_numpy()
    assert records["pair"]["direction"] == "higher" and records["pair"]["n"] == CELLS
    assert records["pair"]["kendall_tau"] == pytest.approx(stats.kendalltau(pair, acc).statistic)


def test_correlate_ensemble_errors_are_one_line(inputs, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[ensembles.p]\nmembers = ["params"]\naggregation = "rank_sum"')
    for extra, fragment in [
        (("--ensemble", "tena"), "unknown ensemble 'tena'"),
        (("--ensembles", tmp_path / "missing.toml"), "not found"),
        (("--ensembles", bad), "resolves to 1 member"),
        (("--ensemble", "az_nas"), "needs proxy 'az_expressivity'"),
    ]:
        result = _correlate(inputs, *extra)
        assert result.exit_code == 2, (extra, result.output)
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and fragment in lines[0], (extra, result.stderr)


def test_ensembles_option_help_names_every_aggregation():
    result = CliRunner().invoke(cli, ["correlate", "--help"])
    text = " ".join(result.output.split())
    assert all(f"'{name}'" in text for name in AGGREGATIONS.names()), text


def test_the_packaged_selected_ensemble_is_the_committed_selection():
    """`selected` is read from package data (any install can name it); it must be the ensemble of
    the committed record, whose bytes it pins (update harness/selected_ensemble.json with it)."""
    from harness.checksums import file_sha256
    from harness.ensembles import PACKAGED_SELECTION, SELECTION_FILE, load_selection

    packaged = json.loads(PACKAGED_SELECTION.read_text(encoding="utf-8"))
    record = json.loads(SELECTION_FILE.read_text(encoding="utf-8"))
    assert packaged["selected"]["ensemble"] == record["selected"]["ensemble"]
    assert packaged["source"]["sha256"] == file_sha256(SELECTION_FILE)
    assert load_selection() == load_selection(SELECTION_FILE) == get_ensemble("selected")
    listed = CliRunner().invoke(cli, ["ensemble", "list"])
    assert listed.exit_code == 0 and "selected   selected  log_rank_sum" in listed.output
