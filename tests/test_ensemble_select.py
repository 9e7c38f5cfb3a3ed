"""`harness ensemble select`: the split (whole isomorphism classes, seeded, recorded), the search
(the best of every subset and aggregation on the selection half), held-out figures on the other
half only, and the committed selection reproduced from the committed results (slow)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from cli import cli
from harness.bench import TABLE_COLUMNS
from harness.ranking import AGGREGATIONS, aggregate
from harness.spaces.nb201 import representatives
from reports.ensemble_select import SelectConfig, select_ensemble, split_halves
from tests.fakes import arch_strs, quality_table

REPO = Path(__file__).resolve().parents[1]
CELLS = 1500
METRIC = "cifar10-valid/x-valid@200"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("select")
    rng = np.random.default_rng(5)
    archs = arch_strs()
    quality = rng.normal(size=len(archs))
    table = quality_table(quality, rng)
    table.to_csv(root / "nb201_accuracy.csv", index=False)
    idx = np.sort(rng.choice(len(archs), CELLS, replace=False))
    q = quality[idx]
    proxies = {
        ("a", True): q + rng.normal(0, 1.0, CELLS),
        ("b", False): -q + rng.normal(0, 1.5, CELLS),
        ("c", True): q + rng.normal(0, 2.0, CELLS),
        ("d", True): rng.normal(0, 1.0, CELLS),  # noise
    }
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "space": "nb201",
                    "index": idx,
                    "arch_str": [archs[i] for i in idx],
                    "proxy": name,
                    "profile": "bench",
                    "dataset": "cifar10",
                    "value": values,
                    "status": "ok",
                    "message": "",
                    "seconds": 0.1,
                    "repeats": 1,
                    "higher_is_better": hib,
                    "config_hash": name,
                    "filled_from": "",
                }
            )
            for (name, hib), values in proxies.items()
        ]
    )
    frame.to_csv(root / "sweep.csv", index=False)
    return root


def _load(root):
    from reports.io import load_results

    frame, _ = load_results([root / "sweep.csv"], accept_partial=True)
    bench = pd.read_csv(root / "nb201_accuracy.csv").set_index("index")
    bench = bench.rename(columns={v: k for k, v in TABLE_COLUMNS.items()})
    return frame, bench


def test_split_keeps_classes_whole_and_is_seeded():
    cells = np.arange(15625)
    sel = split_halves(cells, 0)
    reps = np.asarray(representatives())
    assert not set(reps[sel]) & set(reps[~sel])  # no class straddles the halves
    assert abs(int(sel.sum()) - 15625 / 2) < 50
    assert (split_halves(cells, 0) == sel).all() and not (split_halves(cells, 1) == sel).all()


def test_reduced_search_is_deterministic_and_honest(inputs):
    frame, bench = _load(inputs)
    config = SelectConfig(max_size=3, bootstrap=20, singles=2)
    record = select_ensemble(frame, bench, config)
    assert record == select_ensemble(frame, bench, config)  # same seed, same record
    assert record["search"]["subsets_searched"] == 6 + 4
    assert record["search"]["candidates_scored"] == 10 * len(config.aggregations)
    assert "mean_rank" not in config.aggregations
    assert record["split"]["selection_cells"] + record["split"]["heldout_cells"] == CELLS

    # brute force: the selected candidate has the highest tau on the selection half
    wide = frame.pivot(index="index", columns="proxy", values="value").sort_index()
    hib = {"a": True, "b": False, "c": True, "d": True}
    sel = split_halves(wide.index.to_numpy(), 0)
    acc = bench.loc[wide.index, METRIC].to_numpy()

    def tau(members, agg, mask):
        score = aggregate(
            agg, [wide[m].to_numpy()[mask] for m in members], [hib[m] for m in members]
        )
        t = stats.kendalltau(score, acc[mask]).statistic
        return t if AGGREGATIONS.get(agg).higher_is_better else -t

    best = max(
        (tau(m, agg, sel), m, agg)
        for k in (2, 3)
        for m in itertools.combinations("abcd", k)
        for agg in config.aggregations
    )
    chosen = record["selected"]
    assert chosen["selection_tau"] == pytest.approx(best[0])
    assert tuple(chosen["ensemble"]["members"]) == best[1]
    assert chosen["ensemble"]["kind"] == "selected"
    # held-out figures: the other half only, ranks re-taken there
    held = {(f["entry"], f["metric"]): f for f in record["figures"] if f["half"] == "heldout"}
    members, agg = chosen["ensemble"]["members"], chosen["ensemble"]["aggregation"]
    assert held[("selected", METRIC)]["kendall_tau"] == pytest.approx(tau(members, agg, ~sel))
    assert held[("selected", METRIC)]["n"] == int((~sel).sum())
    lo, hi = (
        held[("selected", METRIC)]["kendall_tau_lo"],
        held[("selected", METRIC)]["kendall_tau_hi"],
    )
    assert lo <= held[("selected", METRIC)]["kendall_tau"] <= hi
    entries = [e["entry"] for e in record["entries"]]
    assert entries[0] == "selected" and "all" in entries and len(entries) == 1 + 1 + 2
    assert record["selected"]["seconds_per_cell"] == pytest.approx(0.1 * len(members))


def test_select_cli_writes_a_record_usable_by_name(inputs, tmp_path):
    out = tmp_path / "ens"
    base = ["--bench", str(inputs / "nb201_accuracy.csv"), "--accept-partial"]
    result = CliRunner().invoke(
        cli,
        ["ensemble", "select", "--results", str(inputs / "sweep.csv"), *base]
        + ["--max-size", "2", "--bootstrap", "0", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "selection.json").read_text())
    assert record["inputs"]["results"][0].endswith("sweep.csv")
    assert "# Ensemble selection" in (out / "selection.md").read_text()
    corr = CliRunner().invoke(
        cli,
        ["correlate", "--results", str(inputs / "sweep.csv"), *base, "--bootstrap", "0"]
        + ["--json", "--ensembles", str(out / "selection.json")],
    )
    assert corr.exit_code == 0, corr.output
    kinds = {r["label"]: r["kind"] for r in json.loads(corr.stdout)}
    assert kinds["selected/bench"] == "selected ensemble"
    bad = CliRunner().invoke(
        cli,
        ["ensemble", "select", "--results", str(inputs / "sweep.csv"), *base, "--max-size", "1"],
    )
    assert bad.exit_code == 2 and "at least 2" in bad.stderr


@pytest.mark.slow
def test_committed_selection_is_reproduced(tmp_path, monkeypatch):
    """The full default protocol on the committed results rewrites the committed record exactly."""
    committed = REPO / "results" / "nb201" / "ensembles"
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    result = CliRunner().invoke(cli, ["ensemble", "select", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("selection.json", "selection.md"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name
