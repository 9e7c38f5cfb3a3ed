"""TE-NAS ranking, rounding and bookkeeping rules (docs/tenas-spec.md §5-§7, §16.5-16.6) on hand-made values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from search.tenas import (
    candidates,
    combine_ranks,
    effective_prune_number,
    is_single_path,
    kappa_change,
    official_kappa,
    rank_candidates,
    regions_change,
    round_to,
    select_prunes,
)

P = 3  # official precision


def _keys(n: int, edge_of=lambda i: i // 3):
    return [(0, edge_of(i), 1 + i % 3) for i in range(n)]


# ----------------------------------------------------------------------------- round_to


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.12345, 0.123),
        (-0.12345, -0.123),
        (123.456, 123.0),
        (0.0009876, 0.000988),
        (5.0, 5.0),
        (0.0, 0.0),
        (0.9996, 1.0),
    ],
)
def test_round_to_keeps_three_significant_figures(value, expected):
    assert round_to(np.float64(value), P) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_round_to_int_stays_int():
    assert round_to(12345, P) == 12300 and isinstance(round_to(12345, P), int)


# ----------------------------------------------------------------------------- per-repeat rounding


def test_kappa_change_uses_numpy_rounding_and_regions_change_python_rounding():
    # (1 - 0.9995) / 1 = 0.0005 (up to float error); pick exact binary cases instead:
    # numpy rounds 0.0005*1000 = 0.5 half-to-even -> 0.0; Python's round sees 0.000500000000000000010... -> 0.001.
    k = kappa_change(np.float64(2000.0), np.float64(1999.0), P)
    assert isinstance(k, np.floating) and k == 0.0
    r = regions_change(2000.0, 1999.0, P)
    assert type(r) is float and r == 0.001
    # an ordinary case agrees
    assert kappa_change(np.float64(100.0), np.float64(88.0), P) == pytest.approx(0.12)
    assert regions_change(1000.0, 1120.0, P) == pytest.approx(-0.12)


def test_kappa_change_sign_means_improvement():
    assert kappa_change(np.float64(1000.0), np.float64(500.0), P) == 0.5  # removal halves κ: good
    assert regions_change(1000, 1500, P) == -0.5  # removal adds regions: good to prune


# ----------------------------------------------------------------------------- κ semantics


def test_official_kappa_nan_maps_to_1e5_and_negative_lambda_min_stays_raw():
    nan_kernel = torch.full((2, 2), float("nan"), dtype=torch.float64)
    assert official_kappa(nan_kernel, "float64") == 100000.0
    assert official_kappa(nan_kernel, "float32") == 100000.0
    zero = torch.zeros(3, 3, dtype=torch.float64)  # 0/0 -> NaN -> 1e5
    assert official_kappa(zero, "float64") == 100000.0
    indefinite = torch.diag(torch.tensor([-1.0, 2.0, 4.0], dtype=torch.float64))
    assert official_kappa(indefinite, "float64") == pytest.approx(-4.0)
    assert official_kappa(indefinite, "float32") == pytest.approx(-4.0)
    singular = torch.diag(torch.tensor([0.0, 2.0], dtype=torch.float64))  # λmin exactly 0
    assert official_kappa(singular, "float64") == np.finfo(np.float64).max  # +inf -> max float
    assert official_kappa(singular, "float32") == np.finfo(np.float64).max
    diag = torch.diag(torch.tensor([0.5, 1.0, 8.0], dtype=torch.float64))
    assert official_kappa(diag, "float32") == pytest.approx(16.0)
    assert isinstance(official_kappa(diag, "float64"), np.floating)


# ----------------------------------------------------------------------------- ranking


def test_ranks_dense_with_exact_ties():
    keys = [(0, 0, 1), (0, 0, 2), (0, 1, 1), (0, 1, 2)]
    ntk = [
        [np.float64(0.1), keys[0]],
        [np.float64(0.3), keys[1]],
        [np.float64(0.1), keys[2]],
        [np.float64(-0.2), keys[3]],
    ]
    regions = [[-0.05, keys[0]], [0.0, keys[1]], [0.2, keys[2]], [0.0, keys[3]]]
    ranked = dict(rank_candidates(ntk, regions, P))
    # NTK descending: 0.3 -> 0; 0.1, 0.1 tie -> 1, 1; -0.2 -> 2 (dense, not 3)
    assert [ranked[k][0] for k in keys] == [1, 0, 1, 2]
    # LR ascending: -0.05 -> 0; 0.0, 0.0 -> 1, 1; 0.2 -> 2
    assert [ranked[k][1] for k in keys] == [0, 1, 2, 1]


def test_rank_sum_order_is_stable_in_ntk_sorted_order():
    keys = [(0, 0, 1), (0, 0, 2), (0, 0, 3)]
    ntk = [[np.float64(0.1), keys[0]], [np.float64(0.2), keys[1]], [np.float64(0.3), keys[2]]]
    regions = [[0.1, keys[0]], [0.2, keys[1]], [0.3, keys[2]]]
    ranked = rank_candidates(ntk, regions, P)
    # NTK ranks 2, 1, 0 and LR ranks 0, 1, 2: every sum is 2: ties keep the NTK-sorted order (0.3, 0.2, 0.1)
    assert [k for k, _ in ranked] == [keys[2], keys[1], keys[0]]
    assert all(sum(r) == 2 for _, r in ranked)


def test_equal_values_split_by_a_same_key_value_get_different_ranks():
    """§16.6: the sort uses 3 significant figures, the tie test exact equality with the neighbour."""
    keys = [(0, 0, 1), (0, 1, 1), (0, 2, 1), (0, 3, 1)]
    a, b = np.float64(0.1234), np.float64(0.1231)  # both sort as 0.123
    ntk = [[a, keys[0]], [b, keys[1]], [a, keys[2]], [np.float64(0.5), keys[3]]]
    regions = [[0.0, k] for k in keys]
    ranked = dict(rank_candidates(ntk, regions, P))
    # sorted descending by key: 0.5 (rank 0), then 0.123-block in measurement order: a, b, a
    assert ranked[keys[3]][0] == 0
    assert ranked[keys[0]][0] == 1
    assert ranked[keys[1]][0] == 2  # b != a
    assert ranked[keys[2]][0] == 3  # a again, but its predecessor is b: no shared rank
    # all regions equal -> one shared rank 0
    assert {r[1] for r in ranked.values()} == {0}


def test_values_with_same_key_but_order_broken_by_rounding_up():
    """Two values whose 3-sig-fig keys differ sort apart even when closer than two equal-key ones."""
    keys = [(0, 0, 1), (0, 1, 1), (0, 2, 1)]
    ntk = [
        [np.float64(0.12349), keys[0]],
        [np.float64(0.12351), keys[1]],
        [np.float64(0.1239), keys[2]],
    ]
    regions = [[0.0, k] for k in keys]
    ranked = rank_candidates(ntk, regions, P)
    # keys: 0.123, 0.124, 0.124 -> descending: 0.12351, 0.1239 (key ties, stable), 0.12349
    assert [k for k, _ in ranked] == [keys[1], keys[2], keys[0]]
    assert [r[0] for _, r in ranked] == [0, 1, 2]


def test_combine_ranks_sums_any_number_of_measures_in_the_first_measures_order():
    """The one place measures meet: rank_candidates is its two-measure case, and a third measure
    (what --indicators will add) shifts the sums with the same tie and order rules."""
    keys = [(0, 0, 1), (0, 0, 2), (0, 1, 1)]
    ntk = [[np.float64(0.3), keys[0]], [np.float64(0.2), keys[1]], [np.float64(0.1), keys[2]]]
    regions = [[0.1, keys[0]], [0.0, keys[1]], [0.0, keys[2]]]
    assert combine_ranks([(ntk, True), (regions, False)], P) == rank_candidates(ntk, regions, P)
    # two measures: sums 1, 1, 2 (the tie keeps the NTK order)
    assert [k for k, _ in rank_candidates(ntk, regions, P)] == keys
    third = [[1.0, keys[0]], [5.0, keys[1]], [1.0, keys[2]]]  # descending: 5 -> 0; 1, 1 -> 1, 1
    ranked = combine_ranks([(ntk, True), (regions, False), (third, True)], P)
    assert ranked == [(keys[1], [1, 0, 0]), (keys[0], [0, 1, 1]), (keys[2], [2, 0, 1])]


def test_select_prunes_takes_first_per_edge_and_always_one():
    ranked = [
        ((0, 1, 2), [0, 0]),
        ((0, 0, 1), [0, 1]),
        ((0, 1, 3), [1, 1]),
        ((0, 0, 4), [2, 1]),
        ((0, 0, 3), [3, 3]),
    ]
    assert select_prunes(ranked, 1) == {(0, 1): [(0, 1, 2)], (0, 0): [(0, 0, 1)]}
    assert select_prunes(ranked, 2) == {
        (0, 1): [(0, 1, 2), (0, 1, 3)],
        (0, 0): [(0, 0, 1), (0, 0, 4)],
    }
    # a capped prune number of 0 still removes each edge's first candidate (official behaviour)
    assert select_prunes(ranked, 0) == select_prunes(ranked, 1)


# ----------------------------------------------------------------------------- bookkeeping


def _masks(active_per_edge):
    m = np.zeros((1, len(active_per_edge), 5), dtype=bool)
    for e, ops in enumerate(active_per_edge):
        m[0, e, list(ops)] = True
    return m


def test_effective_prune_number_is_capped_from_edge_zero_only():
    assert effective_prune_number(_masks([(1, 2, 3, 4)] * 6), 1) == 1
    assert effective_prune_number(_masks([(1, 2, 3, 4)] * 6), 5) == 3
    assert effective_prune_number(_masks([(1, 2)] + [(1, 2, 3, 4)] * 5), 3) == 1  # edge 0 decides


def test_candidates_loop_order_and_single_op_edges_skipped():
    m = _masks([(1, 3), (2,), (1, 2, 4), (4,), (3,), (1,)])
    assert candidates(m) == [(0, 0, 1), (0, 0, 3), (0, 2, 1), (0, 2, 2), (0, 2, 4)]
    assert not is_single_path(m)
    assert is_single_path(_masks([(1,), (2,), (3,), (4,), (1,), (2,)]))
    with pytest.raises(ValueError):
        is_single_path(_masks([(), (2,), (3,), (4,), (1,), (2,)]))


def test_candidates_span_cell_types_first():
    m = np.zeros((2, 2, 3), dtype=bool)
    m[:, :, 1:] = True
    assert candidates(m)[:4] == [(0, 0, 1), (0, 0, 2), (0, 1, 1), (0, 1, 2)]
    assert candidates(m)[4] == (1, 0, 1)


def test_nan_kappa_setting_is_used():
    nan_kernel = torch.full((2, 2), math.nan, dtype=torch.float64)
    assert official_kappa(nan_kernel, "float64", nan=7.0) == 7.0
