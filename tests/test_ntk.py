"""ntk_cond: every engine equals the per-sample oracle; closed forms; κ policy; BN coupling."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import proxies
from harness.errors import InputError
from harness.spaces.nb201_net import build_network, build_supernet
from proxies import ntk_engine
from proxies.ntk import (
    NTK_ENGINES,
    condition_number,
    empirical_ntk,
    empirical_ntk_oracle,
    ntk_cond,
    ntk_parameters,
)

FAST_ENGINES = ("batched", "graph")  # `compiled` compiles for tens of seconds: slow test below

CELLS = {
    "every_op": "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    "resnet_like": "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    "skips_and_pools": "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|skip_connect~2|",
    "index_0": 0,
}
DISCONNECTED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"


def tiny_net(arch, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_network(arch, C=3, N=1, num_classes=4).double()


def batch(n: int = 6, size: int = 8, channels: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(
        n, channels, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize("cell", list(CELLS))
def test_engines_match_the_per_sample_oracle(cell, engine):
    net, x = tiny_net(CELLS[cell]), batch()
    oracle = empirical_ntk_oracle(copy.deepcopy(net).train(), x)
    kernel = empirical_ntk(copy.deepcopy(net), x, engine=engine, chunk=4)
    assert kernel.dtype == torch.float64 and kernel.shape == (6, 6)
    assert rel(kernel, oracle) < 1e-10
    assert abs(condition_number(kernel) / condition_number(oracle) - 1) < 1e-4


@pytest.mark.parametrize("chunk", [1, 5, None])
def test_graph_engine_chunking_does_not_change_the_kernel(chunk):
    net, x = tiny_net(CELLS["every_op"]), batch()
    reference = empirical_ntk(copy.deepcopy(net), x, "graph", chunk=6)
    assert rel(empirical_ntk(copy.deepcopy(net), x, "graph", chunk=chunk), reference) < 1e-12


def test_float32_engine_agrees_with_float64_oracle_on_the_tenas_shape():
    """The default precision path: float32 network, batch 12 of 32x32 images, C=3 (tenas net)."""
    torch.manual_seed(0)
    net = build_network(CELLS["every_op"], "tenas_ntk")
    x = batch(12, 32).float()
    oracle = empirical_ntk_oracle(copy.deepcopy(net).double().train(), x.double())
    kappa = condition_number(empirical_ntk(copy.deepcopy(net), x, "graph"))
    assert abs(kappa / condition_number(oracle) - 1) < 1e-4


def test_supernet_with_pruned_ops_matches_the_oracle():
    """Mixed ops scaled by softmax(alpha) (MulBackward), pruned ops skipped, alphas never differentiated."""
    torch.manual_seed(0)
    net = build_supernet(C=3, N=1, num_classes=4).double()
    mask = [[True] * 5 for _ in range(6)]
    mask[0][3] = mask[2][0] = mask[5][4] = False
    net.set_active_ops(mask)
    x = batch()
    oracle = empirical_ntk_oracle(copy.deepcopy(net).train(), x)
    assert rel(empirical_ntk(copy.deepcopy(net), x, "graph", chunk=4), oracle) < 1e-10
    assert all("arch" not in name for name, _ in ntk_parameters(net))


def test_disconnected_cell_gives_an_all_zero_kernel_and_nan():
    """No path from input to output in any cell: every weight gradient is zero, κ = 0/0 = NaN."""
    net, x = tiny_net(DISCONNECTED), batch()
    for engine in ("oracle", *FAST_ENGINES):
        kernel = empirical_ntk(copy.deepcopy(net), x, engine)
        assert torch.count_nonzero(kernel) == 0
        assert math.isnan(condition_number(kernel))
    assert math.isnan(proxies.compute("ntk_cond", net, x))


def test_linear_network_matches_the_closed_form():
    """f(x) = W x, summed over n outputs: d f_i / dW = 1 x_iᵀ, so Θ = n · X Xᵀ exactly."""
    torch.manual_seed(0)
    n, d = 5, 7
    net = nn.Linear(d, n, bias=False).double()
    x = torch.randn(9, d, dtype=torch.float64)
    expected = n * x @ x.T
    for engine in ("oracle", *FAST_ENGINES):
        assert rel(empirical_ntk(copy.deepcopy(net), x, engine), expected) < 1e-12


def test_biases_do_not_enter_the_kernel():
    """Only parameters named *weight* are differentiated: adding biases leaves Θ = n · X Xᵀ."""
    torch.manual_seed(0)
    n, d = 3, 4
    with_bias = nn.Linear(d, n, bias=True).double()
    x = torch.randn(8, d, dtype=torch.float64)
    assert [name for name, _ in ntk_parameters(with_bias)] == ["weight"]
    for engine in ("oracle", *FAST_ENGINES):
        assert rel(empirical_ntk(copy.deepcopy(with_bias), x, engine), n * x @ x.T) < 1e-12


def test_ops_without_a_rule_use_the_autograd_node_fallback():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3), nn.Softplus()).double()
    x = torch.randn(7, 4, dtype=torch.float64)
    oracle = empirical_ntk_oracle(copy.deepcopy(net), x)
    assert rel(empirical_ntk(copy.deepcopy(net), x, "graph", chunk=3), oracle) < 1e-12


def freeze_batch_norm(net: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy whose BN layers use this batch's statistics as constants (eval mode)."""
    frozen = copy.deepcopy(net).train()
    stats = {}
    hooks = [
        m.register_forward_pre_hook(
            lambda m, inp: stats.__setitem__(
                m, (inp[0].mean((0, 2, 3)), inp[0].var((0, 2, 3), unbiased=False))
            )
        )
        for m in frozen.modules()
        if isinstance(m, nn.BatchNorm2d)
    ]
    with torch.no_grad():
        frozen(x)
    for h in hooks:
        h.remove()
    for m, (mean, var) in stats.items():
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
    return frozen.eval()


