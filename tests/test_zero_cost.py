"""Zero-cost proxies: closed forms on tiny nets, invariances, every proxy on real NB201 cells."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import proxies  # noqa: F401  (registers every proxy)
from harness.errors import InputError
from harness.spaces.nb201_net import build_network
from harness.spaces.ops import Nb201ReLUConvBN
from proxies.registry import PROXIES, compute, get_proxy
from tests.conftest import SHARED_DATA
from proxies.zero_cost import (
    SHARED_PASSES,
    epe_nas,
    fisher,
    flops,
    grad_norm,
    grasp,
    hamming_kernel,
    jacob_cov,
    l2_norm,
    meco,
    naswot,
    params,
    plain,
    snip,
    zen,
    zico,
)

ZERO_COST = sorted(
    s.name
    for s in PROXIES
    if s.fn is not None and getattr(s.fn, "func", s.fn).__module__.startswith("proxies.zero_cost")
)
EVERY_OP = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"

#: What each proxy gives on the all-`none` cell (no path from input to logits), C=4, N=1: the
#: gradient/activation of every weight before the classifier is zero or input-independent.
DISCONNECTED = {
    "naswot": -math.inf,  # all samples share every ReLU code: K has rank 1
    "synflow": -math.inf,  # score 0, ln 0
    "synflow_bn": -math.inf,
    "zen": -math.inf,  # f(x) == f(x + a e): ln 0
    "jacob_cov": math.nan,  # zero Jacobian: undefined correlations
    "epe_nas": math.nan,
    "snip": 0.0,  # classifier input is 0, so every weight gradient is 0
    "grad_norm": 0.0,
    "plain": 0.0,
    "grasp": 0.0,
    "zico": 0.0,  # every gradient std is 0: no layer contributes
    "zico_per_batch": 0.0,
    # finite and nonzero: params, flops, l2_norm (size only), fisher (the classifier's bias still
    # gives its outputs a gradient), meco, meco_opt (the stem conv still sees the image).
}


def _batch(b=8, size=16, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, size, size, generator=g), torch.randint(0, classes, (b,), generator=g)


def _checksum(model: nn.Module) -> list[tuple[str, float]]:
    return [
        (k, float(v.double().abs().sum()) + float(v.double().sum()))
        for k, v in model.state_dict().items()
    ]


def _linear_net(d_in=5, d_out=3, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out)


def _linear_data(b=6, d_in=5, d_out=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d_in, generator=g, dtype=torch.float64), torch.randint(
        0, d_out, (b,), generator=g
    )


def _ce_grad(model: nn.Linear, x, y):
    """Closed-form dL/dW and dL/dz for the mean cross-entropy of a linear model z = W x + b."""
    z = x @ model.weight.detach().T + model.bias.detach()
    p = torch.softmax(z, dim=1)
    dz = (p - F.one_hot(y, z.shape[1]).to(z.dtype)) / x.shape[0]
    return dz.T @ x, dz, z, p


# --------------------------------------------------------------------------- size baselines


def test_params_counts_trainable_parameters_in_millions():
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),
    )
    x = torch.zeros(2, 3, 8, 8)
    assert params(net, x) == pytest.approx((3 * 4 * 9 + 4 + 2 * 4 + 4 * 10 + 10) / 1e6, abs=0)
    net[1].requires_grad_(False)
    assert params(net, x) == pytest.approx((3 * 4 * 9 + 4 + 4 * 10 + 10) / 1e6, abs=0)


@pytest.mark.data
def test_params_matches_the_nb201_table():
    csv = SHARED_DATA / "nb201" / "nb201_accuracy.csv"  # the full table: params_M_cifar10
    import pandas as pd

    df = pd.read_csv(csv, usecols=["index", "params_M_cifar10"])
    for i in (0, 1, 6111):
        value = params(build_network(i, "bench"), torch.zeros(1, 3, 32, 32))
        assert value == pytest.approx(df.params_M_cifar10[i], abs=1e-6)


def test_flops_equal_the_closed_form_of_one_layer():
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    x = torch.randn(5, 3, 16, 16)
    assert compute("flops", conv, x) == pytest.approx(2 * (8 * 8 * 8) * (3 * 3 * 3) / 1e6)
    lin = nn.Linear(6, 7)
    assert compute("flops", lin, torch.randn(4, 6)) == pytest.approx(2 * 6 * 7 / 1e6)
    # Per sample: the batch size never matters.
    assert flops(nn.Conv2d(3, 8, 3), torch.randn(1, 3, 16, 16)) == flops(nn.Conv2d(3, 8, 3), x)


def test_l2_norm_sums_frobenius_norms_of_conv_and_linear_weights():
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.Flatten(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([3.0, 4.0]).reshape(2, 1, 1, 1))
        net[2].weight.copy_(torch.tensor([[1.0, -1.0]]))
    assert l2_norm(net, torch.zeros(1, 1, 1, 1)) == pytest.approx(5.0 + math.sqrt(2))


# --------------------------------------------------------------------------- synflow


def test_synflow_is_log_of_twice_the_output_of_a_positive_linear_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Linear(4, 2, bias=False))
    w1, w2 = net[0].weight.detach().double().abs(), net[1].weight.detach().double().abs()
    r = float(torch.ones(2, dtype=torch.float64) @ w2 @ w1 @ torch.ones(3, dtype=torch.float64))
    # sum_theta theta dR/dtheta = R for each layer (R is linear in each), so the score is 2R.
    assert compute("synflow", net, torch.randn(7, 3)) == pytest.approx(math.log(2 * r), rel=1e-12)
    # Signs of the weights do not matter (synflow scores |theta|), nor do the input values.
    with torch.no_grad():
        net[0].weight.neg_()
    assert compute("synflow", net, torch.zeros(2, 3)) == pytest.approx(math.log(2 * r), rel=1e-12)


def test_synflow_turns_batchnorm_into_identity():
    torch.manual_seed(0)
    conv, head = (
        nn.Conv2d(3, 4, 3, bias=False),
        nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)),
    )
    without_bn, with_bn = nn.Sequential(conv, head), nn.Sequential(conv, nn.BatchNorm2d(4), head)
    x = torch.randn(5, 3, 6, 6)
    assert compute("synflow", with_bn, x) == compute("synflow", without_bn, x)
    # synflow_bn keeps it (train mode, one all-ones sample), which changes the value.
    assert compute("synflow_bn", with_bn, x) != compute("synflow", with_bn, x)


@pytest.mark.slow
def test_synflow_finite_on_the_benchmark_net():
    torch.manual_seed(0)
    net = build_network(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "bench",
    )
    value = compute("synflow", net, torch.zeros(64, 3, 32, 32))
    assert math.isfinite(value) and value > math.log(torch.finfo(torch.float32).max)


# --------------------------------------------------------------------------- NASWOT


def test_hamming_kernel_of_hand_made_codes():
    codes = torch.tensor([[1, 0, 1], [1, 1, 0], [0, 0, 0]], dtype=torch.bool)
    expected = torch.tensor([[3, 1, 1], [1, 3, 1], [1, 1, 3]], dtype=torch.float64)  # 3 - Hamming
    assert torch.equal(hamming_kernel(codes), expected)


def test_naswot_is_logdet_of_the_summed_relu_kernels():
    x = torch.tensor([[1.0, -1.0, 2.0], [3.0, 4.0, -5.0], [-1.0, -1.0, -1.0]])  # codes as above
    one_relu = nn.Sequential(nn.ReLU(), nn.Linear(3, 2))
    assert naswot(one_relu, x) == pytest.approx(
        math.log(20.0)
    )  # det [[3,1,1],[1,3,1],[1,1,3]] = 20
    # The second ReLU sees relu(x): the same codes, so K doubles and det grows by 2^3.
    two_relus = nn.Sequential(nn.ReLU(), nn.ReLU6(), nn.Linear(3, 2))
    assert naswot(two_relus, x) == pytest.approx(math.log(160.0))
    # Two identical samples make K singular.
    assert naswot(one_relu, torch.cat([x, x[:1]])) == -math.inf


# --------------------------------------------------------------------------- saliencies


def test_snip_grad_norm_plain_fisher_match_closed_forms_on_a_linear_net():
    net = _linear_net().double()
    x, y = _linear_data()
    grad_w, dz, z, _ = _ce_grad(net, x, y)
    w = net.weight.detach()
    assert snip(net, x, y) == pytest.approx(float((w * grad_w).abs().sum()), rel=1e-10)
    assert grad_norm(net, x, y) == pytest.approx(float(grad_w.norm()), rel=1e-10)
    assert plain(net, x, y) == pytest.approx(float((w * grad_w).sum()), rel=1e-10)
    # Fisher of output channel k: 0.5 mean_b (z_bk dL/dz_bk)^2, spread over the row's 5 weights.
    per_channel = 0.5 * (z * dz).pow(2).mean(0)
    assert fisher(net, x, y) == pytest.approx(float(per_channel.sum() * 5), rel=1e-10)


def test_fisher_sums_activation_times_gradient_over_positions_of_a_conv():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()).double()
    x = torch.randn(4, 2, 5, 5, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 2])
    z = net(x).detach()  # logits = spatial mean of the conv output
    dz = (torch.softmax(z, 1) - F.one_hot(y, 3).double()) / 4
    # sum over positions of act * dL/dact = dL/dz * (sum_pos act / 25) = dz * z; 2 weights/channel.
    assert fisher(net, x, y) == pytest.approx(
        float(0.5 * (z * dz).pow(2).mean(0).sum() * 2), rel=1e-10
    )


def test_grasp_is_minus_w_dot_hessian_gradient_on_a_linear_net():
    net = _linear_net().double()
    x, y = _linear_data()
    grad_w, _, _, p = _ce_grad(net, x, y)
    # Hessian of the mean softmax cross-entropy in W times G: mean_b ((diag p - pp^T) G x_b) x_b^T.
    hg = sum(
        torch.outer((torch.diag(pb) - torch.outer(pb, pb)) @ grad_w @ xb, xb)
        for pb, xb in zip(p, x)
    )
    hg = hg / x.shape[0]
    expected = float(-(net.weight.detach() * hg).sum())
    assert grasp(net, x, y) == pytest.approx(expected, rel=1e-9)


class _TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.fc1, self.fc2 = nn.Linear(12, 16).double(), nn.Linear(16, 4).double()

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def _two_layer_jacobian(net: _TwoLayer, x):
    """d(sum of logits)/dx per sample, in closed form: W1^T diag(relu'(h)) W2^T 1."""
    w1, w2 = net.fc1.weight.detach().double(), net.fc2.weight.detach().double()
    h = x.double() @ w1.T + net.fc1.bias.detach().double()
    return ((h > 0).double() * w2.sum(0)) @ w1


def test_jacob_cov_matches_the_reference_formula():
    net = _TwoLayer()
    x = torch.randn(8, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v = np.linalg.eig(np.corrcoef(_two_layer_jacobian(net, x).numpy()))[0].real
    expected = -np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5))
    assert jacob_cov(net, x) == pytest.approx(expected, rel=1e-9)


