"""reports.repeats: Kendall tau between a proxy's repeats, and what averaging them buys."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harness.bench import load_benchmark
from cli import cli
from harness.errors import InputError
from harness.exports import write_export
from harness.spaces import nb201
from harness.store import ResultRow, ResultStore
from reports.io import REPEAT_COLUMNS, load_repeat_rows
from reports.repeats import AGREEMENT_COLUMNS, repeat_agreement
from tests.fakes import bench_frame, quality_table

METRIC = "cifar10-valid/x-valid@200"


def per_repeat(
    proxy: str, values_by_repeat, *, index=None, filled_from=None, config_hash="h0", hib=True
):
    """Per-repeat rows (an `export --per-repeat` table) of one proxy: one list of values per repeat."""
    frames = []
    for repeat, values in enumerate(values_by_repeat):
        values = np.asarray(values, dtype=float)
        idx = np.arange(len(values)) if index is None else np.asarray(index)
        frames.append(
            pd.DataFrame(
                {
                    "space": "nb201",
                    "index": idx,
                    "arch_str": [str(nb201.Nb201Arch.from_index(int(i))) for i in idx],
                    "proxy": proxy,
                    "profile": "tenas",
                    "dataset": "cifar10",
                    "repeat": repeat,
                    "value": values,
                    "status": ["ok" if np.isfinite(v) else "nan" for v in values],
                    "message": "",
                    "seconds": 0.1,
                    "higher_is_better": hib,
                    "config_hash": config_hash,
                    "filled_from": pd.array(
                        [pd.NA] * len(values) if filled_from is None else filled_from, dtype="Int64"
                    ),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_hand_example_pairs_single_repeats_and_their_mean():
    up = [1, 2, 3, 4, 5, 6]
    # Cell 6 has an undefined third repeat; cells 7-8 are --unique copies with misleading values.
    a = per_repeat(
        "a",
        [up + [7, 0, 0], up + [7, 9, 9], up[::-1] + [np.nan, 0, 9]],
        filled_from=[pd.NA] * 7 + [3, 3],
    )
    b = per_repeat("b", [up], config_hash="h1")  # one repeat: no agreement to report
    table = repeat_agreement(pd.concat([a, b]), bench_frame(up + [0, 0, 0]), METRIC)
    assert list(table.columns) == list(AGREEMENT_COLUMNS)
    assert list(table["label"]) == ["a/tenas"]
    row = table.iloc[0]
    assert row["repeats"] == 3 and row["cells"] == 6
    # pairs (0,1), (0,2), (1,2): identical, reversed, reversed
    assert row["tau_between_repeats"] == pytest.approx(-1 / 3)
    assert (row["tau_between_repeats_min"], row["tau_between_repeats_max"]) == pytest.approx(
        (-1.0, 1.0)
    )
    assert row["tau_single_repeat"] == pytest.approx(1 / 3)  # (1 + 1 - 1) / 3
    assert (row["tau_single_repeat_lo"], row["tau_single_repeat_hi"]) == pytest.approx((-1.0, 1.0))
    assert row["tau_repeat_mean"] == pytest.approx(1.0)  # mean (x + 7) / 3 rises with x
    assert row["metric"] == METRIC


def test_geometric_mean_diagnostic_differs_from_the_mean_and_needs_positive_scores():
    heavy = per_repeat("k", [[10, 20, 30, 40], [2.5, 1, 1, 1]])  # products 25, 20, 30, 40
    row = repeat_agreement(heavy, bench_frame([1, 2, 3, 4]), METRIC).iloc[0]
    assert row["tau_repeat_mean"] == pytest.approx(1.0)  # means 6.25, 10.5, 15.5, 20.5
    assert row["tau_repeat_geomean"] == pytest.approx(2 / 3)  # one discordant pair of six
    signed = per_repeat("s", [[-1, 2, 3, 4], [1, 2, 3, 4]])
    assert np.isnan(
        repeat_agreement(signed, bench_frame([1, 2, 3, 4]), METRIC).loc[0, "tau_repeat_geomean"]
    )


def test_noisy_repeats_agree_less_and_their_mean_ranks_better():
    rng = np.random.default_rng(0)
    quality = rng.normal(size=400)
    noisy = [quality + rng.normal(0, 1.5, 400) for _ in range(3)]
    clean = [quality + rng.normal(0, 0.2, 400) for _ in range(3)]
    table = repeat_agreement(
        pd.concat([per_repeat("noisy", noisy), per_repeat("clean", clean, config_hash="h1")]),
        bench_frame(quality),
        METRIC,
    ).set_index("label")
    assert (
        table.loc["clean/tenas", "tau_between_repeats"]
        > 0.8
        > table.loc["noisy/tenas", "tau_between_repeats"]
    )
    noisy_row = table.loc["noisy/tenas"]
    assert noisy_row["tau_repeat_mean"] > noisy_row["tau_single_repeat"] > 0
    without_metric = repeat_agreement(per_repeat("clean", clean)).iloc[0]
    assert np.isnan(without_metric["tau_single_repeat"]) and np.isnan(
        without_metric["tau_repeat_mean"]
    )


def test_load_repeat_rows_from_exports_and_stores(tmp_path):
    rows = per_repeat("ntk_cond", [[3.0, 1.0], [4.0, 2.0]], hib=False)
    table = tmp_path / "r.csv.gz"
    write_export(rows, table, {})
    aggregated = tmp_path / "agg.csv"
    write_export(rows.drop(columns="repeat").assign(repeats=2).iloc[:2], aggregated, {})
    store = tmp_path / "s.sqlite"
    arch = str(nb201.Nb201Arch.from_index(7))
    with ResultStore(store) as s:
        digest = s.add_config({"profile": {"name": "tenas"}, "data": {"dataset": "cifar10"}})
        s.add_proxies([{"name": "ntk_cond", "direction": "lower"}])
        s.write_rows(
            digest,
            "nb201",
            [ResultRow(7, arch, "ntk_cond", r, v, "ok") for r, v in enumerate((5.0, 6.0))],
            None,
        )
    got = load_repeat_rows([table, aggregated, table, store])
    assert list(got.columns) == list(REPEAT_COLUMNS)
    assert (
        len(got) == 6
    )  # 4 from the export (its second copy dropped), none aggregated, 2 from the store
    from_store = got[got["index"] == 7].sort_values("repeat")
    assert list(from_store["value"]) == [5.0, 6.0] and list(from_store["repeat"]) == [0, 1]
    assert not got["higher_is_better"].any()
    assert load_repeat_rows([aggregated]).empty
    write_export(rows.assign(repeat="first"), tmp_path / "bad.csv", {})
    with pytest.raises(InputError, match="non-numeric repeat"):
        load_repeat_rows([tmp_path / "bad.csv"])


def test_report_shows_agreement_only_for_repeated_proxies(tmp_path):
    rng = np.random.default_rng(1)
    cells = np.sort(rng.choice(nb201.NUM_CELLS, 300, replace=False))
    quality = rng.normal(size=nb201.NUM_CELLS)
    quality_table(quality, rng, scale=5).to_csv(tmp_path / "acc.csv", index=False)
    q = quality[cells]
    kappa = per_repeat(
        "ntk_cond", [np.exp(-q + rng.normal(0, 1, 300)) for _ in range(3)], index=cells, hib=False
    )
    params = per_repeat("params", [q + rng.normal(0, 1, 300)], index=cells, config_hash="h1")
    results = tmp_path / "sweep.csv"
    pd.concat([kappa, params]).to_csv(results, index=False)
    (tmp_path / "sweep.configs.json").write_text(json.dumps({"h0": {}, "h1": {}}))

    def report(path, out):
        result = CliRunner().invoke(
            cli,
            [
                "report",
                "--results",
                str(path),
                "--bench",
                str(tmp_path / "acc.csv"),
                "--out",
                str(out),
                "--metric",
                METRIC,
                "--bootstrap",
                "0",
            ],
        )
        assert result.exit_code == 0, result.output
        return out

    out = report(results, tmp_path / "rep")
    table = pd.read_csv(out / "repeats.csv")
    assert list(table["label"]) == ["ntk_cond/tenas"] and table.loc[0, "cells"] == 300
    expected = repeat_agreement(
        load_repeat_rows([results]), load_benchmark(source=tmp_path / "acc.csv").frame, METRIC
    )
    assert table.loc[0, "tau_between_repeats"] == pytest.approx(
        expected.loc[0, "tau_between_repeats"], abs=1e-5
    )
    assert 0 < table.loc[0, "tau_between_repeats"] < 1 and table.loc[0, "tau_repeat_mean"] < 0
    assert "## Agreement between repeats" in (out / "leaderboard.md").read_text()
    assert "Agreement between repeats" in (out / "index.html").read_text()

    aggregated = tmp_path / "agg.csv"
    write_export(
        pd.concat([kappa[kappa["repeat"] == 0], params]).drop(columns="repeat").assign(repeats=1),
        aggregated,
        {},
    )
    out = report(aggregated, tmp_path / "agg")
    assert not (out / "repeats.csv").exists()
    assert "Agreement between repeats" not in (out / "leaderboard.md").read_text()
