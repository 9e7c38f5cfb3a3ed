"""TE-NAS pruning driven by other indicators (`--indicators`), and baselines scored by an ensemble:
the default stays TE-NAS's own path, ensembles expand with their aggregation, non-qualifying
proxies are refused, and a round on a tiny supernet ranks candidates as computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import cli
from harness.errors import InputError
from search.baselines import BaselineConfig, best_of_n, evolution, population_fitness
from search.runs import SearchSpec, resolve_settings
from search.tenas import TenasConfig, TenasMeter, initial_masks, rank_candidates, round_to
from search.tenas.indicator_round import (
    IndicatorMeter,
    frozen_masks,
    indicator_round,
    rank_by_indicators,
)
from search.tenas.indicators import (
    NOT_FORWARD,
    IndicatorConfig,
    qualifying_proxies,
    resolve_indicators,
    with_indicators,
)

QUICK = dict(batch_size=4, repeats=2, lr_samples=32, lr_batches=2, ntk_engine="oracle")


def test_default_indicators_keep_the_plain_tenas_settings_run_name_and_method():
    for names in ("ntk_cond,linear_regions", "tenas", None):
        given = {} if names is None else {"indicators": names}
        settings = resolve_settings("tenas", "nb201", "cifar10", given)
        assert type(settings) is TenasConfig
        spec = SearchSpec("tenas", "nb201", "cifar10", 0, settings)
        assert (spec.run_name, spec.method) == ("tenas", "TE-NAS (ours)")
        assert "indicators" not in settings.to_dict()  # identities of default runs unchanged
    custom = resolve_settings("tenas", "nb201", "cifar10", {"indicators": "az_nas"})
    spec = SearchSpec("tenas", "nb201", "cifar10", 0, custom)
    assert spec.run_name == "tenas-az_nas"
    assert spec.method == (
        "TE-NAS (ours) by az_nas (az_expressivity+az_progressivity+az_trainability+"
        "az_complexity, log_rank_sum)"
    )


def test_an_ensemble_expands_to_its_members_and_brings_its_aggregation():
    from harness.ensembles import get_ensemble

    az = resolve_indicators("az_nas")
    assert az.members == get_ensemble("az_nas").members  # FLOPs of the ops run qualify
    assert az.aggregation == "log_rank_sum" and az.dropped == ()
    everything = resolve_indicators("all")
    assert everything.dropped == ("l2_norm", "params") and everything.aggregation == "mean_rank"
    selected = get_ensemble("selected")
    chosen = resolve_indicators("selected")
    assert chosen.members == selected.members and chosen.aggregation == selected.aggregation
    plain = resolve_indicators("synflow,jacob_cov")
    assert plain.members == ("synflow", "jacob_cov") and plain.aggregation == "rank_sum"
    assert not plain.is_default and resolve_indicators("tenas").is_default


@pytest.mark.parametrize("name", sorted(NOT_FORWARD))
def test_a_proxy_that_counts_modules_is_refused(name):
    with pytest.raises(InputError, match=rf"'{name}'.*masked forward pass.*synflow"):
        resolve_indicators(f"synflow,{name}")
    assert name not in qualifying_proxies()


def test_the_cli_refuses_a_non_qualifying_indicator_with_exit_2_and_shows_the_default():
    result = CliRunner().invoke(cli, ["search", "--algo", "tenas", "--indicators", "params"])
    assert result.exit_code == 2, result.output
    assert "'params'" in result.output and "Accepted proxies" in result.output
    result = CliRunner().invoke(cli, ["search", "--algo", "random", "--indicators", "synflow"])
    assert result.exit_code == 2 and "--indicators applies to --algo tenas" in result.output
    help_text = " ".join(CliRunner().invoke(cli, ["search", "--help"]).output.split())
    assert "--indicators NAME" in help_text and "default: ntk_cond,linear_regions" in help_text


def test_rank_by_indicators_by_hand():
    keys = [(0, 0, 1), (0, 0, 2), (0, 1, 3)]
    changes = {
        "a": [(0.1, keys[0]), (0.3, keys[1]), (0.2, keys[2])],  # higher is better: ascending
        "b": [(0.5, keys[0]), (0.1, keys[1]), (0.9, keys[2])],  # lower is better: descending
    }
    directions = {"a": True, "b": False}
    # a: k0 0, k2 1, k1 2; b: k2 0, k0 1, k1 2 -> best-first ranks + 1 summed: k0 3, k2 3, k1 6
    ranked = rank_by_indicators(changes, directions, "rank_sum", 3)
    assert [(k, r, s) for k, r, s in ranked] == [
        (keys[0], [0, 1], 3.0),
        (keys[2], [1, 0], 3.0),
        (keys[1], [2, 2], 6.0),
    ]
    # log ranks: ln((n + 1 - rank) / n) summed, higher first
    ranked = rank_by_indicators(changes, directions, "log_rank_sum", 3)
    assert [k for k, _, _ in ranked] == [keys[0], keys[2], keys[1]]
    assert ranked[2][2] == pytest.approx(2 * math.log(1 / 3))
    # a non-finite change ranks last whatever the direction
    changes["a"][0] = (math.nan, keys[0])
    ranked = {k: r for k, r, _ in rank_by_indicators(changes, directions, "rank_sum", 3)}
    assert ranked[keys[0]] == [2, 1]


def test_rank_sum_of_kappa_and_regions_is_tenas_own_ranking():
    rng = np.random.default_rng(0)
    keys = [(0, e, op) for e in range(6) for op in range(1, 5)]
    dk = [(float(v), k) for v, k in zip(rng.choice([-0.2, 0.0, 0.1, 0.35], len(keys)), keys)]
    dr = [(float(v), k) for v, k in zip(rng.choice([0.0, 0.05, 0.1], len(keys)), keys)]
    ours = rank_by_indicators(
        {"ntk_cond": dk, "linear_regions": dr},
        {"ntk_cond": False, "linear_regions": True},
        "rank_sum",
        3,
    )
    assert [(k, r) for k, r, _ in ours] == rank_candidates(dk, dr, 3)


@pytest.mark.slow
def test_a_round_on_the_tiny_supernet_ranks_and_prunes_as_computed_by_hand(images, space):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = with_indicators(TenasConfig(**QUICK), "synflow,jacob_cov")
    assert isinstance(config, IndicatorConfig)
    meter = IndicatorMeter(TenasMeter(space, config, images, seed=0), config)
    masks, record = indicator_round(meter, initial_masks(space), config)
    rows = record["candidates"]
    assert len(rows) == 24 and meter.counts == {"synflow": 96, "jacob_cov": 96}
    for row in rows:  # the change is (origin - candidate) / |origin|, averaged over repeats
        for v in row["indicators"].values():
            by_hand = [(o - c) / abs(o) for o, c in zip(v["origin"], v["candidate"])]
            assert v["change_repeats"] == pytest.approx(by_hand)
            assert v["change"] == pytest.approx(np.mean(by_hand))
    # by hand: both higher-is-better, so rank ascending by the official 3-significant-figure key
    # (stable: measurement order on equal keys; the changes are distinct here)
    ranks = {}
    for name in ("synflow", "jacob_cov"):
        ordered = sorted(rows, key=lambda r: round_to(r["indicators"][name]["change"], 3))
        for position, row in enumerate(ordered):
            ranks.setdefault((row["edge"], row["op"]), []).append(position)
    for row in rows:
        assert [row["indicators"][n]["rank"] for n in ("synflow", "jacob_cov")] == ranks[
            (row["edge"], row["op"])
        ]
    for edge in range(6):
        on_edge = [r for r in rows if r["edge"] == edge]
        best = min(on_edge, key=lambda r: (sum(ranks[(edge, r["op"])]), r["order"]))
        assert [r["op"] for r in on_edge if r["pruned"]] == [best["op"]]
        assert not masks[0, edge, best["op"]] and masks[0, edge].sum() == 3


def test_qualifying_proxies_change_when_an_op_is_masked_and_counts_do_not(images, space):
    from harness.data import image_batch
    from proxies.registry import compute

    torch.manual_seed(0)
    net = space.build_ntk_net()
    masks = initial_masks(space)
    space.set_masks(net, masks)
    x, y = image_batch(images, 4, 0, augment=False)
    cand = masks.copy()
    cand[0, 0, 3] = False  # nor_conv_3x3 off on the first edge
    masked = space.build_ntk_net()
    masked.load_state_dict(net.state_dict())
    space.set_masks(masked, cand)
    members = set(resolve_indicators("az_nas").members) | set(
        resolve_indicators("selected").members
    )
    for name in sorted(members | set(NOT_FORWARD)):
        a = compute(name, frozen_masks(net), x, y)
        b = compute(name, frozen_masks(masked), x, y)
        assert (a != b) == (name not in NOT_FORWARD), name


class _Stub:
    """An evaluator with given member values per cell index (no network)."""

    def __init__(self, table):
        self.table, self.cache, self.evaluations = table, {}, 0

    def __call__(self, arch):
        if arch.index not in self.cache:
            self.evaluations += 1
            self.cache[arch.index] = self.table(arch.index)
        return self.cache[arch.index]


def _members(index: int) -> dict:
    rng = np.random.default_rng(index)
    return {"az_progressivity": rng.normal(), "jacob_cov": rng.normal(), "synflow": rng.normal()}


def test_best_of_n_with_an_ensemble_ranks_the_sample_by_its_aggregation():
    from harness.ranking import log_rank_sum

    config = BaselineConfig(proxy="selected", n=12).resolved("best-of-n")
    out = best_of_n(config, _Stub(_members), seed=1)
    values = [{k: h[f"value_{k}"] for k in _members(0)} for h in out.history]
    by_hand = log_rank_sum([np.array([v[k] for v in values]) for k in _members(0)], [True] * 3)
    assert out.arch.index == out.history[int(np.argmax(by_hand))]["index"]
    assert [h["score"] for h in out.history] == pytest.approx(list(by_hand))


def test_evolution_with_an_ensemble_returns_the_best_by_the_aggregate_over_every_seen_cell():
    config = BaselineConfig(proxy="selected", budget=30, population=8, sample_size=3)
    config = config.resolved("evolution")
    out = evolution(config, _Stub(_members), seed=2)
    seen = list(dict.fromkeys(h["index"] for h in out.history))
    fits = population_fitness("selected", [_members(i) for i in seen])
    assert out.arch.index == seen[int(np.argmax(fits))]
    assert all(h["value"] is not None and "values" in h for h in out.history)
    assert out.counts["fitness_queries"] == 30


def test_a_self_seeded_proxy_gets_a_seed_per_repeat_from_the_search_seed(
    images, space, monkeypatch
):
    """AZ-NAS's proxies draw their own weights and inputs from a `seed` keyword (default 0): the
    meter hands them one seed per repeat, the same to origin and candidate, drawn from the search's
    data stream, so repeats and search seeds are different draws (with the default, every seed of
    a search found the same cell)."""
    import proxies.registry

    calls = []

    def recording(name, model, inputs, labels=None, **options):
        calls.append((name, options.get("seed")))
        return float(len(calls))

    monkeypatch.setattr(proxies.registry, "compute", recording)
    config = with_indicators(TenasConfig(**QUICK), "az_progressivity,synflow")
    seeds_by_search = []
    for search_seed in (0, 1):
        calls.clear()
        torch.manual_seed(search_seed)
        meter = IndicatorMeter(TenasMeter(space, config, images, seed=search_seed), config)
        masks = initial_masks(space)
        meter.begin_round(masks)
        candidate = masks.copy()
        candidate[0, 0, 1] = False
        meter.measure(candidate, masks)
        assert all(seed is None for name, seed in calls if name == "synflow")
        az = [seed for name, seed in calls if name == "az_progressivity"]
        assert len(az) == 2 * QUICK["repeats"]  # origin and candidate, per repeat
        per_repeat = az[0::2]
        assert az[1::2] == per_repeat and len(set(per_repeat)) == QUICK["repeats"]
        seeds_by_search.append(per_repeat)
    assert seeds_by_search[0] != seeds_by_search[1]