def test_epe_nas_matches_the_reference_formula_and_its_one_sample_classes():
    net = _TwoLayer()
    x = torch.randn(8, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 3, 3])
    j = _two_layer_jacobian(net, x).numpy()
    expected = sum(
        abs(np.sum(np.log(np.abs(np.corrcoef(j[y.numpy() == c])) + 1e-5))) for c in range(4)
    )
    assert epe_nas(net, x, y) == pytest.approx(expected, rel=1e-9)
    # Every class with one sample: each correlation is 1 and contributes ln(1 + 1e-5).
    assert epe_nas(net, x[:4], torch.arange(4)) == pytest.approx(4 * math.log(1 + 1e-5))


@pytest.mark.parametrize("name", ["jacob_cov", "epe_nas"])
def test_jacobian_proxies_ignore_the_scale_of_the_logits(name):
    torch.manual_seed(0)
    net = build_network(EVERY_OP, C=4, N=1)
    x, y = _batch()
    before = compute(name, net, x, y)
    with torch.no_grad():
        net.classifier.weight.mul_(3.0)
    assert compute(name, net, x, y) == pytest.approx(before, rel=1e-6)


# --------------------------------------------------------------------------- ZiCo


def test_zico_matches_closed_form_half_batch_gradients():
    net = _linear_net(d_in=5, d_out=3).double()
    x, y = _linear_data(b=8)
    g1 = _ce_grad(net, x[:4], y[:4])[0].reshape(-1)
    g2 = _ce_grad(net, x[4:], y[4:])[0].reshape(-1)

    def ref(a, b):
        g = np.stack([a.numpy(), b.numpy()])
        std, mean = g.std(0), np.abs(g).mean(0)
        return math.log(np.sum(mean[std != 0] / std[std != 0]))

    assert zico(net, x, y, accumulate=False) == pytest.approx(ref(g1, g2), rel=1e-9)
    # The official code never zeroes .grad: its second "batch" gradient is g1 + g2.
    assert zico(net, x, y) == pytest.approx(ref(g1, g1 + g2), rel=1e-9)
    assert compute("zico", net, x, y) == zico(net, x, y)


