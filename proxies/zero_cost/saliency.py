"""Pruning-at-initialisation saliencies summed over a net (zero-cost-nas, Abdelfattah et al. 2021).

Each proxy scores the conv and linear weights (``get_layer_metric_array``) and sums the per-weight
values to one number, as ``find_measures`` does. Nets are scored in train mode (batch-statistics
BN), as the references score a freshly built network; the loss is the mean cross-entropy.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from proxies.registry import register_proxy
from proxies.zero_cost._common import (
    LossGrads,
    check_inputs,
    check_labels,
    layer_sum,
    loss_weight_grads,
    prunable_layers,
    shared_or_own,
)

_ZC = (
    "SamsungLabs/zero-cost-nas foresight/pruners/measures/{} "
    "(= automl/NASLib naslib/predictors/utils/pruners/measures/{})"
)


def _weight_grads(name: str, model: nn.Module, inputs, labels, **kwargs):
    check_inputs(name, inputs)
    labels = check_labels(name, inputs, labels)
    model.train()
    layers = prunable_layers(model)
    return layers, loss_weight_grads(model, layers, inputs, labels, **kwargs)


def _loss_pass(
    name: str, model: nn.Module, inputs, labels, loss_grads: LossGrads | None
) -> LossGrads:
    """`loss_grads` when the caller computed the pass for this network, else the pass run here."""
    check_inputs(name, inputs)
    labels = check_labels(name, inputs, labels)
    return shared_or_own(
        name, "loss gradients", loss_grads, model, lambda: LossGrads.of(model, inputs, labels)
    )


@register_proxy(
    "snip",
    higher_is_better=True,
    needs_labels=True,
    needs_real_data=True,
    uses_gradients=True,
    reference=_ZC.format("snip.py", "snip.py"),
    shared_pass="loss_grads",
)
def snip(
    model: nn.Module, inputs: torch.Tensor, labels=None, loss_grads: LossGrads | None = None
) -> float:
    """SNIP connection sensitivity: sum of |w * dL/dw| over conv and linear weights.

    zero-cost-nas computes |dL/dm| for a multiplicative mask m = 1 on each weight, which equals
    |w * dL/dw| (Lee et al., ICLR 2019, without its normalisation). Higher is better. One
    forward and backward pass.
    """
    lg = _loss_pass("snip", model, inputs, labels, loss_grads)
    return layer_sum([(w * g).abs() for w, g in zip(lg.weights, lg.grads) if g is not None])


@register_proxy(
    "grad_norm",
    higher_is_better=True,
    needs_labels=True,
    needs_real_data=True,
    uses_gradients=True,
    reference=_ZC.format("grad_norm.py", "grad_norm.py"),
    shared_pass="loss_grads",
)
def grad_norm(
    model: nn.Module, inputs: torch.Tensor, labels=None, loss_grads: LossGrads | None = None
) -> float:
    """Sum over conv and linear layers of the Frobenius norm of the loss gradient of the weight.

    Per-layer norms, then summed, as zero-cost-nas does (not the norm of the full gradient). Higher
    is better. One forward and backward pass.
    """
    lg = _loss_pass("grad_norm", model, inputs, labels, loss_grads)
    return layer_sum([g.norm() for g in lg.grads if g is not None])


@register_proxy(
    "plain",
    higher_is_better=True,
    needs_labels=True,
    needs_real_data=True,
    uses_gradients=True,
    reference=_ZC.format("plain.py", "plain.py"),
    shared_pass="loss_grads",
)
def plain(
    model: nn.Module, inputs: torch.Tensor, labels=None, loss_grads: LossGrads | None = None
) -> float:
    """First-order Taylor saliency: sum of w * dL/dw over conv and linear weights (signed, no abs).

    Higher is better, as zero-cost-nas correlates it. One forward and backward pass.
    """
    lg = _loss_pass("plain", model, inputs, labels, loss_grads)
    return layer_sum([w * g for w, g in zip(lg.weights, lg.grads) if g is not None])


@register_proxy(
    "grasp",
    higher_is_better=True,
    needs_labels=True,
    needs_real_data=True,
    uses_gradients=True,
    reference=_ZC.format("grasp.py", "grasp.py"),
)
def grasp(model: nn.Module, inputs: torch.Tensor, labels=None) -> float:
    """GraSP with zero-cost-nas's sign: sum of -w * (H g) over conv and linear weights.

    g is the loss gradient of the weights from a first pass (treated as a constant), H g the
    Hessian-gradient product from a second pass (gradient of g_const . dL/dw). GraSP (Wang et al.,
    ICLR 2020) scores weights by -w * Hg and prunes the *highest*; zero-cost-nas keeps the minus
    sign and treats higher as better (its note: accuracy correlates negatively with +w * Hg).
    T = 1, one iteration. zero-cost-nas computes g and the differentiable gradient in two separate
    forward/backward passes over the same weights and batch; they are the same numbers, so we take
    g from the differentiable pass (detached): one forward, a backward with graph and a double
    backward (about 2x snip's cost).
    """
    layers, grad_f = _weight_grads("grasp", model, inputs, labels, create_graph=True)
    grad_w = [g.detach() if g is not None else None for g in grad_f]
    with torch.enable_grad():
        terms = [
            (gw * gf).sum() for gw, gf in zip(grad_w, grad_f) if gw is not None and gf is not None
        ]
        if not terms:
            return 0.0
        hg = torch.autograd.grad(
            torch.stack(terms).sum(), [m.weight for m in layers], allow_unused=True
        )
    return layer_sum([-m.weight * h for m, h in zip(layers, hg) if h is not None])


@register_proxy(
    "fisher",
    higher_is_better=True,
    needs_labels=True,
    needs_real_data=True,
    uses_gradients=True,
    reference=_ZC.format("fisher.py", "fisher.py"),
    shared_pass="loss_grads",
)
def fisher(
    model: nn.Module, inputs: torch.Tensor, labels=None, loss_grads: LossGrads | None = None
) -> float:
    """Channel Fisher saliency (Theis et al. 2018; Turner et al. 2020), summed as zero-cost-nas.

    For each conv/linear output channel k: 0.5 * mean over the batch of (sum over positions of
    activation * dL/dactivation)^2. zero-cost-nas broadcasts each channel's value over that
    channel's weights (``reshape_elements``) before summing, so a layer contributes
    sum_k value_k * (weights per output channel); we sum the same quantity. Higher is better.
    One forward and backward pass (the one snip, grad_norm and plain share).
    """
    lg = _loss_pass("fisher", model, inputs, labels, loss_grads)
    return layer_sum(
        [f.abs() * math.prod(w.shape[1:]) for w, f in zip(lg.weights, lg.fisher) if f is not None]
    )


@register_proxy(
    "l2_norm",
    higher_is_better=True,
    inputs="shape",
    copy_model=False,
    reference="automl/NASLib naslib/predictors/utils/pruners/measures/l2_norm.py",
)
def l2_norm(model: nn.Module, inputs: torch.Tensor, labels=None) -> float:
    """Sum over conv and linear layers of the Frobenius norm of the weight (data-free).

    Higher is better, as NASLib correlates it. `inputs` and `labels` are ignored; the model is
    not touched.
    """
    return layer_sum(
        [m.weight.detach().norm() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    )


def _remove_batchnorm(model: nn.Module) -> None:
    """Replace every BatchNorm with identity (zero-cost-nas's ``bn=False`` copy)."""
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            _remove_batchnorm(child)


@register_proxy(
    "synflow",
    higher_is_better=True,
    uses_gradients=True,
    inputs="shape",
    reference=_ZC.format("synflow.py", "synflow.py"),
)
@register_proxy(
    "synflow_bn",
    higher_is_better=True,
    uses_gradients=True,
    inputs="shape",
    bn=True,
    description="SynFlow with BatchNorm kept (zero-cost-nas synflow_bn): ln sum |w * dR/dw|.",
    reference=_ZC.format("synflow.py", "synflow.py") + " (measure 'synflow_bn')",
)
def synflow(model: nn.Module, inputs: torch.Tensor, labels=None, *, bn: bool = False) -> float:
    """Natural log of the SynFlow score: ln sum |w * dR/dw| over conv and linear weights.

    As zero-cost-nas: BatchNorm layers become identity (``synflow``; kept, in train mode, for
    ``synflow_bn``), the net is cast to float64, every state tensor is replaced by its absolute
    value, one all-ones sample of the batch's shape is fed forward, R = sum of the logits, and
    each weight scores |w * dR/dw| (Tanaka et al., NeurIPS 2020). The per-layer sums are combined
    with ``logsumexp`` of their logs, so the value stays finite where the score itself would pass
    float64's range; ln is monotone, so rankings equal those of the raw score. Higher is better.
    A score of 0 (no path from input to logits, e.g. an all-``none`` cell) gives -inf. Data-free:
    only the inputs' shape and device are used. One forward and backward pass in float64.

    Warning:
        Returns ln(score), not the score zero-cost-nas prints; exp() it to compare with theirs.
    """
    check_inputs("synflow", inputs)
    if not bn:
        _remove_batchnorm(model)
    model.train()
    model.double()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.abs_()
    layers = prunable_layers(model)
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)
    with torch.enable_grad():
        grads = torch.autograd.grad(
            model(ones).sum(), [m.weight for m in layers], allow_unused=True
        )
    per_layer = [
        (m.weight.detach() * g).abs().sum() for m, g in zip(layers, grads) if g is not None
    ]
    if not per_layer:
        return -math.inf
    return float(torch.logsumexp(torch.stack(per_layer).log(), dim=0))
