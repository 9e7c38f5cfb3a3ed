"""Search leaderboard from hand-made result records: statistics, quoted paper rows, files."""

from __future__ import annotations

import pandas as pd
import pytest

from search import records
from search.leaderboard import (
    build_search_leaderboard,
    load_results_frame,
    write_search_leaderboard,
)


def _doc(method, seed, c10, c100, in16, seconds=10.0, device="cpu", dataset="cifar10"):
    return {
        "schema": records.SCHEMA,
        "space": "nb201",
        "dataset": dataset,
        "algo": "x",
        "method": method,
        "seed": seed,
        "arch_str": "|a~0|",
        "index": seed,
        "accuracies": {
            "cifar10/ori-test@200": c10,
            "cifar100/x-test@200": c100,
            "ImageNet16-120/x-test@200": in16,
            "cifar10-valid/x-valid@200": c10 - 3,
        },
        "search_seconds": seconds,
        "proxy_evaluations": {"total": 4 * seed},
        "device": device,
    }


@pytest.fixture
def run_root(tmp_path):
    docs = [
        _doc("TE-NAS (ours)", 0, 93.0, 70.0, 41.0, 100.0),
        _doc("TE-NAS (ours)", 1, 94.0, 72.0, 43.0, 300.0),
        _doc("random", 0, 80.0, 50.0, 20.0, 0.0),
        _doc("random", 1, 90.0, 60.0, 30.0, 0.0),
        _doc("random", 2, 85.0, 55.0, 25.0, 0.0),
    ]
    for d in docs:
        name = "tenas" if d["method"].startswith("TE") else "random"
        records.write_json(
            records.run_dir(tmp_path, "nb201", "cifar10", name, d["seed"]) / "result.json", d
        )
    (tmp_path / "stray.json").write_text("{}")  # not a result.json: ignored
    return tmp_path


def test_mean_and_sample_std_per_method(run_root):
    board = build_search_leaderboard(load_results_frame([run_root]))
    ours = board[board["source"] == "ours"].set_index("method")
    assert list(ours.index) == ["TE-NAS (ours)", "random"]  # by CIFAR-10 mean, descending
    tenas = ours.loc["TE-NAS (ours)"]
    assert tenas["seeds"] == 2 and tenas["seed_list"] == "0 1"
    assert tenas["cifar10_test_mean"] == pytest.approx(93.5)
    assert tenas["cifar10_test_std"] == pytest.approx(pd.Series([93.0, 94.0]).std())  # ddof=1
    assert tenas["cifar100_test_mean"] == pytest.approx(71.0)
    assert tenas["imagenet16_test_std"] == pytest.approx(2**0.5)
    assert tenas["search_seconds_mean"] == pytest.approx(200.0) and tenas["cost_unit"] == "CPU s"
    assert tenas["proxy_evaluations_mean"] == pytest.approx(2.0)
    assert ours.loc["random", "cifar10_test_std"] == pytest.approx(5.0)


def test_quoted_rows_are_the_papers_and_marked(run_root):
    board = build_search_leaderboard(load_results_frame([run_root]))
    quoted = board[board["source"] == "quoted: paper"].set_index("method")
    assert list(quoted.index) == ["TE-NAS", "NASWOT", "ResNet", "optimum"]
    assert quoted.loc[
        "TE-NAS",
        [
            "cifar10_test_mean",
            "cifar10_test_std",
            "cifar100_test_mean",
            "imagenet16_test_mean",
            "search_seconds_mean",
        ],
    ].tolist() == [93.9, 0.47, 71.24, 42.38, 1558.0]
    assert quoted.loc["NASWOT", "imagenet16_test_std"] == 6.39
    assert quoted.loc["optimum", "cifar100_test_mean"] == 73.51 and pd.isna(
        quoted.loc["optimum", "cifar100_test_std"]
    )
    assert quoted.loc["ResNet", "cifar10_test_mean"] == 93.97


def test_files_are_deterministic_and_readable(run_root, tmp_path):
    board = build_search_leaderboard(load_results_frame([run_root]))
    first = write_search_leaderboard(board, tmp_path / "a")
    second = write_search_leaderboard(
        build_search_leaderboard(load_results_frame([run_root])), tmp_path / "b"
    )
    assert first["csv"].read_bytes() == second["csv"].read_bytes()
    assert first["md"].read_bytes() == second["md"].read_bytes()
    back = pd.read_csv(first["csv"])
    assert len(back) == 6 and back.loc[0, "method"] == "TE-NAS (ours)"
    md = first["md"].read_text()
    assert (
        "| TE-NAS (ours) | ours | cifar10 | 2 | 93.50 ± 0.71 | 71.00 ± 1.41 | 42.00 ± 1.41 | 200 CPU s | 2 |"
        in md
    )
    assert (
        "| TE-NAS | quoted: paper | cifar10 | – | 93.90 ± 0.47 | 71.24 ± 0.56 | 42.38 ± 0.46 | 1558 GPU s (1080Ti) | – |"
        in md
    )
    assert "tenas-spec.md §14.1" in md


def test_single_seed_has_no_std(tmp_path):
    d = _doc("random", 4, 88.0, 60.0, 30.0)
    records.write_json(tmp_path / "r" / "result.json", d)
    board = build_search_leaderboard(load_results_frame([tmp_path]), quoted=False)
    assert len(board) == 1 and pd.isna(board.loc[0, "cifar10_test_std"])


@pytest.mark.parametrize("folder", ["search", "search/screen"])
def test_committed_search_leaderboard_regenerates_from_the_committed_runs(tmp_path, folder):
    """results/search/leaderboard.{csv,md} (and the pruning-ensemble screen's) are exactly what the
    committed run records give, and the README's search table is that leaderboard (the
    reproducibility promise of results/search/README.md)."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    committed = repo / "results" / folder
    board = build_search_leaderboard(load_results_frame([committed / "runs" / "nb201" / "cifar10"]))
    written = write_search_leaderboard(board, tmp_path)
    for kind in ("csv", "md"):
        assert written[kind].read_bytes() == (committed / written[kind].name).read_bytes(), written[
            kind
        ].name
    table = "\n".join(
        line for line in written["md"].read_text().splitlines() if line.startswith("|")
    )
    if folder == "search":
        assert table in (repo / "README.md").read_text(), "README's search table is stale"
