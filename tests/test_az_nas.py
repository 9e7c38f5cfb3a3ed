"""AZ-NAS: known answers on tiny blocks, the shared pass, NB201 FLOPs, the log-rank aggregation,
and the four components on real NB201 cells through the CellScorer (bench profile)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import proxies  # noqa: F401  (registers every proxy)
from harness.errors import InputError
from harness.spaces import nb201
from harness.spaces.nb201_net import build_network
from proxies.az_nas import (
    COMPONENTS,
    PASS_KIND,
    AzNasPass,
    az_expressivity,
    az_progressivity,
    az_trainability,
    block_trainability,
    feature_entropy,
)
from proxies.registry import compute, get_proxy
from proxies.zero_cost import SHARED_PASSES
from reports.combine import NAMED_COMBINATIONS, add_combined, log_rank_sum
from reports.correlation import place_undefined
from reports.labels import add_labels

EVERY_OP = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
IDENTITY_CELL = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # output = input
#: NB201 index 13714 and the NATS API's FLOPs printed in the official tss_general.ipynb.
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
PASS_SHARERS = (az_expressivity, az_progressivity, az_trainability)


def _entropy(p) -> float:
    p = np.asarray(p, dtype=np.float64)
    return float(-(p * np.log(p + 1e-8)).sum())


def _orthogonal_channels(scales) -> torch.Tensor:
    """(1, 2, 2, 2): two zero-mean, orthogonal +-1 channel patterns with the given scales, so the
    channel covariance over the 4 positions is exactly diag(scales^2)."""
    u = torch.tensor([[1.0, -1.0], [1.0, -1.0]])
    v = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    return torch.stack([scales[0] * u, scales[1] * v])[None]


class _ChannelScale(nn.Module):
    def __init__(self, *scales):
        super().__init__()
        self.register_buffer("s", torch.tensor(scales).reshape(1, -1, 1, 1))

    def forward(self, x):
        return x * self.s


class _Blocks(nn.Module):
    """A network of blocks run in sequence, exposed as `cells` like the NB201 network's."""

    def __init__(self, *blocks):
        super().__init__()
        self.cells = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.cells:
            x = block(x)
        return x


def _checksum(model: nn.Module) -> list[tuple[str, float]]:
    return [
        (k, float(v.double().abs().sum()) + float(v.double().sum()))
        for k, v in model.state_dict().items()
    ]


# --------------------------------------------------------------------------- known answers


def test_feature_entropy_of_a_known_covariance_spectrum():
    assert feature_entropy(_orthogonal_channels((1.0, 1.0))) == pytest.approx(
        _entropy([0.5, 0.5]), rel=1e-6
    )
    assert feature_entropy(_orthogonal_channels((2.0, 1.0))) == pytest.approx(
        _entropy([0.8, 0.2]), rel=1e-6
    )
    assert feature_entropy(_orthogonal_channels((3.0, 0.0))) == pytest.approx(
        0.0, abs=1e-6
    )  # rank one
    # Isotropic C channels: ln C; adding a constant to a channel changes nothing (centred).
    x = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(1)))
    flat = x.permute(0, 2, 3, 1).reshape(-1, 4)
    white = flat - flat.mean(0)
    white = white @ torch.linalg.inv(torch.linalg.cholesky(white.T @ white / white.shape[0])).T @ q
    iso = white.reshape(64, 8, 8, 4).permute(0, 3, 1, 2) + 5.0
    assert feature_entropy(iso) == pytest.approx(math.log(4), rel=1e-5)
    assert math.isnan(feature_entropy(torch.zeros(2, 3, 4, 4)))  # no variance: 0/0


