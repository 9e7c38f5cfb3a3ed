"""Forward-only proxies of a network's activations: NASWOT, MeCo and Zen-NAS."""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.errors import InputError
from proxies.registry import register_proxy
from proxies.zero_cost._common import check_inputs

# --------------------------------------------------------------------------- NASWOT


def hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """NASWOT's kernel of binary codes (B, D): c c^T + (1-c)(1-c)^T, i.e. D minus the Hamming
    distance of every pair of rows, in float64."""
    c = codes.to(torch.float32 if codes.shape[1] < 2**24 else torch.float64)  # counts stay exact
    ones = c.sum(dim=1, dtype=torch.float64)
    agree = (c @ c.T).to(torch.float64)
    return 2 * agree - ones[:, None] - ones[None, :] + codes.shape[1]


@register_proxy(
    "naswot",
    higher_is_better=True,
    needs_real_data=True,
    reference="BayesWatch/nas-without-training score_networks.py + scores.py "
    "(hook_logdet; = automl/NASLib measures/nwot.py)",
)
def naswot(model: nn.Module, inputs: torch.Tensor, labels=None) -> float:
    """NASWOT (Mellor et al., ICML 2021): log|det K| of the ReLU-code kernel of the batch.

    Every module whose class name contains ``ReLU`` contributes the binary code (input > 0) of
    each sample; K sums `hamming_kernel` over them and the score is ``slogdet(K)[1]``. Higher is
    better. Train-mode BN, one forward pass (no gradients).

    Warning:
        The original also skips ReLUs the backward pass never reaches; every ReLU of an NB201
        net is reached (the ``none`` op multiplies by 0 and keeps the graph), so the values agree.
        A singular K (e.g. two identical images in the batch) gives -inf.
    """
    check_inputs("naswot", inputs)
    batch = inputs.shape[0]
    kernel = torch.zeros(batch, batch, dtype=torch.float64, device=inputs.device)

    def hook(module, args, output):
        nonlocal kernel
        kernel = kernel + hamming_kernel(args[0].detach().reshape(batch, -1) > 0)

    handles = [m.register_forward_hook(hook) for m in model.modules() if "ReLU" in type(m).__name__]
    model.train()
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(kernel.cpu()).logabsdet)


# --------------------------------------------------------------------------- MeCo


def min_correlation_eigenvalue(feature: torch.Tensor) -> torch.Tensor:
    """MeCo's per-layer term: smallest eigenvalue of the channels' Pearson correlation matrix of one
    sample's (C, H, W) feature map; undefined correlations (constant channels) count as 0."""
    fea = feature.reshape(feature.shape[0], -1).to(torch.float64)
    corr = torch.atleast_2d(torch.corrcoef(fea))  # one channel: the 0-d correlation 1
    corr = torch.where(torch.isfinite(corr), corr, torch.zeros_like(corr))
    return torch.linalg.eigvalsh(corr)[0]


@register_proxy(
    "meco",
    higher_is_better=True,
    needs_real_data=True,
    reference="HamsterMimi/MeCo correlation/NAS_Bench_201.py get_score "
    "(measure 'meco'; also zero-cost-nas/foresight/pruners/measures/meco.py)",
)
@register_proxy(
    "meco_opt",
    higher_is_better=True,
    needs_real_data=True,
    num_channels=8,
    description="MeCo_opt: as meco, on 8 seeded channels per layer scaled by C/8 (all channels when C <= 8).",
    reference="HamsterMimi/MeCo correlation/NAS_Bench_201.py get_score (measure 'meco_opt')",
)
def meco(
    model: nn.Module,
    inputs: torch.Tensor,
    labels=None,
    *,
    num_channels: int | None = None,
    seed: int = 0,
) -> float:
    """MeCo: sum over conv layers of the least eigenvalue of one sample's channel correlations.

    MeCo (Jiang et al., NeurIPS 2023) correlates (Pearson) the output channels of each layer.

    Only the batch's first sample is fed (MeCo's "one data", batch size 1 in its NB201 script),
    in train mode; each ``nn.Conv2d`` output's channels are correlated over positions and the
    smallest eigenvalue taken (nan/inf correlations set to 0; nan/inf terms dropped, as the
    reference does). ``meco_opt`` (MeCo_opt) correlates `num_channels` = 8 channels drawn with a
    generator seeded by `seed` and scales the term by C / 8; a layer with at most 8 channels
    uses them all. Higher is better. One forward pass of one sample.

    Warning:
        The reference hooks every module (containers, BN, ReLU, pooling, the logits), so its sum
        repeats a container's output once per nesting level and depends on how the network is
        split into modules; we take one term per convolution, the layers of MeCo's definition.
        Its MeCo_opt raises (nan) for layers with fewer than 8 channels.
    """
    check_inputs("meco", inputs, ndim=4)
    generator = torch.Generator().manual_seed(seed) if num_channels is not None else None
    terms: list[torch.Tensor] = []

    def hook(module, args, output):
        feature = output[0].detach()
        channels = feature.shape[0]
        scale = 1.0
        if num_channels is not None and channels > num_channels:
            pick = torch.randperm(channels, generator=generator)[:num_channels].to(feature.device)
            feature, scale = feature[pick], channels / num_channels
        terms.append(min_correlation_eigenvalue(feature) * scale)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.train()
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        for h in handles:
            h.remove()
    if not terms:
        return 0.0
    values = torch.stack(terms)
    return float(values[torch.isfinite(values)].sum())


