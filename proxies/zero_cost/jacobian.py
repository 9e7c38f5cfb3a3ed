"""Proxies of the input Jacobian's correlations across a batch: jacob_cov and EPE-NAS."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from proxies.registry import register_proxy
from proxies.zero_cost._common import check_inputs, check_labels, conv_linear_weights, shared_or_own

#: The regulariser both references add to eigenvalues / absolute correlations.
_K = 1e-5


def batch_input_jacobian(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Per-sample gradient of the sum of the logits w.r.t. the input, flattened to (B, D) float64,
    and the number of classes (the references' ``y.backward(torch.ones_like(y))``)."""
    x = inputs.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        (grad,) = torch.autograd.grad(logits.sum(), x)
    return grad.reshape(grad.shape[0], -1).to(torch.float64), logits.shape[1]


@dataclass(frozen=True)
class InputJacobian:
    """The input Jacobian of one train-mode forward/backward pass (`batch_input_jacobian`), shared by
    jacob_cov and epe_nas when a caller scores both on identical copies of a network."""

    weights: tuple[torch.Tensor, ...]
    jacobian: torch.Tensor
    num_classes: int

    @classmethod
    def of(cls, model: nn.Module, inputs: torch.Tensor, labels=None) -> InputJacobian:
        model.train()
        return cls(conv_linear_weights(model), *batch_input_jacobian(model, inputs))


def _jacobian_pass(
    name: str, model: nn.Module, inputs, given: InputJacobian | None
) -> InputJacobian:
    return shared_or_own(
        name, "an input Jacobian", given, model, lambda: InputJacobian.of(model, inputs)
    )


def jacob_cov_score(jacobian: torch.Tensor) -> float:
    """-sum_i [ln(v_i + k) + 1/(v_i + k)] over the eigenvalues v of the rows' correlation matrix."""
    corr = torch.corrcoef(jacobian)
    if not bool(torch.isfinite(corr).all()):
        return (
            math.nan
        )  # constant rows (zero Jacobian): numpy's eig raises and the reference gives nan
    v = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(v + _K) + 1.0 / (v + _K)).sum())


@register_proxy(
    "jacob_cov",
    higher_is_better=True,
    needs_real_data=True,
    uses_gradients=True,
    reference="SamsungLabs/zero-cost-nas foresight/pruners/measures/jacob_cov.py "
    "(= automl/NASLib measures/jacov.py; Mellor et al. 2021 v1)",
    shared_pass="input_jacobian",
)
def jacob_cov(
    model: nn.Module, inputs: torch.Tensor, labels=None, input_jacobian: InputJacobian | None = None
) -> float:
    """Jacobian covariance (NASWOT v1): -sum ln(v+k) + 1/(v+k) over the eigenvalues of corr(J).

    J holds one row per sample: the gradient of the sum of its logits w.r.t. its input. The
    Pearson correlation of the rows is eigendecomposed; k = 1e-5. Higher (closer to 0) is better.
    Train-mode BN. One forward and backward pass plus a B x B eigendecomposition.

    Warning:
        A cell with no path from input to output has J = 0: the correlations are undefined and
        the value is nan (the reference's ``eig`` raises and it records nan).
    """
    check_inputs("jacob_cov", inputs, min_batch=2)
    return jacob_cov_score(_jacobian_pass("jacob_cov", model, inputs, input_jacobian).jacobian)


def epe_nas_score(jacobian: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """EPE-NAS's ``eval_score_perclass`` on a (B, D) Jacobian with its labels."""
    per_class = []
    for c in torch.unique(labels).tolist():
        rows = jacobian[labels == c]
        corr = torch.corrcoef(rows)  # a single sample gives the 0-d correlation 1 (numpy does too)
        s = torch.log(corr.abs() + _K).sum()
        if num_classes > 100:
            if corr.dim() == 0:
                continue  # the reference's len() of a 0-d array raises and skips the class
            s = s / corr.shape[0]
        per_class.append(s)
    if not per_class:
        return 0.0
    s = torch.stack(per_class)
    if num_classes <= 100:
        return float(s.abs().sum())
    return float((s[:, None] - s[None, :]).abs().sum() / len(per_class))


@register_proxy(
    "epe_nas",
    higher_is_better=True,
    needs_labels=True,
    needs_real_data=True,
    uses_gradients=True,
    reference="VascoLopes/EPE-NAS search.py (eval_score_perclass)",
    shared_pass="input_jacobian",
)
def epe_nas(
    model: nn.Module, inputs: torch.Tensor, labels=None, input_jacobian: InputJacobian | None = None
) -> float:
    """EPE-NAS: per-class correlation of input Jacobians, summed as |sum ln(|corr| + k)| per class.

    J as in `jacob_cov`; the samples of each class c give a correlation matrix C_c and a score
    s_c = sum_ij ln(|C_c,ij| + 1e-5). With at most 100 classes (from the logits' width) the
    score is sum_c |s_c|; with more, s_c is divided by the class's sample count and the score is
    sum_{c,c'} |s_c - s_c'| / (classes seen), as the reference does. Higher is better.
    Train-mode BN. One forward and backward pass.

    Warning:
        A zero Jacobian (no path from input to output) gives nan correlations and a nan score.
    """
    check_inputs("epe_nas", inputs)
    labels = check_labels("epe_nas", inputs, labels)
    jac = _jacobian_pass("epe_nas", model, inputs, input_jacobian)
    return epe_nas_score(jac.jacobian, labels, jac.num_classes)