def test_expressivity_and_progressivity_of_blocks_with_known_spectra():
    net = _Blocks(_ChannelScale(2.0, 1.0), _ChannelScale(1.0, 0.0))
    x = _orthogonal_channels((1.0, 1.0))
    # Maps: x (cov I), diag(4, 1), diag(4, 0): entropies H(.5,.5), H(.8,.2), 0.
    h = [_entropy([0.5, 0.5]), _entropy([0.8, 0.2]), 0.0]
    options = dict(init="given", input_source="given")
    assert az_expressivity(net, x, **options) == pytest.approx(sum(h), rel=1e-6)
    assert az_progressivity(net, x, **options) == pytest.approx(
        min(h[1] - h[0], h[2] - h[1]), rel=1e-6
    )
    assert AzNasPass.of(net, x, **options).expressivity == pytest.approx(h, abs=1e-6)


def test_trainability_of_linear_blocks_equals_their_gain():
    def expected(gain):
        return -gain - 1 / (gain + 1e-6) + 2

    # One channel: M = gain * mean(g_out^2) = gain exactly for a Rademacher g_out.
    pool = nn.AvgPool2d(
        2
    )  # stride 2: g_in = g_out / 4 on 4 pixels, unshuffled: M = (1/4)*[1,1,1,1]
    net = _Blocks(
        _ChannelScale(2.0),
        _ChannelScale(0.5),
        pool,
        _ChannelScale(1.5),
        _ChannelScale(1.0),
        nn.Identity(),
    )
    x = torch.zeros(4, 1, 8, 8)
    scores = AzNasPass.of(net, x).trainability
    assert scores[:4] == pytest.approx(
        [expected(2.0), expected(0.5), expected(0.5), expected(1.5)], abs=1e-6
    )
    # A block that passes g_out back unchanged (gain 1, identity) scores -inf, and so does the
    # mean (official code), though 2 - s - 1/s would be ~0, the best value.
    assert scores[4:] == (-math.inf, -math.inf) and az_trainability(net, x) == -math.inf
    assert az_trainability(_Blocks(_ChannelScale(2.0), _ChannelScale(0.5)), x) == pytest.approx(
        (expected(2.0) + expected(0.5)) / 2, abs=1e-6
    )


def test_block_trainability_reads_the_largest_singular_value():
    g = (
        torch.randint(0, 2, (8, 3, 4, 4), generator=torch.Generator().manual_seed(0)).float() * 2
        - 1
    )
    rows = g.permute(0, 2, 3, 1).reshape(-1, 3)
    sigma = float(torch.linalg.svdvals(3.0 * rows.T @ rows / rows.shape[0]).max())
    assert block_trainability(3.0 * g, g) == pytest.approx(
        -sigma - 1 / (sigma + 1e-6) + 2, rel=1e-6
    )
    assert block_trainability(g.clone(), g) == -math.inf
    assert block_trainability(torch.zeros_like(g), g) == pytest.approx(2 - 1e6)  # no gradient


def test_an_nb201_identity_cell_gives_minus_inf_trainability():
    torch.manual_seed(0)
    net = build_network(IDENTITY_CELL, C=4, N=1)
    x = torch.randn(8, 3, 16, 16)
    per_block = AzNasPass.of(copy.deepcopy(net), x).trainability
    assert [s == -math.inf for s in per_block] == [
        True,
        False,
        True,
        False,
        True,
    ]  # cells vs reductions
    assert compute("az_trainability", net, x) == -math.inf
    assert math.isfinite(compute("az_expressivity", net, x))


def test_complexity_equals_the_nats_api_flops():
    net = build_network(BEST_C10, "bench")
    # Printed in the official notebook: cifar10 153.27 M, cifar100 153.28 M, ImageNet16-120 38.33 M;
    # the larger classifiers add 64 multiply-adds and one bias per extra class.
    c10 = compute("az_complexity", net, torch.zeros(2, 3, 32, 32))
    assert c10 == pytest.approx(153.27297, abs=1e-5)
    assert c10 + 90 * 65 / 1e6 == pytest.approx(153.28, abs=0.005)
    in16 = compute("az_complexity", net, torch.zeros(2, 3, 16, 16)) + 110 * 65 / 1e6
    assert in16 == pytest.approx(38.33, abs=0.005)