def test_train_mode_batch_norm_coupling_is_kept():
    """With BN statistics frozen at this batch's values the forward pass is identical but the
    kernel differs (a different quantity); the engines reproduce the coupled train-mode oracle."""
    net, x = tiny_net(CELLS["every_op"]), batch(8)
    coupled = empirical_ntk_oracle(copy.deepcopy(net).train(), x)
    frozen_net = freeze_batch_norm(net, x)
    with torch.no_grad():
        assert torch.allclose(frozen_net(x), copy.deepcopy(net).train()(x), atol=1e-10)
    frozen = empirical_ntk_oracle(frozen_net, x)
    assert rel(frozen, coupled) > 1e-2
    for engine in FAST_ENGINES:
        assert rel(empirical_ntk(copy.deepcopy(net), x, engine), coupled) < 1e-10


def test_out_of_memory_halves_the_chunk(monkeypatch):
    net, x = tiny_net(CELLS["every_op"]), batch()
    expected = empirical_ntk(copy.deepcopy(net), x, "graph", chunk=6)
    real = ntk_engine._backward_chunk
    seen = []

    def fake(walk, start, stop, G):
        seen.append(stop - start)
        if stop - start > 2:
            raise RuntimeError(
                "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes"
            )
        return real(walk, start, stop, G)

    monkeypatch.setattr(ntk_engine, "_backward_chunk", fake)
    assert rel(empirical_ntk(copy.deepcopy(net), x, "graph", chunk=6), expected) < 1e-12
    assert seen[:2] == [6, 3] and seen[2:] and all(c <= 2 for c in seen[2:])


def test_other_runtime_errors_are_not_mistaken_for_out_of_memory():
    assert ntk_engine.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert not ntk_engine.is_out_of_memory(RuntimeError("shape mismatch"))


