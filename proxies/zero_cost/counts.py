"""Size baselines: trainable parameters and forward FLOPs, in millions as NASLib reports them."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from proxies.registry import register_proxy
from proxies.zero_cost._common import check_inputs

_NASLIB = (
    "automl/NASLib naslib/predictors/utils/pruners/predictive.py (find_measures: 'params', 'flops')"
)


@register_proxy(
    "params",
    higher_is_better=True,
    inputs="shape",
    copy_model=False,
    reference=f"{_NASLIB}; p_utils.py count_parameters",
)
def params(model: nn.Module, inputs: torch.Tensor, labels=None) -> float:
    """Trainable parameters of the network, in millions.

    Counts every parameter with ``requires_grad`` (NASLib's ``count_parameters``) and divides by
    1e6, as NASLib's ``find_measures`` does. Higher is better (bigger nets train to higher
    accuracy on NB201). `inputs` and `labels` are ignored; the model is not touched.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6


@register_proxy(
    "flops",
    higher_is_better=True,
    inputs="shape",
    reference=f"{_NASLIB}; counted with torch.utils.flop_counter.FlopCounterMode",
)
def flops(model: nn.Module, inputs: torch.Tensor, labels=None) -> float:
    """Forward FLOPs of one sample, in millions (2 FLOPs per multiply-add, i.e. 2 x MACs).

    Runs one all-zeros sample of the batch's shape (``(1, *inputs.shape[1:])``, the inputs' dtype
    and device) through the model in eval mode under ``FlopCounterMode`` and divides the total by
    1e6. Higher is better.

    Warning:
        ``FlopCounterMode`` counts matrix products and convolutions (conv and linear layers) only;
        batch norm, activations, pooling, additions and biases are not counted. NASLib's
        tensorwatch counts differ in these terms, so absolute values differ from its tables while
        the ranking of NB201 cells (dominated by convolutions) is essentially the same. Puts the
        model in eval mode: the registry gives it a copy.
    """
    check_inputs("flops", inputs)
    sample = inputs.new_zeros((1, *inputs.shape[1:]))
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(sample)
    return counter.get_total_flops() / 1e6
