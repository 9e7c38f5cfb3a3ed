"""The benchmark scripts: their FLOP count has a known answer and their report holds what it promises."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from harness.spaces.nb201_net import build_network
from proxies import ntk_kernels
from tests.conftest import load_script


@pytest.fixture(scope="module")
def bench_ntk():
    return load_script("benchmarks/bench_ntk.py")


def test_counted_gflop_of_a_linear_model_is_forward_plus_b_backwards_plus_gram(bench_ntk):
    """Linear(d -> 1): forward 2Bd, each of the B backward passes 2Bd (weight grad), Gram 2B^2 d."""
    batch, dim = 4, 5
    model = nn.Linear(dim, 1, bias=False)
    gflop = bench_ntk.counted_gflop(model, torch.randn(batch, dim))
    assert gflop * 1e9 == pytest.approx(
        2 * batch * dim + batch * 2 * batch * dim + 2 * batch * batch * dim
    )


def test_matmul_rate_is_positive_and_finite(bench_ntk):
    rate = bench_ntk.matmul_gflops(torch.device("cpu"), size=128, seconds=0.05)
    assert math.isfinite(rate) and rate > 0


def test_bench_ntk_report_on_a_small_batch(bench_ntk, capsys):
    report = bench_ntk.main(
        ["--indices", "6111", "--batch-size", "8", "--engine", "graph", "--json"]
    )
    assert report["max_rel_diff"] < 1e-4
    assert report["speedup"] > 0 and report["peak_mem_mb"] > 0
    roof = report["roofline"]
    # the oracle cannot beat the matmul rate, so its ceiling is at least 1x
    assert roof["gflop_per_cell_median"] > 0 and roof["speedup_ceiling_over_oracle"] >= 1
    for engine in ("oracle", "graph"):
        assert 0 < report["engines"][engine]["fraction_of_matmul_rate"] <= 1
    assert '"roofline"' in capsys.readouterr().out


def test_kernel_breakdown_charges_each_kernel_family_only_where_the_cell_uses_it(bench_ntk):
    """Cell 6111 has convolutions and no pooling; the second cell pools. The graph walk, forward
    pass and eigenvalues land in "other"; the kernels are unpatched afterwards."""
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def net(arch):
        torch.manual_seed(0)
        return build_network(arch, "tenas_ntk", num_classes=10)

    no_pool = bench_ntk.kernel_breakdown("graph", [net(6111)], x)
    pooling = bench_ntk.kernel_breakdown(
        "graph",
        [
            net(
                "|avg_pool_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|"
            )
        ],
        x,
    )
    assert no_pool["seconds"]["3x3 pool backward"] == 0 < pooling["seconds"]["3x3 pool backward"]
    for result in (no_pool, pooling):
        assert result["cells"] == 1 and result["engine"] == "graph"
        steps = ("conv grad-input", "weight GEMMs", "BN backward", "block pool backward", "other")
        assert all(result["seconds"][step] > 0 for step in steps)  # every net has the ResNet blocks
    assert not set(bench_ntk.KERNEL_STEPS) & set(vars(ntk_kernels.EAGER))
    with pytest.raises(ValueError, match="'oracle'"):
        bench_ntk.kernel_breakdown("oracle", [net(6111)], x)


def test_gpu_check_times_the_whole_sweep_path():
    """The prepared GPU script's run-proxies section, dry-run on the CPU: one cell to the end."""
    gpu_check = load_script("benchmarks/gpu_check.py")
    # the limit is a guard only (one cell takes seconds), generous for a loaded machine
    done = gpu_check.sweep_throughput(torch.device("cpu"), "graph", 1, 1, True, 900)
    assert done["cells"] == 1 and done["status_counts"] == {"ntk_cond:ok": 1}
    assert not done["stopped_at_time_limit"] and done["cells_per_second"] > 0


@pytest.mark.slow
def test_gpu_check_stops_the_sweep_at_its_time_limit():
    """A run cut short by the time limit is stopped with SIGTERM and still reports its cells (a
    timed run: out of the default test run)."""
    gpu_check = load_script("benchmarks/gpu_check.py")
    cut = gpu_check.sweep_throughput(torch.device("cpu"), "oracle", 500, 1, True, 12)
    assert cut["stopped_at_time_limit"] and cut["cells"] < 500
    assert sum(cut["status_counts"].values()) == cut["cells"]