def test_zico_on_two_identical_halves():
    net = _linear_net(d_in=5, d_out=3).double()
    x, y = _linear_data(b=4)
    x, y = torch.cat([x, x]), torch.cat([y, y])
    # Per-batch gradients are equal: every std is 0 and no layer contributes.
    assert compute("zico_per_batch", net, x, y) == 0.0
    # Accumulated: (g, 2g) has mean 1.5|g| and std |g|/2, a ratio of 3 per nonzero weight gradient.
    nonzero = int((_ce_grad(net, x[:4], y[:4])[0] != 0).sum())
    assert compute("zico", net, x, y) == pytest.approx(math.log(3 * nonzero))


# --------------------------------------------------------------------------- MeCo


def _meco_net(weight):
    net = nn.Sequential(
        nn.Conv2d(2, len(weight), 1, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(len(weight), 3),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(weight, dtype=torch.float32).reshape(len(weight), 2, 1, 1))
    return net


def test_meco_least_eigenvalue_of_a_known_correlation():
    u = torch.tensor([[1.0, -1.0], [1.0, -1.0]])
    v = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # uncorrelated with u, same variance
    x = torch.randn(3, 2, 2, 2)
    x[0] = torch.stack([u, v])  # only the first sample is used
    # Channels u and u + v: correlation 1/sqrt(2), eigenvalues 1 -+ 1/sqrt(2).
    assert meco(_meco_net([[1.0, 0.0], [1.0, 1.0]]), x) == pytest.approx(
        1 - 1 / math.sqrt(2), rel=1e-6
    )
    # Uncorrelated channels: the identity, least eigenvalue 1. Under 8 channels: meco_opt = meco.
    assert meco(_meco_net([[1.0, 0.0], [0.0, 1.0]]), x) == pytest.approx(1.0)
    assert compute("meco_opt", _meco_net([[1.0, 0.0], [1.0, 1.0]]), x) == pytest.approx(
        1 - 1 / math.sqrt(2), rel=1e-6
    )


def test_meco_ignores_the_scale_of_convs_followed_by_bn():
    torch.manual_seed(0)
    net = build_network(EVERY_OP, C=4, N=1)
    x, _ = _batch()
    before = compute("meco", net, x)
    # Conv outputs' correlations ignore their scale, and the BN after each conv removes it.
    with torch.no_grad():
        for m in [net.stem[0]] + [m[1] for m in net.modules() if isinstance(m, Nb201ReLUConvBN)]:
            m.weight.mul_(2.5)
    assert compute("meco", net, x) == pytest.approx(before, rel=1e-4)


# --------------------------------------------------------------------------- Zen


class _Scale(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


class _DeadBN(nn.Module):
    """Adds BN(0 * x) = 0 to x: a BN whose batch variance is always 0."""

    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return x + self.bn(x * 0)


def _zen_net(*extra):
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        *extra,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),
    )