# --------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("name", COMPONENTS)
def test_component_is_deterministic_and_leaves_the_model_and_rng_alone(name):
    torch.manual_seed(0)
    net = build_network(EVERY_OP, C=4, N=1)
    net.eval()
    x = torch.randn(8, 3, 16, 16)
    before, rng = _checksum(net), torch.get_rng_state()
    with torch.no_grad():
        value = compute(name, net, x)
        assert not torch.is_grad_enabled()
    assert math.isfinite(value)
    assert compute(name, net, x) == value
    assert _checksum(net) == before and torch.equal(torch.get_rng_state(), rng)
    assert all(not m.training for m in net.modules())
    spec = get_proxy(name)
    assert spec.higher_is_better and spec.reference and spec.description and spec.inputs == "shape"
    assert spec.shared_pass == (None if name == "az_complexity" else PASS_KIND)


def test_seed_and_init_options():
    torch.manual_seed(0)
    net, other = build_network(EVERY_OP, C=4, N=1), build_network(EVERY_OP, C=4, N=1)
    x = torch.randn(8, 3, 16, 16)
    value = az_trainability(copy.deepcopy(net), x)
    # Official init re-draws every weight and the input is Gaussian: neither the given weights
    # nor the given values matter, only the seed does.
    assert az_trainability(copy.deepcopy(other), torch.randn_like(x)) == value
    assert az_trainability(copy.deepcopy(net), x, seed=1) != value
    # init="given" keeps the built weights; input_source="given" reads the batch.
    assert az_trainability(copy.deepcopy(net), x, init="given") != az_trainability(
        copy.deepcopy(other), x, init="given"
    )
    assert az_expressivity(copy.deepcopy(net), x, input_source="given") != az_expressivity(
        copy.deepcopy(net), torch.randn_like(x), input_source="given"
    )
    with pytest.raises(InputError, match="init must be one of kaiming_fan_in, given; got 'xavier'"):
        az_expressivity(net, x, init="xavier")
    with pytest.raises(InputError, match="`model.cells`"):
        az_expressivity(nn.Conv2d(3, 3, 1), x)


def test_the_three_give_the_same_values_from_a_shared_pass():
    torch.manual_seed(0)
    net = build_network(EVERY_OP, C=4, N=1)
    x = torch.randn(8, 3, 16, 16)
    shared = SHARED_PASSES[PASS_KIND](copy.deepcopy(net), x, None)
    for fn in PASS_SHARERS:
        assert fn(copy.deepcopy(net), x, az_nas_pass=shared) == fn(copy.deepcopy(net), x)
    with pytest.raises(InputError, match="of a different network"):
        az_expressivity(build_network(EVERY_OP, C=4, N=1), x, az_nas_pass=shared)
    with pytest.raises(InputError, match="the shared AZ-NAS pass ran with"):
        az_expressivity(copy.deepcopy(net), x, seed=3, az_nas_pass=shared)


# --------------------------------------------------------------------------- aggregation


def _results(proxy: str, values) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    status = ["ok" if np.isfinite(v) else ("nan" if np.isnan(v) else "inf") for v in values]
    index = np.arange(len(values))
    return pd.DataFrame(
        {
            "space": "nb201",
            "index": index,
            "arch_str": [str(nb201.Nb201Arch.from_index(int(i))) for i in index],
            "proxy": proxy,
            "profile": "bench",
            "dataset": "cifar10",
            "value": np.where(np.isnan(values), np.nan, values),
            "status": status,
            "message": "",
            "seconds": 1.0,
            "repeats": 1,
            "higher_is_better": True,
            "config_hash": proxy[:4],
            "filled_from": pd.array([pd.NA] * len(values), dtype="Int64"),
        }
    )


def test_log_rank_sum_hand_example():
    e = [3.0, 1.0, 2.0, 4.0]  # ascending ranks 3, 1, 2, 4
    p = [0.5, 0.5, 0.1, 0.2]  # ties: 3.5, 3.5, 1, 2
    k = [10.0, 1.0, 5.0, 5.0]  # lower is better: ranks 1, 4, 2.5, 2.5
    expected = [
        math.log(3 / 4) + math.log(3.5 / 4) + math.log(1 / 4),
        math.log(1 / 4) + math.log(3.5 / 4) + math.log(4 / 4),
        math.log(2 / 4) + math.log(1 / 4) + math.log(2.5 / 4),
        math.log(4 / 4) + math.log(2 / 4) + math.log(2.5 / 4),
    ]
    np.testing.assert_allclose(log_rank_sum([e, p, k], [True, True, False]), expected)


