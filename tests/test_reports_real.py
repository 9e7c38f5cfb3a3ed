"""reports on the real NB201 table: tau from `correlate` equals scipy's on the CSV joined by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from cli import cli
from harness.exports import write_export
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.data  # the full table: params_M_cifar10
TABLE = SHARED_DATA / "nb201" / "nb201_accuracy.csv"


def test_params_proxy_on_600_real_cells(tmp_path):
    table = pd.read_csv(TABLE)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(table), 600, replace=False))
    rows = table.loc[idx, ["index", "arch_str", "params_M_cifar10"]].rename(
        columns={"params_M_cifar10": "value"}
    )
    rows = rows.assign(
        space="nb201",
        proxy="params",
        profile="bench",
        dataset="cifar10",
        status="ok",
        message="",
        seconds=0.001,
        repeats=1,
        higher_is_better=True,
        config_hash="p",
        filled_from="",
    )
    results = tmp_path / "params.csv.gz"
    write_export(rows, results, {})
    run = CliRunner().invoke(
        cli,
        [
            "correlate",
            "--results",
            str(results),
            "--bench",
            str(TABLE),
            "--dataset",
            "all",
            "--unique",
            "--bootstrap",
            "100",
            "--json",
        ],
    )
    assert run.exit_code == 0, run.output
    got = {r["metric"]: r for r in json.loads(run.stdout)}
    # By hand: keep the lowest index of each isomorphism class, join with the table, call scipy.
    from harness.spaces.nb201 import unique_keys

    keys = np.asarray(unique_keys(), dtype=object)
    kept = rows.assign(key=keys[rows["index"]]).sort_values("index").drop_duplicates("key")
    for metric, column in (
        ("cifar10-valid/x-valid@200", "cifar10_valid_acc"),
        ("cifar100/x-test@200", "cifar100_test_acc"),
        ("ImageNet16-120/x-test@200", "imagenet16_test_acc"),
    ):
        joined = kept.merge(table[["index", column]], on="index")
        rec = got[metric]
        assert rec["n"] == len(joined) < 600
        assert rec["kendall_tau"] == pytest.approx(
            stats.kendalltau(joined["value"], joined[column]).statistic, abs=1e-12
        )
        assert rec["kendall_tau_lo"] < rec["kendall_tau"] < rec["kendall_tau_hi"]
        best = joined.loc[joined["value"] == joined["value"].max(), column]
        assert rec["top1_acc"] == pytest.approx(best.mean())  # ties at the top: expected accuracy
