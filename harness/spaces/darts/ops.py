"""DARTS's candidate operations (DARTS ``operations.py``: ReLU -> conv -> BN, convs never have a bias).

Every op has the factory signature of `harness.spaces.ops` (the NB201 ops):
``(C_in, C_out, stride, affine, track_running_stats) -> nn.Module``. `Zero` and `Pooling` are the
shared implementations; `DartsReLUConvBN` and `DartsFactorizedReduce` differ from NB201's
`Nb201ReLUConvBN` / `Nb201FactorizedReduce` (no conv bias even without affine BN, DARTS's module
and parameter names), hence their own names.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harness.spaces.darts.genotypes import OPS
from harness.spaces.ops import Pooling, Zero


class DartsReLUConvBN(nn.Module):
    """DARTS's ReLU -> conv (no bias, whatever `affine`) -> BN, under ``op`` as in DARTS's state dicts.

    Not NB201's `Nb201ReLUConvBN`, whose conv has a bias when the BN is not affine and which has
    no ``op`` wrapper.
    """

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True, track=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track),
        )

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> dilated depthwise conv -> pointwise conv -> BN."""

    def __init__(
        self, C_in, C_out, kernel_size, stride, padding, dilation, affine=True, track=True
    ):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in,
                C_in,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=C_in,
                bias=False,
            ),
            nn.Conv2d(C_in, C_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track),
        )

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked (ReLU -> depthwise -> pointwise -> BN) blocks; only the first is strided."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True, track=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in, bias=False
            ),
            nn.Conv2d(C_in, C_in, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_in, affine=affine, track_running_stats=track),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track),
        )

    def forward(self, x):
        return self.op(x)


class DartsFactorizedReduce(nn.Module):
    """DARTS's stride-2 skip: ReLU, two 1x1 stride-2 convs offset by one pixel, concat, BN.

    On odd sizes DARTS's slicing gives mismatched halves; like AutoDL we pad one zero row/column
    first, which leaves the result on even sizes (all of DARTS's own networks) unchanged. Not NB201's
    `Nb201FactorizedReduce` (stride 1 or 2, conv bias without affine BN, other parameter names).
    """

    def __init__(self, C_in, C_out, affine=True, track=True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track)

    def forward(self, x):
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _skip(C_in, C_out, stride, affine, track):
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    if stride != 2:
        raise ValueError(
            f"skip_connect changes shape only with stride 2; got stride {stride}, {C_in}->{C_out}."
        )
    return DartsFactorizedReduce(C_in, C_out, affine, track)


# Factory signature as in `harness.spaces.ops`: (C_in, C_out, stride, affine, track) -> module.
# Within DARTS cells C_in == C_out always; Zero and Pooling are the shared implementations.
DARTS_OPS = {
    "none": lambda C_in, C_out, stride, affine, track: Zero(C_in, C_out, stride),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda C_in, C_out, stride, affine, track: SepConv(
        C_in, C_out, 3, stride, 1, affine, track
    ),
    "sep_conv_5x5": lambda C_in, C_out, stride, affine, track: SepConv(
        C_in, C_out, 5, stride, 2, affine, track
    ),
    "dil_conv_3x3": lambda C_in, C_out, stride, affine, track: DilConv(
        C_in, C_out, 3, stride, 2, 2, affine, track
    ),
    "dil_conv_5x5": lambda C_in, C_out, stride, affine, track: DilConv(
        C_in, C_out, 5, stride, 4, 2, affine, track
    ),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine, track: Pooling(
        C_in, C_out, stride, "avg", affine, track
    ),
    "max_pool_3x3": lambda C_in, C_out, stride, affine, track: Pooling(
        C_in, C_out, stride, "max", affine, track
    ),
}
assert tuple(DARTS_OPS) == OPS


def preprocess_ops(
    C_prev_prev: int, C_prev: int, C: int, reduction_prev: bool, affine=True, track=True
):
    """The cell's input projections: s0 is halved if the previous cell reduced; both become C channels."""
    pre0 = (
        DartsFactorizedReduce(C_prev_prev, C, affine, track)
        if reduction_prev
        else DartsReLUConvBN(C_prev_prev, C, 1, 1, 0, affine, track)
    )
    return pre0, DartsReLUConvBN(C_prev, C, 1, 1, 0, affine, track)
