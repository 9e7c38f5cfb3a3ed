"""reports.io and reports.search_runs: reading exports, stores and search results."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from harness.errors import DataNotFoundError, InputError
from harness.spaces import nb201
from reports.build import REPORT_METRICS
from harness.exports import configs_sidecar, write_export
from reports.io import RESULT_COLUMNS, load_results, resolve_metrics
from reports.search_runs import load_search_runs


def export_frame(proxy="params", n=5, config_hash="c1", hib=True) -> pd.DataFrame:
    """Rows in the runner's export contract, with every status represented."""
    statuses = ["ok", "nan", "inf", "error", "ok"][:n]
    return pd.DataFrame(
        {
            "space": "nb201",
            "index": range(n),
            "arch_str": [str(nb201.Nb201Arch.from_index(i)) for i in range(n)],
            "proxy": proxy,
            "profile": "bench",
            "dataset": "cifar10",
            "value": [1.5 if s == "ok" else np.nan for s in statuses],
            "status": statuses,
            "message": ["" if s != "error" else "RuntimeError: boom" for s in statuses],
            "seconds": 0.1,
            "repeats": 3,
            "higher_is_better": hib,
            "config_hash": config_hash,
            "filled_from": [""] * (n - 1) + [0],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_round_trip_with_sidecar(tmp_path, suffix):
    path = tmp_path / f"sweep{suffix}"
    frame = export_frame()
    if suffix == ".parquet":
        frame.assign(filled_from=pd.array([pd.NA] * 4 + [0], dtype="Int64")).to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    configs_sidecar(path).write_text(json.dumps({"c1": {"profile": {"name": "bench"}}}))
    assert configs_sidecar(path).name == "sweep.configs.json"
    got, configs = load_results([path])
    assert configs == {"c1": {"profile": {"name": "bench"}}}
    assert list(got.columns) == [*RESULT_COLUMNS, "source"]
    assert list(got["status"]) == ["ok", "nan", "inf", "error", "ok"]  # the word "nan" is a status
    assert got["value"].isna().tolist() == [False, True, True, True, False]
    assert got["filled_from"].isna().tolist() == [True] * 4 + [False]
    assert got["higher_is_better"].tolist() == [True] * 5


def test_merge_drops_repeated_rows_and_keeps_configs(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_export(export_frame(), a, {})
    pd.concat([export_frame(), export_frame("snip", config_hash="c2", hib=False)]).to_csv(
        b, index=False
    )
    (tmp_path / "b.configs.json").write_text(json.dumps({"c2": {"x": 1}}))
    got, configs = load_results([a, b])
    assert len(got) == 10 and got.attrs["duplicates_dropped"] == 5
    assert configs == {"c2": {"x": 1}}
    assert got.groupby("proxy")["source"].first().to_dict() == {"params": str(a), "snip": str(b)}


def test_one_configuration_read_from_two_places_merges(tmp_path):
    """Runs of one configuration differ in what is not hashed (environment, where the images were
    read from); a changed hashed setting under the same hash is an error."""
    config = {
        "profile": {"name": "bench"},
        "data": {"checksum": "ab", "source": "images/x.npz", "origin": "embedded"},
        "environment": {"host": "a"},
    }
    moved = {**config, "data": {**config["data"], "origin": "cache"}, "environment": {"host": "b"}}
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_export(export_frame(), a, {"c1": config})
    write_export(export_frame("snip"), b, {"c1": moved})
    _, configs = load_results([a, b])
    assert configs == {"c1": config}  # the first file's record
    edited = {**config, "profile": {"name": "tenas"}}
    write_export(export_frame("snip"), b, {"c1": edited})
    with pytest.raises(InputError, match="config hash 'c1' maps to two different configurations"):
        load_results([a, b])


def test_bad_inputs_raise_input_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found"):
        load_results([tmp_path / "missing.csv"])
    with pytest.raises(InputError, match="is a folder"):
        load_results([tmp_path])
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(InputError, match=r"unsupported results file .*x\.txt"):
        load_results([tmp_path / "x.txt"])
    short = tmp_path / "short.csv"
    write_export(export_frame().drop(columns=["status", "seconds"]), short, {})
    with pytest.raises(InputError, match="lacks column"):
        load_results([short])
    odd = tmp_path / "odd.csv"
    write_export(export_frame().assign(status="weird"), odd, {})
    with pytest.raises(InputError, match="unknown status 'weird'"):
        load_results([odd])
    with pytest.raises(InputError, match="no results files"):
        load_results([])


def test_store_without_reader_says_how_to_proceed(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "harness.store", None)  # import of it now fails
    with pytest.raises(InputError, match="harness export"):
        load_results([path])


def test_reads_a_results_store(tmp_path):
    store = pytest.importorskip(
        "harness.store", reason="the results store module is not in this checkout"
    )
    path = tmp_path / "runs.sqlite"
    config = {"profile": {"name": "tenas"}, "data": {"dataset": "cifar10"}}
    with store.ResultStore(path) as s:
        digest = s.add_config(config)
        s.add_proxies([{"name": "ntk_cond", "direction": "lower"}])
        arch = str(nb201.Nb201Arch.from_index(7))
        s.write_rows(
            digest,
            "nb201",
            [
                store.ResultRow(7, arch, "ntk_cond", r, 10.0 + r, "ok", seconds=0.5)
                for r in range(3)
            ],
            None,
        )
    got, configs = load_results([path])
    assert configs[digest] == config
    row = got.iloc[0]
    assert (
        row["index"],
        row["value"],
        row["repeats"],
        row["profile"],
        row["higher_is_better"],
    ) == (7, 11.0, 3, "tenas", False)


def test_resolve_metrics():
    assert resolve_metrics(None) == ["cifar10-valid/x-valid@200"]
    assert resolve_metrics("all") == [
        "cifar10-valid/x-valid@200",
        "cifar100/x-test@200",
        "ImageNet16-120/x-test@200",
    ]
    assert resolve_metrics("cifar10", ["cifar10/ori-test@200"]) == ["cifar10/ori-test@200"]
    keys = REPORT_METRICS
    assert keys == (
        "cifar10-valid/x-valid@200",
        "cifar10/ori-test@200",
        "cifar100/x-test@200",
        "ImageNet16-120/x-test@200",
    )
    assert (
        resolve_metrics(None, report_keys=keys)
        == resolve_metrics("all", report_keys=keys)
        == list(keys)
    )
    assert resolve_metrics("cifar10", report_keys=keys) == list(keys[:2])
    assert resolve_metrics("ImageNet16-120", report_keys=keys) == [keys[3]]
    with pytest.raises(InputError, match="unknown dataset 'mnist'"):
        resolve_metrics("mnist")


def test_search_runs_from_a_folder_tree(tmp_path):
    for seed in (0, 1):
        run = tmp_path / "nb201" / f"seed{seed}"
        run.mkdir(parents=True)
        rounds = [
            {"round": r, "kappa": 100.0 / (r + 1), "regions": 50.0 * (r + 1), "active_ops": 4 - r}
            for r in range(3)
        ]
        (run / "result.json").write_text(
            json.dumps({"rounds": rounds, "seed": seed, "space": "nb201"})
        )
    baseline = tmp_path / "nb201" / "random" / "result.json"  # a baseline search: no trajectory
    baseline.parent.mkdir()
    baseline.write_text(json.dumps({"arch_str": "x", "seed": 0}))
    runs = load_search_runs([tmp_path])
    assert sorted(runs["run"].unique()) == ["nb201/seed0", "nb201/seed1"]
    assert runs.groupby("run")["round"].apply(list).tolist() == [[0, 1, 2], [0, 1, 2]]
    assert set(runs["space"]) == {"nb201"}
    assert len(runs.attrs["skipped"]) == 1 and "random" in runs.attrs["skipped"][0]
    with pytest.raises(InputError, match="no 'rounds' list"):
        load_search_runs([baseline])  # named explicitly: must have a trajectory
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rounds": [{"round": 0, "kappa": 1.0}]}))
    with pytest.raises(InputError, match="lacks regions"):
        load_search_runs([bad])
    only_baselines = tmp_path / "nb201" / "random"
    with pytest.raises(InputError, match="no search result with a pruning trajectory"):
        load_search_runs([only_baselines])
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="no result.json"):
        load_search_runs([tmp_path / "nothing"])
    with pytest.raises(DataNotFoundError):
        load_search_runs([tmp_path / "absent"])


def test_per_repeat_export_is_aggregated_like_the_store(tmp_path):
    from harness.store import ResultRow, ResultStore, read_results

    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    store = tmp_path / "s.sqlite"
    with ResultStore(store) as s:
        digest = s.add_config({"profile": {"name": "tenas"}, "data": {"dataset": "cifar10"}})
        s.add_proxies([{"name": "ntk_cond", "direction": "lower"}])
        s.write_rows(
            digest,
            "nb201",
            [ResultRow(3, arch, "ntk_cond", r, v, "ok") for r, v in enumerate((1.0, 2.0, 6.0))],
            None,
        )
    table = tmp_path / "x.csv.gz"
    read_results(store, per_repeat=True).to_csv(table, index=False)
    (tmp_path / "x.configs.json").write_text("{}")
    frame, _ = load_results([table])
    assert len(frame) == 1 and frame.loc[0, "value"] == 3.0 and frame.loc[0, "repeats"] == 3
