"""Shared plumbing of the zero-cost proxies: argument checks, prunable layers, weight gradients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import InputError

T = TypeVar("T")

#: The layers zero-cost-nas scores (``p_utils.get_layer_metric_array``): conv and linear weights.
PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)


def check_inputs(name: str, inputs, *, min_batch: int = 1, ndim: int | None = None) -> None:
    """Raise `InputError` unless `inputs` is a floating tensor batch the proxy can use."""
    if not isinstance(inputs, torch.Tensor):
        raise InputError(f"proxy {name!r} needs a tensor batch; got {type(inputs).__name__}.")
    if not inputs.is_floating_point():
        raise InputError(f"proxy {name!r} needs a floating-point batch; got dtype {inputs.dtype}.")
    if ndim is not None and inputs.dim() != ndim:
        raise InputError(
            f"proxy {name!r} needs a {ndim}-D batch (B, C, H, W); got shape {tuple(inputs.shape)}."
        )
    if inputs.dim() < 2 or inputs.shape[0] < min_batch:
        raise InputError(
            f"proxy {name!r} needs a batch of at least {min_batch} samples; "
            f"got shape {tuple(inputs.shape)}."
        )


def check_labels(name: str, inputs: torch.Tensor, labels) -> torch.Tensor:
    """Return `labels` if they are one integer class per sample, else raise `InputError`."""
    if labels is None:
        raise InputError(f"proxy {name!r} needs labels; got none.")
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dtype != torch.int64
        or labels.shape != (inputs.shape[0],)
    ):
        got = (
            f"{labels.dtype} tensor of shape {tuple(labels.shape)}"
            if isinstance(labels, torch.Tensor)
            else type(labels).__name__
        )
        raise InputError(
            f"proxy {name!r} needs int64 labels of shape ({inputs.shape[0]},); got {got}."
        )
    return labels


def prunable_layers(model: nn.Module) -> list[nn.Module]:
    """Conv2d and Linear modules in `model.modules()` order; their weights are made to need grad."""
    layers = [m for m in model.modules() if isinstance(m, PRUNABLE_TYPES)]
    for layer in layers:
        layer.weight.requires_grad_(True)
    return layers


def loss_weight_grads(
    model: nn.Module,
    layers: list[nn.Module],
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    create_graph: bool = False,
) -> list[torch.Tensor | None]:
    """Gradients of the batch's mean cross-entropy w.r.t. each layer's weight (None if unused)."""
    with torch.enable_grad():
        loss = F.cross_entropy(model(inputs), labels)
        return list(
            torch.autograd.grad(
                loss, [m.weight for m in layers], allow_unused=True, create_graph=create_graph
            )
        )


@dataclass(frozen=True)
class LossGrads:
    """One forward and backward pass of the batch loss, and what four proxies read from it.

    `grads` are the loss gradients of the conv/linear `weights` (snip, grad_norm, plain);
    `fisher` holds, per layer, each output channel's 0.5 * mean over the batch of (sum over
    positions of activation * dL/dactivation)^2 (fisher). A caller scoring several of these
    proxies on identical copies of a network computes the pass once (`CellScorer` does) and
    passes it as ``loss_grads=``.
    """

    weights: tuple[torch.Tensor, ...]
    grads: tuple[torch.Tensor | None, ...]
    fisher: tuple[torch.Tensor | None, ...]

    @classmethod
    def of(cls, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> LossGrads:
        model.train()
        layers = prunable_layers(model)
        channel_scores: dict[int, torch.Tensor] = {}

        def watch(index: int):
            def forward_hook(module, args, output):
                if not output.requires_grad:
                    return
                act = output.detach()

                def grad_hook(grad):
                    g_nk = (
                        (act * grad).sum(dim=tuple(range(2, act.dim())))
                        if act.dim() > 2
                        else act * grad
                    )
                    del_k = g_nk.pow(2).mean(0).mul(0.5)
                    channel_scores[index] = channel_scores.get(index, 0) + del_k

                output.register_hook(grad_hook)

            return forward_hook

        handles = [m.register_forward_hook(watch(i)) for i, m in enumerate(layers)]
        try:
            grads = loss_weight_grads(model, layers, inputs, labels)
        finally:
            for h in handles:
                h.remove()
        return cls(
            tuple(m.weight.detach() for m in layers),
            tuple(grads),
            tuple(channel_scores.get(i) for i in range(len(layers))),
        )


def conv_linear_weights(model: nn.Module) -> tuple[torch.Tensor, ...]:
    """Detached conv/linear weights: what identifies the network a shared pass was computed on."""
    return tuple(m.weight.detach() for m in model.modules() if isinstance(m, PRUNABLE_TYPES))


def shared_or_own(name: str, what: str, given, model: nn.Module, build: Callable[[], T]) -> T:
    """A pass the caller shared (`given`, after checking its `weights` are `model`'s conv/linear
    weights: else `InputError`), or, when none was given, the pass run here by `build()`."""
    if given is None:
        return build()
    mine = conv_linear_weights(model)
    if len(mine) != len(given.weights) or any(
        w.shape != v.shape or not torch.equal(w, v) for w, v in zip(mine, given.weights)
    ):
        raise InputError(
            f"proxy {name!r} was given {what} of a different network "
            f"({len(given.weights)} weights vs the model's {len(mine)}, or other values)."
        )
    return given


def layer_sum(values: list[torch.Tensor]) -> float:
    """Sum of per-layer tensors, accumulated in float64 (zero-cost-nas sums in the net's dtype)."""
    total = torch.zeros((), dtype=torch.float64)
    for v in values:
        total = total + v.detach().to(torch.float64).sum().cpu()
    return float(total)
