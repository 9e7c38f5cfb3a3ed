"""Baselines: seeded reproducibility, best-of-N picks the proxy's best of its sample, evolution
keeps to its budget, and the TE-NAS rank sum as a best-of-N score."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data import load_images
from harness.errors import InputError
from sweep.profiles import get_profile
from sweep.scoring import CellScorer
from harness.spaces.nb201 import Nb201Arch
from harness.spaces.nb201_net import param_count
from proxies.combined import tenas_score
from search.baselines import (
    BaselineConfig,
    ProxyEvaluator,
    best_of_n,
    evolution,
    make_evaluator,
    mutate,
    random_search,
)


@pytest.fixture(scope="module")
def images():
    return load_images("cifar10", "train", source="npz", limit=256)


def test_random_search_is_seeded():
    assert random_search(4).arch == random_search(4).arch
    assert len({random_search(s).arch for s in range(10)}) > 1
    assert random_search(4).counts["proxy_evaluations"] == 0


def test_best_of_n_picks_the_largest_param_count_of_its_sample(images):
    # the tenas profile scores the C=3, N=1 NTK network: cheap to build, exact known answer
    config = BaselineConfig(proxy="params", profile="tenas", n=12).resolved("best-of-n")
    out = best_of_n(config, make_evaluator(config, images, seed=2), seed=2)
    sampled = [Nb201Arch.from_str(h["arch_str"]) for h in out.history]
    expected = [param_count(a, C=3, N=1) / 1e6 for a in sampled]
    assert [h["score"] for h in out.history] == pytest.approx(expected)
    assert out.arch == sampled[int(np.argmax(expected))]  # first of the maxima
    assert len({a.index for a in sampled}) == 12
    assert out.counts["proxy_evaluations"] == 12 * 3  # the tenas profile has 3 repeats
    again = best_of_n(config, make_evaluator(config, images, seed=2), seed=2)
    assert [h["index"] for h in again.history] == [h["index"] for h in out.history]


def test_best_of_n_lower_is_better_proxy_picks_the_minimum(images):
    # ntk_cond is lower-better: use a tiny TE-NAS profile so the test stays fast
    profile = get_profile("tenas", batch_size=4, repeats=1, patch_batches=1, patch_batch_size=32)
    evaluator = ProxyEvaluator(CellScorer(profile, ["ntk_cond"], images), ["ntk_cond"], 1)
    config = BaselineConfig(proxy="ntk_cond", profile="tenas", n=3).resolved("best-of-n")
    out = best_of_n(config, evaluator, seed=0)
    scores = [np.inf if h["score"] is None else h["score"] for h in out.history]
    assert out.arch.index == out.history[int(np.argmin(scores))]["index"]


def test_best_of_n_tenas_is_the_rank_sum_minimum(images):
    profile = get_profile("tenas", batch_size=4, repeats=1, patch_batches=1, patch_batch_size=32)
    names = ["ntk_cond", "linear_regions"]
    evaluator = ProxyEvaluator(CellScorer(profile, names, images), names, 1)
    config = BaselineConfig(proxy="tenas", n=4).resolved("best-of-n")
    assert config.profile == "tenas"
    out = best_of_n(config, evaluator, seed=1)
    kappa = [np.nan if h["value_ntk_cond"] is None else h["value_ntk_cond"] for h in out.history]
    regions = [h["value_linear_regions"] for h in out.history]
    score = tenas_score(kappa, regions)
    assert out.arch.index == out.history[int(np.nanargmin(score))]["index"]
    assert out.counts["proxy_evaluations"] == 8  # 4 cells x 2 proxies x 1 repeat


def test_evolution_spends_exactly_its_budget_and_returns_the_best_queried(images):
    config = BaselineConfig(
        proxy="params", profile="tenas", budget=15, population=5, sample_size=3
    ).resolved("evolution")
    out = evolution(config, make_evaluator(config, images, seed=5), seed=5)
    assert len(out.history) == 15 and out.counts["fitness_queries"] == 15
    assert out.counts["unique_cells"] <= 15
    assert (
        out.counts["proxy_evaluations"] == 3 * out.counts["unique_cells"]
    )  # re-queries come from the cache
    assert all(h["parent"] is None for h in out.history[:5])
    assert all(h["parent"] is not None for h in out.history[5:])
    values = [h["value"] for h in out.history]
    assert param_count(out.arch, C=3, N=1) / 1e6 == pytest.approx(max(values))
    again = evolution(config, make_evaluator(config, images, seed=5), seed=5)
    assert [h["index"] for h in again.history] == [h["index"] for h in out.history]


def test_mutation_changes_exactly_one_edge():
    rng = np.random.default_rng(0)
    arch = Nb201Arch.from_index(123)
    for _ in range(50):
        child = mutate(arch, rng)
        assert sum(a != b for a, b in zip(arch.ops, child.ops)) == 1


def test_baseline_settings_are_checked():
    with pytest.raises(InputError, match="--proxy"):
        BaselineConfig().resolved("best-of-n")
    with pytest.raises(InputError, match="Did you mean 'naswot'"):
        BaselineConfig(proxy="naswt").resolved("best-of-n")
    # an ensemble is a population-level fitness for evolution too (ranked among the seen cells)
    assert BaselineConfig(proxy="tenas").resolved("evolution").profile == "tenas"
    assert BaselineConfig(proxy="selected").resolved("evolution").profile == "bench"
    with pytest.raises(InputError, match="sample-size"):
        BaselineConfig(proxy="params", population=3, sample_size=4).resolved("evolution")
    with pytest.raises(InputError, match="--n"):
        BaselineConfig(proxy="params", n=0).resolved("best-of-n")
    assert BaselineConfig(proxy="naswot").resolved("best-of-n").profile == "bench"
    assert BaselineConfig(proxy="ntk_cond").resolved("evolution").profile == "tenas"


def test_baseline_ntk_engine_and_seeds_reach_the_profile():
    config = BaselineConfig(proxy="ntk_cond", ntk_engine="oracle").resolved("best-of-n")
    profile = config.profile_for_seed(3)
    assert (profile.ntk_engine, profile.data_seed, profile.weight_seed) == ("oracle", 3, 3000)
    assert (
        BaselineConfig(proxy="ntk_cond").resolved("best-of-n").profile_for_seed(0).ntk_engine
        == "graph"
    )
    with pytest.raises(InputError, match="NTK engine"):
        BaselineConfig(proxy="ntk_cond", ntk_engine="fast").resolved("best-of-n")
