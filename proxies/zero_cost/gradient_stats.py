"""Gradient statistics across mini-batches: ZiCo (inverse coefficient of variation of gradients)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from harness.errors import InputError
from proxies.registry import register_proxy
from proxies.zero_cost._common import (
    check_inputs,
    check_labels,
    conv_linear_weights,
    loss_weight_grads,
    prunable_layers,
    shared_or_own,
)

#: Batch parts ZiCo's statistics run over (the one-batch form of the MeCo repo's port).
SPLITS = 2


@dataclass(frozen=True)
class SplitGrads:
    """Each batch part's own loss gradients of the conv/linear weights (flattened, float64; None
    for a weight the loss never reaches), in train mode: what zico and zico_per_batch are both
    computed from, so a caller scoring both runs the `splits` passes once."""

    weights: tuple[torch.Tensor, ...]
    parts: tuple[tuple[torch.Tensor | None, ...], ...]  # [split][layer]

    @classmethod
    def of(
        cls, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, splits: int = SPLITS
    ) -> SplitGrads:
        model.train()
        layers = prunable_layers(model)
        n = inputs.shape[0]
        parts = []
        for sp in range(splits):
            part = slice(sp * n // splits, (sp + 1) * n // splits)
            grads = loss_weight_grads(model, layers, inputs[part], labels[part])
            parts.append(
                tuple(
                    None if g is None else g.detach().reshape(-1).to(torch.float64) for g in grads
                )
            )
        return cls(conv_linear_weights(model), tuple(parts))


def zico_score(grads: list[torch.Tensor]) -> float:
    """ZiCo's ``caculate_zico`` on one (batches, numel) gradient array per layer.

    Per layer: the per-weight std over batches (population std) and mean of |g|; over the weights
    with nonzero std, sum mean/std; add its natural log unless the sum is 0.
    """
    total = 0.0
    for g in grads:
        std = g.std(dim=0, unbiased=False)
        mean_abs = g.abs().mean(dim=0)
        nonzero = std != 0
        ratio_sum = float((mean_abs[nonzero] / std[nonzero]).sum())
        if ratio_sum != 0:
            total += math.log(ratio_sum)
    return total


@register_proxy(
    "zico",
    higher_is_better=True,
    needs_labels=True,
    needs_real_data=True,
    uses_gradients=True,
    accumulate=True,
    shared_pass="split_grads",
    reference="SLDGroup/ZiCo ZeroShotProxy/compute_zico.py (getzico, caculate_zico); one batch "
    "split in 2 as HamsterMimi/MeCo zero-cost-nas/foresight/pruners/measures/zico.py",
)
@register_proxy(
    "zico_per_batch",
    higher_is_better=True,
    needs_labels=True,
    needs_real_data=True,
    uses_gradients=True,
    accumulate=False,
    shared_pass="split_grads",
    description="ZiCo as the paper defines it: each half-batch's own gradient (official code accumulates).",
    reference="ZiCo paper definition (Li et al., ICLR 2023) with SLDGroup/ZiCo's caculate_zico; "
    "gradients of each half-batch separately",
)
def zico(
    model: nn.Module,
    inputs: torch.Tensor,
    labels=None,
    *,
    splits: int = SPLITS,
    accumulate: bool = True,
    split_grads: SplitGrads | None = None,
) -> float:
    """ZiCo: sum over conv and linear layers of ln sum_w mean_b|g_w| / std_b(g_w) over batch splits.

    The batch is cut into `splits` = 2 contiguous parts (the one-batch form of the MeCo repo's
    port); each part's mean cross-entropy is back-propagated in train mode. ``zico`` reproduces
    the official code, which never zeroes the gradients between parts, so its statistics are over
    the running sums g1, g1 + g2; ``zico_per_batch`` uses each part's own gradient, the paper's
    definition. Weights with zero std are skipped; a layer whose ratio sum is 0 adds nothing.
    Higher is better. `splits` forward and backward passes on 1/`splits` of the batch (shared by
    both variants through `split_grads`).
    """
    check_inputs("zico", inputs, min_batch=splits)
    labels = check_labels("zico", inputs, labels)
    split_grads = shared_or_own(
        "zico",
        "split gradients",
        split_grads,
        model,
        lambda: SplitGrads.of(model, inputs, labels, splits),
    )
    if len(split_grads.parts) != splits:
        raise InputError(
            f"proxy 'zico' needs gradients of {splits} batch parts; got {len(split_grads.parts)}."
        )
    per_layer: list[list[torch.Tensor]] = []
    for layer_parts in zip(*split_grads.parts):
        if any(g is None for g in layer_parts):
            continue
        grads = list(layer_parts)
        if accumulate:
            grads = [sum(grads[: k + 1]) for k in range(len(grads))]
        per_layer.append(torch.stack(grads))
    return zico_score(per_layer)
