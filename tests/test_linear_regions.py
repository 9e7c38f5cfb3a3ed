"""linear_regions: exact counts on nets with known regions, brute force, no hook leaks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import proxies
from harness.errors import InputError
from harness.spaces.nb201_net import build_network
from proxies.linear_regions import (
    ReluPatternRecorder,
    activation_patterns,
    count_linear_regions,
    count_unique_rows,
    pack_rows,
)


class OneHiddenLayer(nn.Module):
    """x -> ReLU(w * x + b) (k units) -> sum: a 1-D piecewise-linear function with breakpoints
    -b/w. The ReLU sees a 4-D tensor (N, k, 1, 1), as the hooked TE-NAS ReLUs do."""

    def __init__(self, breakpoints):
        super().__init__()
        k = len(breakpoints)
        self.hidden = nn.Conv2d(1, k, 1)
        with torch.no_grad():
            slopes = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(k)])
            self.hidden.weight.copy_(slopes.view(k, 1, 1, 1))
            self.hidden.bias.copy_(-slopes * torch.tensor(breakpoints))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.hidden(x)).sum((1, 2, 3))


def line(points) -> torch.Tensor:
    return torch.as_tensor(points, dtype=torch.float32).reshape(-1, 1, 1, 1)


def brute_force(patterns: torch.Tensor) -> int:
    return len({tuple(row) for row in patterns.to(torch.int8).tolist()})


def test_one_hidden_layer_has_k_plus_one_regions():
    breakpoints = [-2.0, -0.5, 0.25, 1.0, 3.0]
    net = OneHiddenLayer(breakpoints)
    xs = torch.linspace(-5, 5, 1001)
    assert count_linear_regions(net, [line(xs)]) == len(breakpoints) + 1
    # Inputs from only three of the six intervals give exactly three regions.
    assert count_linear_regions(net, [line([-4.0, -3.0, 0.0, 0.1, 4.0])]) == 3


def test_count_matches_brute_force_on_the_thin_nb201_net():
    torch.manual_seed(0)
    net = build_network(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        "tenas_lr",
    )
    batches = [
        torch.randn(300, 1, 3, 3, generator=torch.Generator().manual_seed(s)) for s in range(3)
    ]
    patterns = activation_patterns(net, batches)
    assert patterns.shape[0] == 900 and patterns.dtype == torch.bool
    assert count_linear_regions(net, batches) == brute_force(patterns)


@pytest.mark.parametrize("units", [1, 5, 62, 63, 64, 130])
def test_unique_rows_is_exact_across_word_boundaries(units):
    rng = np.random.default_rng(units)
    base = rng.random((40, units)) < 0.5
    patterns = np.concatenate([base, base[::3], base[::7]])  # repeated rows
    # Rows that differ only in their last bit must stay distinct.
    flipped = base[:5].copy()
    flipped[:, -1] ^= True
    patterns = np.concatenate([patterns, flipped])
    assert count_unique_rows(patterns) == brute_force(torch.from_numpy(patterns))
    assert count_unique_rows(torch.from_numpy(patterns)) == brute_force(torch.from_numpy(patterns))


def test_packed_words_are_non_negative_and_one_per_63_bits():
    words = pack_rows(torch.ones(3, 64, dtype=torch.bool))
    assert words.shape == (3, 2) and (words >= 0).all()
    assert words[0, 0].item() == 2**63 - 1 and words[0, 1].item() == 1


def test_degenerate_shapes():
    assert count_unique_rows(np.zeros((0, 4), dtype=bool)) == 0
    assert count_unique_rows(np.zeros((5, 0), dtype=bool)) == 1
    with pytest.raises(InputError, match="2-D"):
        count_unique_rows(np.zeros(5, dtype=bool))


def test_repeated_calls_leave_no_hooks_and_give_the_same_count():
    torch.manual_seed(1)
    net = build_network(6111, "tenas_lr")
    batches = [
        torch.randn(200, 1, 3, 3, generator=torch.Generator().manual_seed(s)) for s in range(3)
    ]
    first = proxies.compute("linear_regions", net, batches)
    second = proxies.compute("linear_regions", net, batches)
    third = count_linear_regions(net, batches)
    assert first == second == third
    assert all(not m._forward_hooks for m in net.modules())


def test_hooks_are_removed_when_the_forward_fails():
    net = OneHiddenLayer([0.0])
    with pytest.raises(RuntimeError), ReluPatternRecorder(net):
        net(torch.zeros(2, 3, 1, 1))  # wrong channel count
    assert not net.relu._forward_hooks


def test_only_relus_with_4d_inputs_are_counted():
    net = nn.Sequential(nn.Flatten(), nn.Linear(9, 4), nn.ReLU())  # 2-D input to the ReLU
    with pytest.raises(InputError, match="no nn.ReLU with a 4-D input"):
        count_linear_regions(net, [torch.randn(10, 1, 3, 3)])


def test_a_model_without_relu_is_an_input_error():
    with pytest.raises(InputError, match="linear regions"):
        proxies.compute("linear_regions", nn.Conv2d(1, 2, 3), torch.randn(4, 1, 3, 3))


def test_batches_keep_their_own_batch_norm_statistics():
    """Train-mode BN normalises each 1000-sample batch separately (TE-NAS): counting the three
    batches as one would use other statistics, so the patterns are collected per batch."""
    torch.manual_seed(0)
    net = build_network(1, "tenas_lr")
    batches = [torch.randn(50, 1, 3, 3) + shift for shift in (0.0, 3.0)]
    per_batch = activation_patterns(net, batches)
    joint = activation_patterns(net, [torch.cat(batches)])
    assert per_batch.shape == joint.shape and not torch.equal(per_batch, joint)
