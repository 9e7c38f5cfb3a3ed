"""AZ-NAS (Lee & Ham, CVPR 2024): expressivity, progressivity and trainability of the block
feature maps from one seeded pass, and NB201's FLOPs as complexity. The population-level
combination (`az_nas`, sum of log normalised ranks) lives in `reports.combine`. Every departure
from the official code is an option here and is written down in docs/az_nas.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import InputError
from proxies.registry import register_combined, register_proxy
from proxies.zero_cost import SHARED_PASSES
from proxies.zero_cost._common import check_inputs, conv_linear_weights, shared_or_own

REFERENCE = (
    "cvlab-yonsei/AZ-NAS NB201/ZeroShotProxy/compute_az_nas_score.py (compute_nas_score) "
    "and tss_general.ipynb; deviations in docs/az_nas.md"
)
COMPONENTS: tuple[str, ...] = (
    "az_expressivity",
    "az_progressivity",
    "az_trainability",
    "az_complexity",
)
#: The `ProxySpec.shared_pass` kind of the three components read from one forward/backward pass.
PASS_KIND = "az_nas_pass"
#: How the network is initialised before the pass: the official Kaiming-normal (fan-in, ReLU gain)
#: re-draw, or the weights the caller built ("given").
INITS: tuple[str, ...] = ("kaiming_fan_in", "given")
#: What the network is fed: the official standard-Gaussian batch of the inputs' shape, or the
#: inputs themselves ("given", e.g. real images).
INPUT_SOURCES: tuple[str, ...] = ("gaussian", "given")
_LOG_EPS = 1e-8  # the official entropy's log(p + 1e-8)
_SIGMA_EPS = 1e-6  # the official trainability's 1 / (sigma_max + 1e-6)


# --------------------------------------------------------------------------- per-map scores


def feature_entropy(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalue spectrum of a feature map's channel covariance.

    The (B, C, H, W) map is read as B*H*W samples of C channels; after centring, their covariance
    Sigma = F^T F / (B*H*W) has eigenvalues s, p = s / sum(s) and the score is
    sum_i -p_i ln(p_i + 1e-8): ln C for isotropic features, 0 for rank one.
    Computed in the feature's dtype, as the official code. A map with zero variance gives nan.
    """
    b, c, h, w = feature.shape
    flat = feature.detach().permute(0, 2, 3, 1).reshape(b * h * w, c)
    flat = flat - flat.mean(dim=0, keepdim=True)
    sigma = flat.T @ flat / flat.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float((-p * torch.log(p + _LOG_EPS)).sum())


def block_trainability(g_in: torch.Tensor, g_out: torch.Tensor) -> float:
    """One block's trainability from a random output cotangent and its vector-Jacobian product.

    With g_out (B, Co, Ho, Wo) Rademacher and g_in = J^T g_out the gradient it sends to the
    block's input, a stride-r block's g_in is pixel-unshuffled by r to the output's resolution;
    M = G_in^T G_out / (B*Ho*Wo) over positions estimates the block's Jacobian (up to the
    unshuffle) and the score is 2 - sigma_max(M) - 1 / (sigma_max(M) + 1e-6):
    0 when the largest singular value is 1, negative otherwise. A block whose g_in equals g_out
    exactly (an identity block) scores -inf, as the official code.
    """
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    b, co, ho, wo = g_out.shape
    rows_out = g_out.permute(0, 2, 3, 1).reshape(b * ho * wo, co)
    rows_in = g_in.permute(0, 2, 3, 1).reshape(b * ho * wo, g_in.shape[1])
    sigma_max = float(torch.linalg.matrix_norm(rows_in.T @ rows_out / rows_out.shape[0], ord=2))
    return -sigma_max - 1.0 / (sigma_max + _SIGMA_EPS) + 2.0


# --------------------------------------------------------------------------- the pass


def block_features(model: nn.Module, x: torch.Tensor, name: str = "az_nas") -> list[torch.Tensor]:
    """The input of the first block and the output of every block of ``model.cells`` in one
    forward pass (for NB201: the stem's output and the 17 cells' and reduction blocks' outputs,
    as AZ-NAS's ``extract_cell_features``), still attached to the autograd graph."""
    cells = getattr(model, "cells", None)
    if not isinstance(cells, nn.ModuleList) or len(cells) == 0:
        raise InputError(
            f"proxy {name!r} reads the feature map after each block of `model.cells` (an "
            f"nn.ModuleList of blocks run in sequence, as the NB201 network's); "
            f"{type(model).__name__} has none."
        )
    features: list[torch.Tensor] = []
    handles = [cells[0].register_forward_pre_hook(lambda m, args: features.append(args[0]))]
    handles += [c.register_forward_hook(lambda m, args, out: features.append(out)) for c in cells]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return features


