"""The TE-NAS pruning loop on NB201 with reduced settings on the real CIFAR-10 training images:
round invariants, determinism, the TEGNAS fixed-input option, the §8 edge-group step, inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.data import load_images
from harness.errors import InputError
from harness.spaces.nb201 import OPS, Nb201Arch
from search.tenas import (
    NONE_INDEX,
    PatchStream,
    TenasConfig,
    TenasMeter,
    initial_masks,
    kaiming_init_,
    prune_edge_groups,
    run_tenas,
)

# Tiny but complete: 4-image NTK batches, 1 repeat, 2 x 32 crops; oracle engine (fastest on CPU here).
QUICK = TenasConfig(
    batch_size=4, repeats=1, lr_samples=32, lr_batches=2, ntk_engine="oracle", trajectory=False
)


@pytest.fixture(scope="module")
def outcome(images, space):
    torch.set_num_threads(1)
    return run_tenas(space, QUICK, images, seed=3)


def test_three_rounds_one_op_per_edge_never_none(outcome, space):
    rounds = outcome.rounds
    assert [r["round"] for r in rounds] == [0, 1, 2, 3]
    assert rounds[0]["active_ops"] == [
        [list(OPS[1:])] * 6
    ]  # `none` out before anything is measured
    for before, after in zip(rounds, rounds[1:]):
        pruned = after["pruned"]
        assert sorted(p["edge"] for p in pruned) == list(range(6))  # exactly one op per edge
        assert all(p["op_name"] != "none" for p in pruned)
        for e in range(6):
            gone = set(before["active_ops"][0][e]) - set(after["active_ops"][0][e])
            assert gone == {p["op_name"] for p in pruned if p["edge"] == e}
            assert len(after["active_ops"][0][e]) == len(before["active_ops"][0][e]) - 1
        # every active op of every multi-op edge was a candidate, none of them `none`
        n_active = sum(len(ops) for ops in before["active_ops"][0])
        assert len(after["candidates"]) == n_active
        assert all(c["op_name"] != "none" for c in after["candidates"])
        assert sum(c["pruned"] for c in after["candidates"]) == 6
    assert [len(r["candidates"]) for r in rounds[1:]] == [24, 18, 12]
    arch = space.arch(outcome.masks)
    assert isinstance(arch, Nb201Arch) and "none" not in arch.ops
    assert 0 <= arch.index < 15625
    assert outcome.masks[..., NONE_INDEX].sum() == 0
    # 54 candidates x 1 repeat x (origin + candidate) evaluations of each indicator
    assert outcome.counts == {"ntk": 108, "linear_regions": 108}


def test_pruned_ops_are_the_lowest_rank_sum_of_each_edge(outcome):
    for rnd in outcome.rounds[1:]:
        for e in range(6):
            cands = [c for c in rnd["candidates"] if c["edge"] == e]
            first = min(cands, key=lambda c: c["order"])
            assert first["pruned"] and sum(c["pruned"] for c in cands) == 1
            assert first["rank_sum"] == min(c["rank_sum"] for c in cands)


def test_same_seed_same_search(outcome, images, space):
    again = run_tenas(space, QUICK, images, seed=3)
    untimed = lambda rounds: [{k: v for k, v in r.items() if k != "seconds"} for r in rounds]  # noqa: E731
    assert untimed(again.rounds) == untimed(outcome.rounds)
    assert again.rounds[1]["candidates"][0]["kappa"] == outcome.rounds[1]["candidates"][0]["kappa"]
    assert np.array_equal(again.masks, outcome.masks)


def test_fixed_inputs_make_a_measurement_independent_of_history(images, space):
    """With --fixed-inputs, measuring the same candidate twice gives identical numbers (same
    batch, same networks); the official default draws a new batch per call, so it does not."""
    torch.manual_seed(0)
    masks = initial_masks(space)
    cand = masks.copy()
    cand[0, 0, 3] = False
    fixed = TenasMeter(
        space, QUICK.__class__(**{**QUICK.to_dict(), "fixed_inputs": True}), images, seed=1
    )
    fixed.begin_round(masks)
    a, b = fixed.measure(cand, masks), fixed.measure(cand, masks)
    assert (a.kappa, a.regions, a.dkappa, a.dregions) == (b.kappa, b.regions, b.dkappa, b.dregions)
    assert fixed.counts == {
        "ntk": 3,
        "linear_regions": 3,
    }  # the origin was measured once, then reused
    fresh = TenasMeter(space, QUICK, images, seed=1)
    fresh.begin_round(masks)
    c, d = fresh.measure(cand, masks), fresh.measure(cand, masks)
    assert c.kappa_origin != d.kappa_origin  # a fresh batch per NTK call
    assert c.regions_origin != d.regions_origin or c.regions != d.regions  # crops move on


def test_official_mode_copies_origin_weights_into_candidates(images, space):
    """Both NTK nets of a call see the same weights; the origin stays fixed for the round."""
    meter = TenasMeter(space, QUICK, images, seed=0)
    masks = initial_masks(space)
    meter.begin_round(masks)
    before = [p.detach().clone() for p in meter.origin.parameters()]
    cand = masks.copy()
    cand[0, 2, 1] = False
    meter.measure(cand, masks)
    after = list(meter.origin.parameters())
    assert all(torch.equal(x, y) for x, y in zip(before, after))


def test_patch_stream_is_one_persistent_shuffled_iterator(images):
    rng = np.random.default_rng(0)
    small = load_images("cifar10", "train", source="npz", limit=10)
    stream = PatchStream(small, batch_size=4, size=3, rng=rng)
    batches = [stream.next() for _ in range(5)]
    assert all(b.shape == (4, 1, 3, 3) for b in batches)
    assert stream.epochs == 3  # 10 images, drop_last batches of 4: 2 per epoch
    with pytest.raises(InputError, match="lr-samples"):
        PatchStream(small, batch_size=11, size=3, rng=rng)


def test_kaiming_init_sets_bn_and_zero_bias():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(4, 2)
    )
    torch.nn.init.constant_(net[1].weight, 3.0)
    kaiming_init_(net, "fan_in")
    assert torch.equal(net[1].weight, torch.ones(8)) and torch.equal(net[1].bias, torch.zeros(8))
    assert torch.equal(net[2].bias, torch.zeros(2))
    # Kaiming-normal fan_in, ReLU gain: std sqrt(2 / 27) for the 3x3x3 conv
    assert net[0].weight.std().item() == pytest.approx((2 / 27) ** 0.5, rel=0.3)


class _ScriptedMeter:
    """Stands in for TenasMeter: Δκ/ΔR from a table, to check the §8 group logic alone."""

    class _Space:
        cell_types = ("normal", "reduce")
        edge_names = tuple(f"e{i}" for i in range(5))
        op_names = ("none", "a", "b")

    space = _Space()

    def __init__(self, table):
        self.table, self.begun = table, 0

    def begin_round(self, masks):
        self.begun += 1

    def measure(self, cand, lr_origin):
        from search.tenas import CandidateMeasure

        ((ct, e, op),) = [tuple(int(i) for i in k) for k in np.argwhere(cand != lr_origin)]
        dk, dr = self.table[(ct, e)]
        return CandidateMeasure(np.float64(dk), dr, [dk], [dr], [1.0], [1.0], [1.0], [1.0])


def test_edge_groups_keep_the_two_most_harmful_removals_per_node():
    masks = np.zeros((2, 5, 3), dtype=bool)
    masks[:, :, 1] = True  # single path: one op per edge
    groups = [(0, 2), (2, 5)]  # a 2-edge node (skipped) and a 3-edge node
    # in the 3-edge group of cell type 0, edge 3 has the best (lowest) rank sum -> removed
    table = {(ct, e): (0.0, 0.0) for ct in range(2) for e in range(5)}
    table[(0, 3)] = (0.5, -0.5)
    table[(0, 2)] = (0.1, 0.1)
    table[(0, 4)] = (-0.2, 0.3)
    table[(1, 4)] = (0.9, -0.9)
    meter = _ScriptedMeter(table)
    out, recs = prune_edge_groups(meter, masks, QUICK, groups, keep=2)
    assert meter.begun == 1  # the stale NTK origin of the official phase
    assert [r["group"] for r in recs] == [[2, 5], [2, 5]]
    assert recs[0]["pruned_edges"] == [3] and recs[1]["pruned_edges"] == [4]
    assert not out[0, 3].any() and not out[1, 4].any()
    assert out[0, [0, 1, 2, 4]].any(axis=1).all()


def test_config_rejects_bad_settings():
    with pytest.raises(InputError, match="batch_size"):
        TenasConfig(batch_size=0)
    with pytest.raises(InputError, match="init"):
        TenasConfig(init="xavier")
    with pytest.raises(InputError, match="kappa dtype"):
        TenasConfig(kappa_dtype="float16")
