"""Candidate operations of the NB201 space, as NB201/AutoDL implement them (ReLU -> Conv -> BN).

The DARTS space (`harness.spaces.darts.ops`) reuses `Zero` and `Pooling`; it has its own
`DartsReLUConvBN` / `DartsFactorizedReduce`, which differ from `Nb201ReLUConvBN` /
`Nb201FactorizedReduce` here. Every op has the factory signature
``(C_in, C_out, stride, affine, track_running_stats) -> nn.Module``.
"""

from __future__ import annotations

import torch
from torch import nn


class Nb201ReLUConvBN(nn.Sequential):
    """NB201's ReLU -> conv -> BN; the conv has a bias exactly when the BN is not affine (AutoDL).

    Not DARTS's `DartsReLUConvBN` (never a conv bias; layers under ``op``).
    """

    def __init__(self, C_in, C_out, kernel, stride, padding, dilation, affine=True, track=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in,
                C_out,
                kernel,
                stride=stride,
                padding=padding,
                dilation=dilation,
                bias=not affine,
            ),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track),
        )


class Zero(nn.Module):
    """The `none` op: zeros of the output shape (``x * 0`` keeps it in the autograd graph)."""

    def __init__(self, C_in, C_out, stride):
        super().__init__()
        self.C_in, self.C_out, self.stride = C_in, C_out, stride

    def forward(self, x):
        if self.C_in == self.C_out:
            return (
                x.mul(0.0) if self.stride == 1 else x[:, :, :: self.stride, :: self.stride].mul(0.0)
            )
        shape = list(x.shape)
        shape[1] = self.C_out
        if self.stride != 1:
            shape[2] = (shape[2] + 1) // self.stride
            shape[3] = (shape[3] + 1) // self.stride
        return x.new_zeros(shape)


class Nb201FactorizedReduce(nn.Module):
    """Skip connection that changes resolution (two offset 1x1 stride-2 convs) or channels (stride 1:
    one 1x1 conv, no ReLU); convs have a bias when the BN is not affine. Not DARTS's
    `DartsFactorizedReduce` (stride 2 only, no conv bias)."""

    def __init__(self, C_in, C_out, stride, affine=True, track=True):
        super().__init__()
        self.stride = stride
        self.relu = nn.ReLU(inplace=False)
        if stride == 2:
            half = C_out // 2
            self.convs = nn.ModuleList(
                [
                    nn.Conv2d(C_in, half, 1, stride=2, padding=0, bias=not affine),
                    nn.Conv2d(C_in, C_out - half, 1, stride=2, padding=0, bias=not affine),
                ]
            )
            self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0)
        elif stride == 1:
            self.conv = nn.Conv2d(C_in, C_out, 1, stride=1, padding=0, bias=not affine)
        else:
            raise ValueError(f"Nb201FactorizedReduce supports stride 1 or 2; got {stride!r}.")
        self.bn = nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track)

    def forward(self, x):
        if self.stride == 2:
            x = self.relu(x)
            y = self.pad(x)
            out = torch.cat([self.convs[0](x), self.convs[1](y[:, :, 1:, 1:])], dim=1)
        else:
            out = self.conv(x)
        return self.bn(out)


class Pooling(nn.Module):
    """3x3 pooling (padding not counted); a 1x1 Nb201ReLUConvBN pre-projection when channels change."""

    def __init__(self, C_in, C_out, stride, mode="avg", affine=True, track=True):
        super().__init__()
        self.preprocess = (
            None if C_in == C_out else Nb201ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track)
        )
        if mode == "avg":
            self.op = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        elif mode == "max":
            self.op = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            raise ValueError(f"pooling mode must be 'avg' or 'max'; got {mode!r}.")

    def forward(self, x):
        return self.op(self.preprocess(x) if self.preprocess is not None else x)


def _skip(C_in, C_out, stride, affine, track):
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    return Nb201FactorizedReduce(C_in, C_out, stride, affine, track)


NB201_OPS = {
    "none": lambda C_in, C_out, stride, affine, track: Zero(C_in, C_out, stride),
    "skip_connect": _skip,
    "nor_conv_1x1": lambda C_in, C_out, stride, affine, track: Nb201ReLUConvBN(
        C_in, C_out, 1, stride, 0, 1, affine, track
    ),
    "nor_conv_3x3": lambda C_in, C_out, stride, affine, track: Nb201ReLUConvBN(
        C_in, C_out, 3, stride, 1, 1, affine, track
    ),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine, track: Pooling(
        C_in, C_out, stride, "avg", affine, track
    ),
}


class ResNetBasicBlock(nn.Module):
    """NB201's fixed reduction block: two 3x3 Nb201ReLUConvBN (first stride 2) + avgpool/1x1 shortcut."""

    def __init__(self, C_in, C_out, stride, affine=True, track=True):
        super().__init__()
        self.conv_a = Nb201ReLUConvBN(C_in, C_out, 3, stride, 1, 1, affine, track)
        self.conv_b = Nb201ReLUConvBN(C_out, C_out, 3, 1, 1, 1, affine, track)
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(C_in, C_out, 1, stride=1, padding=0, bias=False),
            )
        elif C_in != C_out:
            self.downsample = Nb201ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track)
        else:
            self.downsample = None
        self.out_dim = C_out

    def forward(self, x):
        residual = self.downsample(x) if self.downsample is not None else x
        return residual + self.conv_b(self.conv_a(x))