def kaiming_fan_in_init(model: nn.Module, generator: torch.Generator) -> None:
    """The official ``init_model(model, 'kaiming_norm_fanin')``: conv and linear weights
    N(0, 2 / fan_in), their biases 0, norm layers' scale 1 and shift 0; drawn from `generator`."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(
            f"AZ-NAS option {option} must be one of {', '.join(choices)}; got {value!r}."
        )


@dataclass(frozen=True)
class AzNasPass:
    """One AZ-NAS pass over a network: per feature map its spectral entropy, per block its
    trainability, shared by az_expressivity, az_progressivity and az_trainability when a caller
    scores them on identical copies of a network (`CellScorer` does).

    `weights` are the conv/linear weights the network had when given (before any re-draw), which
    identify it; `settings` are the (seed, init, input_source) the pass ran with.
    """

    weights: tuple[torch.Tensor, ...]
    settings: tuple[int, str, str]
    expressivity: tuple[float, ...]  # per feature map: the first block's input, then each output
    trainability: tuple[float, ...] | None  # per block, first to last; None when not computed

    @classmethod
    def of(
        cls,
        model: nn.Module,
        inputs: torch.Tensor,
        labels=None,
        *,
        seed: int = 0,
        init: str = "kaiming_fan_in",
        input_source: str = "gaussian",
        trainability: bool = True,
    ) -> AzNasPass:
        """Run the pass (mutates `model`: weights re-drawn unless init='given', train mode, BN
        running statistics). The generator seeded by `seed` draws, in the official order, the
        weights, the Gaussian batch, then one Rademacher cotangent per block from the last block
        to the first; `trainability=False` stops before the cotangents (same other values)."""
        _check_choice("init", init, INITS)
        _check_choice("input_source", input_source, INPUT_SOURCES)
        identity = tuple(w.clone() for w in conv_linear_weights(model))
        generator = torch.Generator(device=inputs.device).manual_seed(seed)
        if init == "kaiming_fan_in":
            kaiming_fan_in_init(model, generator)
        if input_source == "gaussian":
            x = torch.randn(
                inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype
            )
        else:
            x = inputs.detach().clone()
        model.train()
        with torch.enable_grad():
            features = block_features(model, x.requires_grad_(True))
            entropies = tuple(feature_entropy(f) for f in features)
            per_block = None
            if trainability:
                scores = []
                for f_in, f_out in reversed(list(zip(features[:-1], features[1:]))):
                    g_out = torch.randint(
                        0, 2, f_out.shape, generator=generator, device=f_out.device
                    )
                    g_out = g_out.to(f_out.dtype).mul_(2.0).sub_(1.0)
                    g_in = None
                    if f_out.requires_grad:
                        (g_in,) = torch.autograd.grad(f_out, f_in, g_out, allow_unused=True)
                    scores.append(
                        block_trainability(torch.zeros_like(f_in) if g_in is None else g_in, g_out)
                    )
                per_block = tuple(reversed(scores))
        return cls(identity, (seed, init, input_source), entropies, per_block)


def _pass(
    name: str,
    model: nn.Module,
    inputs,
    given: AzNasPass | None,
    *,
    seed: int,
    init: str,
    input_source: str,
    trainability: bool,
) -> AzNasPass:
    check_inputs(name, inputs, ndim=4, min_batch=1)
    result = shared_or_own(
        name,
        "an AZ-NAS pass",
        given,
        model,
        lambda: AzNasPass.of(
            model,
            inputs,
            seed=seed,
            init=init,
            input_source=input_source,
            trainability=trainability,
        ),
    )
    if result.settings != (seed, init, input_source):
        raise InputError(
            f"proxy {name!r} runs with (seed, init, input_source) = {(seed, init, input_source)}; "
            f"the shared AZ-NAS pass ran with {result.settings}."
        )
    if len(result.expressivity) < 2:
        raise InputError(
            f"proxy {name!r} needs at least one block; got {len(result.expressivity) - 1}."
        )
    if trainability and result.trainability is None:
        raise InputError(
            f"proxy {name!r} needs the trainability scores; the shared pass skipped them."
        )
    return result


# --------------------------------------------------------------------------- the proxies

_PASS_OPTIONS = dict(inputs="shape", shared_pass=PASS_KIND, reference=REFERENCE)


def _from_pass(trainability: bool) -> Callable:
    """Decorator: turn ``score(pass) -> float`` into the proxy ``fn(model, inputs, labels=None, *,
    seed=0, init="kaiming_fan_in", input_source="gaussian", az_nas_pass=None) -> float`` that reads
    the shared AZ-NAS pass (`_pass`: computed here unless the scorer gives it), with the score's
    name and docstring. The three pass-based components share this signature and these checks."""

    def decorate(score: Callable[[AzNasPass], float]) -> Callable:
        def proxy(
            model: nn.Module,
            inputs: torch.Tensor,
            labels=None,
            *,
            seed: int = 0,
            init: str = "kaiming_fan_in",
            input_source: str = "gaussian",
            az_nas_pass: AzNasPass | None = None,
        ) -> float:
            p = _pass(
                score.__name__,
                model,
                inputs,
                az_nas_pass,
                seed=seed,
                init=init,
                input_source=input_source,
                trainability=trainability,
            )
            return score(p)

        proxy.__name__ = proxy.__qualname__ = score.__name__
        proxy.__doc__ = score.__doc__
        return proxy

    return decorate


@register_proxy("az_expressivity", higher_is_better=True, **_PASS_OPTIONS)
@_from_pass(trainability=False)
def az_expressivity(p: AzNasPass) -> float:
    """AZ-NAS expressivity: sum over feature maps of the entropy of their covariance spectrum.

    The maps are the first block's input and every block's output (NB201: stem + 17 blocks = 18),
    each scored by `feature_entropy`. As the official code: Kaiming-normal
    fan-in re-init, a standard-Gaussian batch of the inputs' shape, train-mode BN; here both are
    drawn from a generator seeded by `seed` (common random numbers; the official code continues
    one global stream across cells). Higher is better. One forward pass and a C x C
    eigendecomposition per map.

    Warning:
        A map with zero variance (a cell with no path from its input) gives 0/0 and nan (the
        official code maps it to -inf; reports place nan at the worst end by default).
    """
    return float(np.sum(p.expressivity))


@register_proxy("az_progressivity", higher_is_better=True, **_PASS_OPTIONS)
@_from_pass(trainability=False)
def az_progressivity(p: AzNasPass) -> float:
    """AZ-NAS progressivity: the smallest increase of feature entropy from one block to the next.

    min over consecutive maps l of E_{l+1} - E_l, with E the per-map entropies of
    `az_expressivity`; negative when some block lowers it. Same pass and settings
    as az_expressivity. Higher is better.

    Warning:
        nan when any map's entropy is nan (see az_expressivity).
    """
    return float(np.min(np.diff(np.asarray(p.expressivity, dtype=np.float64))))


@register_proxy("az_trainability", higher_is_better=True, uses_gradients=True, **_PASS_OPTIONS)
@_from_pass(trainability=True)
def az_trainability(p: AzNasPass) -> float:
    """AZ-NAS trainability: mean over blocks of 2 - s - 1/s, s the top singular value of its Jacobian.

    Per block (NB201: 17), a Rademacher cotangent g_out is pulled back through that block alone
    and `block_trainability` scores G_in^T G_out / positions. Same pass and
    settings as az_expressivity, plus one cotangent per block, drawn last block first. Higher
    (closer to 0) is better. One forward pass and one backward pass through each block.

    Warning:
        A block that passes g_out back unchanged (an NB201 cell computing its input, e.g. a skip
        edge 0->3 and `none` elsewhere) scores -inf, so the mean is -inf, as the official code;
        reports place -inf at the worst end by default.
    """
    return float(np.mean(np.asarray(p.trainability, dtype=np.float64)))


def nb201_flops(model: nn.Module, sample_shape: tuple[int, ...], device=None, dtype=None) -> float:
    """FLOPs of one sample as NB201 counts them (xautodl ``get_model_infos``): multiply-adds of
    every Conv2d and Linear plus one per output element of their biases, in millions."""
    total = [0]

    def count(m, args, out):
        if isinstance(m, nn.Conv2d):
            per_position = m.in_channels // m.groups * m.out_channels * math.prod(m.kernel_size)
            positions = out.shape[0] * out.shape[2] * out.shape[3]
            total[0] += (per_position + (m.out_channels if m.bias is not None else 0)) * positions
        else:
            total[0] += out.shape[0] * (
                m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)
            )

    handles = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(sample_shape, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
    return total[0] / sample_shape[0] / 1e6


@register_proxy("az_complexity", higher_is_better=True, inputs="shape", reference=REFERENCE)
def az_complexity(model: nn.Module, inputs: torch.Tensor, labels=None) -> float:
    """AZ-NAS complexity: NB201's FLOPs of the network for one input of the batch's shape, in M.

    Counted as NB201 and the NATS API that AZ-NAS reads them from: multiply-adds of conv and
    linear layers plus their bias additions (pooling, BN and activations not counted), for one
    all-zeros sample in eval mode. Higher is better (AZ-NAS favours larger networks).

    Warning:
        Puts the model in eval mode (the registry gives it a copy). The official code takes the
        value for the benchmark's dataset; this counts it for the inputs' shape and the model's
        classifier, which ranks NB201 cells identically (docs/az_nas.md).
    """
    check_inputs("az_complexity", inputs, ndim=4)
    return nb201_flops(model, (1, *inputs.shape[1:]), inputs.device, inputs.dtype)


register_combined(
    "az_nas",
    COMPONENTS,
    description="AZ-NAS ranking: sum over its 4 components of ln(rank/n), best rank n; higher is better.",
    reference=f"Lee & Ham, CVPR 2024 (AZ-NAS); {REFERENCE}",
)

# The CellScorer computes a shared pass once per network through this table.
if PASS_KIND in SHARED_PASSES:
    raise RuntimeError(f"shared pass {PASS_KIND!r} is registered twice.")
SHARED_PASSES[PASS_KIND] = AzNasPass.of