@pytest.mark.parametrize(
    "matrix, policy, expected",
    [
        (torch.diag(torch.tensor([1.0, 2.0, 4.0])), "inf", 4.0),
        (torch.diag(torch.tensor([0.5, 3.0])), "raw", 6.0),
        (torch.diag(torch.tensor([0.0, 1.0])), "inf", math.inf),
        (torch.diag(torch.tensor([0.0, 1.0])), "raw", math.inf),
        (torch.diag(torch.tensor([-1.0, 2.0])), "inf", math.inf),
        (torch.diag(torch.tensor([-1.0, 2.0])), "raw", -2.0),
        (torch.zeros(3, 3), "inf", math.nan),
        (torch.tensor([[1.0, math.nan], [math.nan, 1.0]]), "inf", math.nan),
        (torch.tensor([[1.0, math.inf], [math.inf, 1.0]]), "raw", math.nan),
    ],
)
def test_condition_number_on_known_matrices(matrix, policy, expected):
    value = condition_number(matrix, nonpositive=policy)
    assert (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(expected)


def test_condition_number_of_a_rotated_kernel():
    q, _ = torch.linalg.qr(
        torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    )
    kernel = q @ torch.diag(torch.tensor([2.0, 3.0, 5.0, 10.0], dtype=torch.float64)) @ q.T
    assert condition_number(kernel) == pytest.approx(5.0, rel=1e-12)


def test_bad_arguments_raise_input_errors():
    net, x = tiny_net(0), batch()
    with pytest.raises(InputError, match="NTK engine 'fast'"):
        empirical_ntk(net, x, engine="fast")
    with pytest.raises(InputError, match="chunk"):
        empirical_ntk(net, x, engine="graph", chunk=0)
    with pytest.raises(InputError, match="nonpositive policy"):
        condition_number(torch.eye(2), nonpositive="clip")


def test_registered_proxy_passes_engine_options():
    net, x = tiny_net(CELLS["resnet_like"]), batch()
    values = {e: ntk_cond(copy.deepcopy(net), x, engine=e) for e in ("oracle", "graph")}
    assert values["graph"] == pytest.approx(values["oracle"], rel=1e-9)
    assert proxies.get_proxy("ntk_cond").higher_is_better is False
    assert set(NTK_ENGINES) >= {"oracle", "batched", "graph", "compiled"}


@pytest.mark.slow
def test_compiled_engine_matches_the_oracle_on_the_tenas_network():
    torch.manual_seed(0)
    net = build_network(CELLS["every_op"], "tenas_ntk")
    x = batch(16, 32).float()
    oracle = empirical_ntk_oracle(copy.deepcopy(net).train(), x)
    kernel = empirical_ntk(copy.deepcopy(net), x, "compiled", chunk=8)
    assert abs(condition_number(kernel) / condition_number(oracle) - 1) < 1e-4


def test_multi_output_nodes_are_refused_clearly():
    class Halves(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 3, dtype=torch.float64))

        def forward(self, x):
            a, b = (x @ self.weight.T).split(2, dim=1)
            return a * b

    x = torch.randn(5, 3, dtype=torch.float64)
    with pytest.raises(NotImplementedError, match="batched"):
        empirical_ntk(Halves(), x, "graph")
    assert torch.isfinite(empirical_ntk(Halves(), x, "batched")).all()


def test_relu_before_a_conv_without_a_rule_keeps_its_mask():
    """A grouped (depthwise) conv has no rule and falls back to its autograd node; the ReLU in
    front of it must then apply its own mask (regression: DARTS sep_conv)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False),
        nn.BatchNorm2d(4),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 3),
    ).double()
    x = batch()
    oracle = empirical_ntk_oracle(copy.deepcopy(net).train(), x)
    assert rel(empirical_ntk(copy.deepcopy(net), x, "graph", chunk=4), oracle) < 1e-10


def test_darts_supernet_matches_the_oracle():
    from harness.spaces.darts import build_supernet as build_darts_supernet

    torch.manual_seed(0)
    net = build_darts_supernet("tenas_ntk").double()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    oracle = empirical_ntk_oracle(copy.deepcopy(net).train(), x)
    assert rel(empirical_ntk(copy.deepcopy(net), x, "graph"), oracle) < 1e-10