def test_zen_known_scalings():
    x = torch.zeros(6, 3, 8, 8)  # only the shape is used
    base = zen(_zen_net(), x)
    # Scaling the pre-GAP features by s adds ln s.
    assert zen(_zen_net(_Scale(5.0)), x) == pytest.approx(base + math.log(5.0), rel=1e-6)
    # A BN that only sees zeros keeps running var 0.9^2 after two momentum-0.1 updates: + ln 0.9.
    assert zen(_zen_net(_DeadBN(4)), x) == pytest.approx(base + math.log(0.9), rel=1e-6)
    # With 3 repeats its running var after repeat r is 0.9^(2r): the mean adds 2 ln 0.9.
    assert zen(_zen_net(_DeadBN(4)), x, repeat=3) - zen(_zen_net(), x, repeat=3) == pytest.approx(
        2 * math.log(0.9), rel=1e-6
    )


def test_zen_depends_on_seed_and_shape_only():
    torch.manual_seed(0)
    net = build_network(EVERY_OP, C=4, N=1)
    x, _ = _batch()
    value = compute("zen", net, x)
    assert (
        compute("zen", build_network(EVERY_OP, C=4, N=1), torch.randn_like(x)) == value
    )  # other weights
    assert zen(net, x, seed=1) != value


# --------------------------------------------------------------------------- every proxy on NB201


@pytest.mark.parametrize("name", ZERO_COST)
def test_proxy_on_every_nb201_op_and_a_disconnected_cell(name):
    spec = get_proxy(name)
    x, y = _batch()
    labels = y if spec.needs_labels else None
    for arch in (EVERY_OP, ALL_NONE):
        torch.manual_seed(0)
        net = build_network(arch, C=4, N=1)
        net.eval()
        before, rng = _checksum(net), torch.get_rng_state()
        with torch.no_grad():  # the caller's grad mode must not matter, and must be restored
            value = compute(name, net, x, labels)
            assert not torch.is_grad_enabled()
        assert compute(name, net, x, labels) == pytest.approx(value, nan_ok=True)  # deterministic
        assert _checksum(net) == before
        assert all(not m.training for m in net.modules())
        assert torch.equal(torch.get_rng_state(), rng)
        if arch == EVERY_OP:
            assert math.isfinite(value)
        elif name in DISCONNECTED:
            assert value == pytest.approx(DISCONNECTED[name], nan_ok=True)
        else:
            assert math.isfinite(value) and value != 0