def test_az_nas_is_added_whenever_its_four_components_are_present():
    assert NAMED_COMBINATIONS["az_nas"] == (get_proxy("az_nas").combines, "log_rank_sum")
    cols = {
        "az_expressivity": [50.0, 40.0, 45.0, np.nan],
        "az_progressivity": [-0.1, -0.3, -0.2, -0.5],
        "az_trainability": [-0.2, -math.inf, -0.1, -0.3],
        "az_complexity": [150.0, 20.0, 80.0, 10.0],
    }
    frame = pd.concat([_results(k, v) for k, v in cols.items()], ignore_index=True)
    # Placed as `correlate` does by default: nan and -inf at the worst end (official: -inf).
    placed = add_combined(place_undefined(add_labels(frame)))
    az = placed[placed["label"] == "az_nas/bench"].set_index("index")
    # Ranks (1 = worst): e 4,1,3,(nan)1 -> 4,2,3,1; p 4,2,3,1; t 3,1,4,2; c 4,2,3,1.
    expected = [
        np.log([4, 4, 3, 4]).sum(),
        np.log([2, 2, 1, 2]).sum(),
        np.log([3, 3, 4, 3]).sum(),
        np.log([1, 1, 2, 1]).sum(),
    ]
    np.testing.assert_allclose(az["value"], np.asarray(expected) - 4 * math.log(4))
    assert az["higher_is_better"].all() and set(az["status"]) == {"ok"}
    # Without placement the undefined cells drop out, and nothing is added without all four.
    plain = add_combined(add_labels(frame))
    assert list(plain[plain["label"] == "az_nas/bench"].set_index("index")["status"]) == [
        "ok",
        "inf",
        "ok",
        "nan",
    ]
    partial = add_combined(add_labels(frame[frame["proxy"] != "az_complexity"]))
    assert "az_nas/bench" not in set(partial["label"])
    # An explicit --combine of the four is a plain rank sum, kept beside az_nas.
    both = add_combined(place_undefined(add_labels(frame)), [COMPONENTS])
    assert {"az_nas/bench", "+".join(COMPONENTS) + "/bench"} <= set(both["label"])


# --------------------------------------------------------------------------- real NB201 cells


def test_components_on_real_cells_with_the_bench_profile():
    from harness.data import load_images
    from sweep.profiles import get_profile
    from sweep.scoring import CellScorer

    images = load_images("cifar10", "train")  # the embedded 4,000 real images
    together = CellScorer(get_profile("bench"), list(COMPONENTS), images)
    cells = [BEST_C10, EVERY_OP, IDENTITY_CELL]
    rows = {
        arch: {
            r.proxy: r for r in together.score(nb201.parse_arch(arch), [(n, 0) for n in COMPONENTS])
        }
        for arch in cells
    }
    for arch, by_name in rows.items():
        assert {r.status for r in by_name.values()} == (
            {"ok", "inf"} if arch == IDENTITY_CELL else {"ok"}
        ), arch
    assert rows[BEST_C10]["az_complexity"].value == pytest.approx(153.27297, abs=1e-5)
    assert rows[IDENTITY_CELL]["az_trainability"].value == -math.inf
    # Alone, each component gives the value it got from the shared pass (tiny profile: fast).
    small = get_profile("bench", image_network="tenas_ntk", batch_size=16)
    joint = CellScorer(small, list(COMPONENTS), images).score(
        nb201.parse_arch(EVERY_OP), [(n, 0) for n in COMPONENTS]
    )
    for row in joint:
        alone = CellScorer(small, [row.proxy], images).score(
            nb201.parse_arch(EVERY_OP), [(row.proxy, 0)]
        )[0]
        assert (alone.value, alone.status) == (row.value, row.status), row.proxy
