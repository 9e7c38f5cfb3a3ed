"""`harness search`: exit codes and one-line messages for bad input, run folders and records,
resuming, and the leaderboard written from the runs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import cli
from search import records


def _run(*args):
    return CliRunner().invoke(cli, ["search", *map(str, args)])


def _one_error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--algo", "tenass"], "unknown algorithm 'tenass'. Did you mean 'tenas'?"),
        (["--algo", "tenas", "--space", "nb101"], "unknown space 'nb101'"),
        (["--algo", "random", "--space", "darts"], "--space darts supports --algo tenas only"),
        (
            ["--algo", "tenas", "--dataset", "cifar1O"],
            "unknown dataset 'cifar1O'. Did you mean 'cifar10'?",
        ),
        (["--algo", "tenas", "--seeds", "0-"], "invalid seed spec '0-'"),
        (["--algo", "tenas", "--seeds", "4-1"], "runs backwards"),
        (["--algo", "tenas", "--seeds", "a"], "invalid seed spec 'a'"),
        (["--algo", "random", "--batch-size", "8"], "--batch-size applies to --algo tenas only"),
        (["--algo", "random", "--fixed-inputs"], "--fixed-inputs applies to --algo tenas only"),
        (
            ["--algo", "tenas", "--proxy", "naswot"],
            "--proxy applies to --algo best-of-n / evolution only",
        ),
        (
            ["--algo", "best-of-n", "--budget", "5", "--proxy", "naswot"],
            "--budget applies to --algo evolution only",
        ),
        (["--algo", "best-of-n"], "--algo best-of-n needs --proxy NAME"),
        (["--algo", "evolution", "--proxy", "nasw0t"], "unknown proxy 'nasw0t'"),
        (["--algo", "evolution", "--proxy", "params,synflow"], "unknown proxy 'params,synflow'"),
        (["--algo", "tenas", "--init", "xavier"], "unknown init 'xavier'"),
        (["--algo", "tenas", "--repeats", "0"], "repeats must be a positive integer"),
        (["--algo", "tenas", "--device", "tpu"], "invalid --device 'tpu'"),
        ([], "--algo is required"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, tmp_path):
    result = _run(*args, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert needle in _one_error_line(result)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.data
def test_cifar100_without_official_files_says_what_is_missing(tmp_path, shared_data):
    result = _run(
        "--algo", "random", "--dataset", "cifar100", "--data-dir", shared_data, "--out", tmp_path
    )
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "CIFAR-100" in line and "cifar-100-python" in line
    assert not any(tmp_path.iterdir())


def test_random_runs_write_records_resume_and_feed_the_leaderboard(tmp_path):
    result = _run("--algo", "random", "--seeds", "0-2", "--out", tmp_path, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    docs = json.loads(result.output)
    assert [d["seed"] for d in docs] == [0, 1, 2]
    for doc in docs:
        folder = records.run_dir(tmp_path, "nb201", "cifar10", "random", doc["seed"])
        assert {p.name for p in folder.iterdir()} == {"result.json", "config.json", "log.txt"}
        assert set(doc["accuracies"]) == set(records.ACCURACY_KEYS)
        assert doc["arch_str"] and 0 <= doc["index"] < 15625
        assert doc["schema"] == records.SCHEMA and doc["torch_version"] and doc["device"] == "cpu"
        for name in ("config.json", "result.json"):  # --out was absolute: no machine path kept
            assert str(tmp_path) not in (folder / name).read_text(), name
    again = _run("--algo", "random", "--seeds", "1", "--out", tmp_path)
    assert again.exit_code == 0 and "already done" in again.output
    # the leaderboard alone, twice: identical bytes, our row and the quoted paper rows
    for _ in range(2):
        board = _run("--leaderboard", "--out", tmp_path, "--leaderboard-dir", tmp_path / "lb")
        assert board.exit_code == 0, board.output
    csv_text = (tmp_path / "lb" / "leaderboard.csv").read_text()
    md_text = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "random" in csv_text and "quoted: paper" in csv_text
    assert "| random | ours | cifar10 | 3 |" in md_text and "93.90 ± 0.47" in md_text
    board = _run("--leaderboard", "--out", tmp_path, "--leaderboard-dir", tmp_path / "lb")
    assert (tmp_path / "lb" / "leaderboard.csv").read_text() == csv_text


def test_same_folder_other_settings_is_refused(tmp_path):
    assert _run("--algo", "random", "--seeds", "0", "--out", tmp_path, "--quiet").exit_code == 0
    path = records.run_dir(tmp_path, "nb201", "cifar10", "random", 0) / "result.json"
    doc = json.loads(path.read_text())
    doc["identity"]["settings"]["n"] = 7  # as if written with other settings
    path.write_text(json.dumps(doc))
    result = _run("--algo", "random", "--seeds", "0", "--out", tmp_path, "--quiet")
    assert result.exit_code == 2 and "--force" in _one_error_line(result)
    assert (
        _run("--algo", "random", "--seeds", "0", "--out", tmp_path, "--quiet", "--force").exit_code
        == 0
    )


def test_leaderboard_without_runs_is_an_input_error(tmp_path):
    result = _run("--leaderboard", "--out", tmp_path)
    assert result.exit_code == 2 and "no search runs" in _one_error_line(result)


def test_parse_seeds():
    assert records.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert records.parse_seeds("3") == [3]
    assert records.parse_seeds("0,2,7-9,2") == [0, 2, 7, 8, 9]


def test_resume_ignores_speed_only_settings():
    from search.algorithms import comparable_identity as _comparable

    a = {
        "algo": "tenas",
        "seed": 0,
        "settings": {"batch_size": 72, "ntk_engine": "oracle", "trajectory": True},
    }
    b = {
        "algo": "tenas",
        "seed": 0,
        "settings": {"batch_size": 72, "ntk_engine": "graph", "trajectory": True},
    }
    c = {
        "algo": "tenas",
        "seed": 0,
        "settings": {"batch_size": 8, "ntk_engine": "oracle", "trajectory": True},
    }
    assert _comparable(a) == _comparable(b) and _comparable(a) != _comparable(c)


def test_search_spaces_are_registered_spaces_and_resolve_their_official_settings():
    from harness.spaces.registry import SPACES
    from search.algorithms import ALGORITHMS
    from search.runs import SearchSpec, resolve_settings
    from search.spaces import SEARCH_SPACES

    assert set(SEARCH_SPACES.names()) <= set(SPACES.names())
    assert all(set(a.spaces) <= set(SEARCH_SPACES.names()) for a in ALGORITHMS)
    for adapter in SEARCH_SPACES:
        for dataset, official in adapter.tenas_defaults.items():
            settings = resolve_settings("tenas", adapter.name, dataset)
            assert {k: getattr(settings, k) for k in official} == official
            spec = SearchSpec("tenas", adapter.name, dataset, 0, settings)
            assert spec.method == "TE-NAS (ours)"
            changed = resolve_settings("tenas", adapter.name, dataset, {"repeats": 1})
            assert SearchSpec("tenas", adapter.name, dataset, 0, changed).method == (
                "TE-NAS (ours) [repeats=1]"
            )


def test_a_search_adapter_must_name_a_registered_space():
    from search.adapter import SearchAdapter
    from search.spaces import register_search_space

    class Nb101Search(SearchAdapter):
        name = "nb101"

    with pytest.raises(ValueError, match="'nb101' names no registered space"):
        register_search_space(Nb101Search())


def test_help_reads_the_official_values_from_the_settings():
    from search.baselines import BaselineConfig
    from search.tenas import TenasConfig

    text = " ".join(_run("--help").output.split())
    assert "NTK batch, images (official: 72 nb201; darts 14 cifar10, 24 imagenet)" in text
    assert "(official: 1 nb201; darts 3 cifar10, 2 imagenet)" in text
    assert f"crops per linear-region batch (official {TenasConfig().lr_samples})" in text
    assert f"tournament size (default {BaselineConfig().sample_size})" in text
    assert "Search space: nb201 | darts (darts: --algo tenas only)." in text