def test_zero_cost_proxies_are_all_registered():
    expected = {
        "params",
        "flops",
        "naswot",
        "synflow",
        "snip",
        "grasp",
        "fisher",
        "grad_norm",
        "plain",
        "l2_norm",
        "jacob_cov",
        "epe_nas",
        "zen",
        "zico",
        "meco",
    }
    assert expected <= set(ZERO_COST)
    for name in ZERO_COST:
        spec = get_proxy(name)
        assert spec.description and spec.reference
        # Proxies that read labels say so; data-free ones declare inputs="shape".
        assert spec.needs_labels == (
            name
            in {
                "snip",
                "grasp",
                "fisher",
                "grad_norm",
                "plain",
                "epe_nas",
                "zico",
                "zico_per_batch",
            }
        )
        data_free = name in {"params", "flops", "l2_norm", "synflow", "synflow_bn", "zen"}
        assert (spec.inputs == "shape") == data_free
        assert not (data_free and spec.needs_real_data)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "name", ["snip", "grasp", "fisher", "grad_norm", "plain", "epe_nas", "zico"]
)
def test_label_proxies_reject_missing_or_malformed_labels(name):
    net = build_network(EVERY_OP, C=4, N=1)
    x, y = _batch()
    fn = get_proxy(name).fn
    with pytest.raises(InputError, match="needs labels"):
        fn(net, x, None)
    with pytest.raises(InputError, match=r"int64 labels of shape \(8,\)"):
        fn(net, x, y[:4])


def test_shape_errors_name_the_bad_value():
    with pytest.raises(InputError, match="AdaptiveAvgPool2d"):
        zen(nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten()), torch.zeros(2, 3, 4, 4))
    with pytest.raises(InputError, match=r"4-D batch .* got shape \(2, 3\)"):
        meco(nn.Linear(3, 2), torch.zeros(2, 3))
    with pytest.raises(InputError, match="floating-point"):
        naswot(nn.Linear(3, 2), torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(InputError, match="at least 2 samples"):
        zico(nn.Linear(3, 2), torch.zeros(1, 3), torch.zeros(1, dtype=torch.int64))


# --------------------------------------------------------------------------- benchmark net


@pytest.mark.slow
@pytest.mark.parametrize("name", ZERO_COST)
def test_proxy_finite_on_the_benchmark_net(name):
    torch.manual_seed(0)
    net = build_network(EVERY_OP, "bench")
    x, y = _batch(b=64, size=32)
    value = compute(name, net, x, y if get_proxy(name).needs_labels else None)
    assert math.isfinite(value)


# --------------------------------------------------------------------------- shared passes


def test_grasp_one_pass_equals_zero_cost_nas_two_pass_form_on_a_real_cell():
    # zero-cost-nas takes g from a first, separate forward/backward; ours reuses the
    # differentiable pass. Same weights, same batch: the score must be the same number.
    torch.manual_seed(0)
    net = build_network(EVERY_OP, C=4, N=1)
    x, y = _batch()
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    weights = [m.weight for m in layers]
    first = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    second = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True)
    hg = torch.autograd.grad(sum((a * b).sum() for a, b in zip(first, second)), weights)
    expected = float(sum((-w.detach() * h).double().sum() for w, h in zip(weights, hg)))
    assert grasp(copy.deepcopy(net), x, y) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "kind, sharers",
    [
        ("loss_grads", (snip, grad_norm, plain, fisher)),
        ("input_jacobian", (jacob_cov, epe_nas)),
        ("split_grads", (zico, get_proxy("zico_per_batch").fn)),
    ],
)
def test_proxies_give_the_same_value_from_a_shared_pass(kind, sharers):
    torch.manual_seed(0)
    net = build_network(EVERY_OP, C=4, N=1)
    x, y = _batch()
    shared = SHARED_PASSES[kind](copy.deepcopy(net), x, y)
    for fn in sharers:
        assert fn(copy.deepcopy(net), x, y, **{kind: shared}) == fn(copy.deepcopy(net), x, y)
    other = build_network(EVERY_OP, C=4, N=1)  # fresh weights: not the network the pass saw
    with pytest.raises(InputError, match="of a different network"):
        sharers[0](other, x, y, **{kind: shared})
    names = {getattr(fn, "func", fn).__name__ for fn in sharers}
    assert {getattr(s.fn, "func", s.fn).__name__ for s in PROXIES if s.shared_pass == kind} == names
