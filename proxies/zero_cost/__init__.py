"""The standard zero-cost proxies the field compares TE-NAS against.

Importing this package registers them; each module holds one family of proxies.
"""

from proxies.zero_cost import activations, counts, gradient_stats, jacobian, saliency
from proxies.zero_cost._common import LossGrads
from proxies.zero_cost.gradient_stats import SplitGrads
from proxies.zero_cost.jacobian import InputJacobian
from proxies.zero_cost.activations import hamming_kernel, meco, naswot, zen
from proxies.zero_cost.counts import flops, params
from proxies.zero_cost.gradient_stats import zico
from proxies.zero_cost.jacobian import epe_nas, jacob_cov
from proxies.zero_cost.saliency import fisher, grad_norm, grasp, l2_norm, plain, snip, synflow

#: Builders of the passes proxies may share (`ProxySpec.shared_pass`): fn(model, inputs, labels).
SHARED_PASSES = {
    "loss_grads": LossGrads.of,
    "input_jacobian": InputJacobian.of,
    "split_grads": SplitGrads.of,
}

__all__ = [
    "SHARED_PASSES",
    "InputJacobian",
    "LossGrads",
    "SplitGrads",
    "activations",
    "counts",
    "epe_nas",
    "fisher",
    "flops",
    "grad_norm",
    "gradient_stats",
    "grasp",
    "hamming_kernel",
    "jacob_cov",
    "jacobian",
    "l2_norm",
    "meco",
    "naswot",
    "params",
    "plain",
    "saliency",
    "snip",
    "synflow",
    "zen",
    "zico",
]