# --------------------------------------------------------------------------- Zen-NAS


def _gaussian_init(model: nn.Module, generator: torch.Generator) -> None:
    """Zen-NAS's ``network_weight_gaussian_init``: N(0, 1) conv/linear weights, zero biases, unit
    norm scales."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.normal_(0.0, 1.0, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif (
            isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) and m.weight is not None
        ):
            m.weight.fill_(1.0)
            m.bias.zero_()


def _pre_gap_module(model: nn.Module) -> nn.Module:
    pools = [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        raise InputError(
            f"proxy 'zen' takes the features before global average pooling from the input of "
            f"the last nn.AdaptiveAvgPool2d module; {type(model).__name__} has none."
        )
    return pools[-1]


@register_proxy(
    "zen",
    higher_is_better=True,
    inputs="shape",
    reference="idstcv/ZenNAS ZeroShotProxy/compute_zen_score.py (repeat=1, as its searches)",
)
def zen(
    model: nn.Module,
    inputs: torch.Tensor,
    labels=None,
    *,
    mixup_gamma: float = 1e-2,
    repeat: int = 1,
    seed: int = 0,
) -> float:
    """Zen-score: ln E|f(x) - f(x + a*e)|_1 + sum over BNs of ln sqrt(mean running variance).

    As Zen-NAS (Lin et al., ICCV 2021) computes it: the weights are re-drawn N(0, 1) (BN scale
    1, biases 0), x and e are standard Gaussian batches of the inputs' shape, a = `mixup_gamma` =
    0.01, f is the feature map before global average pooling (the input of the model's last
    ``nn.AdaptiveAvgPool2d``, our assumption for where ZenNAS's ``forward_pre_GAP`` stops), the
    L1 norm is over (C, H, W) and averaged over the batch; BN runs in train mode, so each BN's
    running variance is the momentum-0.1 update of its reset value 1 by the two forward passes.
    Averaged over `repeat` draws (running statistics carry over between repeats, as in the
    reference). Weights and inputs come from a generator seeded by `seed`: the same seed gives
    the same value, whatever the model's weights or the inputs' values. Higher is better. Two
    forward passes, no gradients.

    Warning:
        A cell whose output does not depend on its input gives f(x) = f(x + a*e) and -inf.
    """
    check_inputs("zen", inputs, ndim=4)
    if repeat < 1:
        raise InputError(f"zen's repeat must be a positive integer; got {repeat!r}.")
    features: list[torch.Tensor] = []
    handle = _pre_gap_module(model).register_forward_hook(
        lambda m, args, out: features.append(args[0])
    )
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
    model.train()
    scores = []
    try:
        with torch.no_grad():
            for _ in range(repeat):
                _gaussian_init(model, generator)
                x = torch.randn(
                    inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype
                )
                e = torch.randn(
                    inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype
                )
                features.clear()
                model(x)
                model(x + mixup_gamma * e)
                diff = (features[0] - features[1]).abs().sum(dim=(1, 2, 3)).mean()
                bn_scale = sum(
                    float(torch.log(torch.sqrt(m.running_var.mean())))
                    for m in norms
                    if m.running_var is not None
                )
                scores.append(float(torch.log(diff)) + bn_scale)
    finally:
        handle.remove()
    return math.fsum(scores) / len(scores)
