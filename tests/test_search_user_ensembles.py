"""`harness search --ensembles FILE`: a user's ensembles drive TE-NAS's pruning (`--indicators`) and
the baselines (`--proxy`) by name, records keep their definition, and the names live only as long
as the command."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import cli
from harness.ensembles import get_ensemble, load_ensembles, user_ensembles
from harness.errors import InputError
from search import records
from search.algorithms import comparable_identity
from search.baselines import BaselineConfig
from search.runs import SearchSpec, resolve_settings
from search.tenas.indicators import IndicatorConfig


def _toml(path, aggregation="normal_score_sum"):
    path.write_text(
        f'[ensembles.mine]\nmembers = ["synflow", "jacob_cov"]\naggregation = "{aggregation}"\n'
    )
    return path


def _search(*args):
    return CliRunner().invoke(cli, ["search", *map(str, args)])


def test_a_user_ensemble_drives_the_pruning_with_its_own_aggregation(tmp_path):
    mine = load_ensembles(_toml(tmp_path / "e.toml"))
    with user_ensembles(mine):
        settings = resolve_settings("tenas", "nb201", "cifar10", {"indicators": "mine"})
        spec = SearchSpec("tenas", "nb201", "cifar10", 0, settings)
    assert isinstance(settings, IndicatorConfig)
    assert settings.members == ("synflow", "jacob_cov")
    assert settings.aggregation == "normal_score_sum"  # the file's, not the rank_sum of a list
    assert spec.run_name == "tenas-mine"
    assert spec.method == "TE-NAS (ours) by mine (synflow+jacob_cov, normal_score_sum)"
    with pytest.raises(InputError, match="unknown ensemble 'mine'"):
        get_ensemble("mine")  # gone with the block


def test_best_of_n_by_a_user_ensemble_records_it_resumes_and_refuses_a_changed_file(tmp_path):
    toml, out = _toml(tmp_path / "e.toml"), tmp_path / "runs"
    common = ("--algo", "best-of-n", "--n", "3", "--proxy", "mine", "--seeds", "0", "--out", out)
    first = _search(*common, "--ensembles", toml, "--json", "--quiet", "--threads", "1")
    assert first.exit_code == 0, first.output
    (doc,) = json.loads(first.output)
    ensemble = doc["identity"]["settings"]["ensemble"]
    assert (ensemble["members"], ensemble["aggregation"]) == (
        ["synflow", "jacob_cov"],
        "normal_score_sum",
    )
    assert doc["method"] == "best-of-3 mine (synflow+jacob_cov, normal_score_sum) (bench profile)"
    assert all({"value_synflow", "value_jacob_cov"} <= set(h) for h in doc["history"])
    assert records.run_dir(out, "nb201", "cifar10", "best-of-n-mine-bench", 0).is_dir()
    again = _search(*common, "--ensembles", toml, "--quiet")
    assert again.exit_code == 0 and "already done" in again.output
    changed = _search(*common, "--ensembles", _toml(toml, "rank_sum"), "--quiet")
    assert changed.exit_code == 2 and "--force" in changed.output  # same name, other ensemble
    with pytest.raises(InputError):
        get_ensemble("mine")  # the command's names did not outlive it


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--algo", "random"], "--ensembles names ensembles for --indicators"),
        (["--algo", "tenas", "--indicators", "theirs"], "'theirs' is neither"),
    ],
)
def test_bad_ensembles_use_is_one_line_exit_2(args, needle, tmp_path):
    result = _search(*args, "--ensembles", _toml(tmp_path / "e.toml"), "--out", tmp_path)
    assert result.exit_code == 2 and needle in result.output, result.output
    missing = _search("--algo", "tenas", "--ensembles", tmp_path / "nope.toml", "--out", tmp_path)
    assert missing.exit_code == 2 and "not found" in missing.output
    clash = tmp_path / "clash.toml"
    clash.write_text('[ensembles.az_nas]\nmembers = ["synflow", "zen"]\naggregation = "rank_sum"\n')
    result = _search("--algo", "tenas", "--ensembles", clash, "--out", tmp_path)
    assert result.exit_code == 2 and "built-in name" in result.output


def test_records_written_before_the_ensemble_setting_existed_still_resume():
    settings = BaselineConfig(proxy="naswot").resolved("best-of-n")
    assert settings.ensemble is None  # proxies and built-in ensembles record no definition
    new = {"algo": "best-of-n", "settings": vars(settings)}
    old = {
        "algo": "best-of-n",
        "settings": {k: v for k, v in vars(settings).items() if k != "ensemble"},
    }
    assert comparable_identity(new) == comparable_identity(old)
