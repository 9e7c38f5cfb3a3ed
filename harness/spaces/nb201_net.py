"""One builder for every NB201 network: the benchmark net, TE-NAS's proxy nets and the supernet.

``Nb201Network(edge_ops, C, N, ...)`` takes, per edge, the candidate ops to instantiate. A cell
network has one op per edge and computes exactly NB201's ``InferCell``; a supernet has all ops
on every edge and mixes them with ``softmax(arch_parameters)``, skipping ops whose weight is
<= 0.01 as TE-NAS does (pruned ops carry alpha -1000). Networks return logits only.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import nn

from harness.spaces.nb201 import EDGES, OPS, Nb201Arch, parse_arch
from harness.spaces.ops import NB201_OPS, ResNetBasicBlock

PRUNED_ALPHA = -1000.0
ACTIVE_WEIGHT_THRESHOLD = 0.01

# The networks of the benchmark and of TE-NAS (docs/tenas-spec.md §3).
PRESETS: dict[str, dict] = {
    # NB201's own network: C=16, N=5 cells per stage.
    "bench": dict(C=16, N=5, stem=True, in_channels=3),
    # TE-NAS NTK net: C=3, N=1, with stem, all layers.
    "tenas_ntk": dict(C=3, N=1, stem=True, in_channels=3),
    # TE-NAS linear-region "thin" net: one C=1 cell fed the 1-channel input directly.
    "tenas_lr": dict(C=1, N=1, stem=False, in_channels=1, depth=1),
}


class Nb201Cell(nn.Module):
    """A cell with a list of candidate ops per edge (one op per edge = NB201's InferCell)."""

    def __init__(
        self, C_in: int, C_out: int, edge_ops: Sequence[Sequence[str]], affine=True, track=True
    ):
        super().__init__()
        self.edge_ops = tuple(tuple(ops) for ops in edge_ops)
        self.edges = nn.ModuleList(
            nn.ModuleList(
                NB201_OPS[op](C_in if j == 0 else C_out, C_out, 1, affine, track) for op in ops
            )
            for (i, j), ops in zip(EDGES, self.edge_ops)
        )
        self.out_dim = C_out

    def forward(self, x, weights: list[list[float]] | None = None, weight_tensor=None):
        nodes = [x]
        for i in range(1, 4):
            terms = []
            for e, (to, frm) in enumerate(EDGES):
                if to != i:
                    continue
                if weights is None:
                    terms.extend(op(nodes[frm]) for op in self.edges[e])
                else:
                    terms.extend(
                        op(nodes[frm]) * weight_tensor[e, k]
                        for k, op in enumerate(self.edges[e])
                        if weights[e][k] > ACTIVE_WEIGHT_THRESHOLD
                    )
            nodes.append(sum(terms))
        return nodes[-1]


class Nb201Network(nn.Module):
    """NB201 macro skeleton: [stem] -> N cells -> ResBlock(2C) -> N cells -> ResBlock(4C) -> N cells
    -> BN + ReLU -> global average pooling -> linear classifier, truncated to `depth` layers."""

    def __init__(
        self,
        edge_ops: Sequence[Sequence[str]],
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        stem: bool = True,
        in_channels: int = 3,
        depth: int | None = None,
        affine: bool = True,
        track_running_stats: bool = True,
        supernet: bool = False,
    ):
        super().__init__()
        self.config = dict(
            C=C,
            N=N,
            num_classes=num_classes,
            stem=stem,
            in_channels=in_channels,
            depth=depth,
            affine=affine,
            track_running_stats=track_running_stats,
        )
        track = track_running_stats
        if stem:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)
            )
            C_prev = C
        else:
            self.stem = None
            C_prev = in_channels
        channels = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        if depth is not None and depth > 0:
            channels, reductions = channels[:depth], reductions[:depth]
        self.cells = nn.ModuleList()
        for C_curr, reduction in zip(channels, reductions):
            if reduction:
                cell = ResNetBasicBlock(C_prev, C_curr, 2, affine, track)
            else:
                cell = Nb201Cell(C_prev, C_curr, edge_ops, affine, track)
            self.cells.append(cell)
            C_prev = cell.out_dim
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        if supernet:
            # Named so that it never matches TE-NAS's "weight" filter of NTK gradients.
            self.arch_parameters = nn.Parameter(torch.zeros(len(EDGES), len(OPS)))
        else:
            self.arch_parameters = None

    def forward(self, x):
        if self.arch_parameters is not None:
            weight_tensor = torch.softmax(self.arch_parameters, dim=-1)
            weights = weight_tensor.tolist()
        else:
            weight_tensor = weights = None
        feature = self.stem(x) if self.stem is not None else x
        for cell in self.cells:
            if isinstance(cell, Nb201Cell):
                feature = cell(feature, weights, weight_tensor)
            else:
                feature = cell(feature)
        out = self.global_pooling(self.lastact(feature)).flatten(1)
        return self.classifier(out)

    # ---- supernet alphas ---------------------------------------------------------------
    def set_active_ops(self, mask: Sequence[Sequence[bool]]) -> None:
        """Set alphas: 0 for active ops, -1000 for pruned ones (mask is edges x OPS)."""
        if self.arch_parameters is None:
            raise ValueError("set_active_ops needs a supernet (built with supernet=True).")
        alphas = torch.tensor([[0.0 if on else PRUNED_ALPHA for on in row] for row in mask])
        with torch.no_grad():
            self.arch_parameters.copy_(alphas)

    def active_ops(self) -> list[list[bool]]:
        w = torch.softmax(self.arch_parameters.detach(), dim=-1)
        return (w > ACTIVE_WEIGHT_THRESHOLD).tolist()


def _edge_ops(arch) -> tuple[tuple[str, ...], ...]:
    return tuple((op,) for op in parse_arch(arch).ops)


def build_network(arch, preset: str | None = None, **overrides) -> Nb201Network:
    """The network of one cell (index, arch string or `Nb201Arch`); `preset` names a row of PRESETS."""
    kwargs = dict(PRESETS[preset]) if preset else {}
    kwargs.update(overrides)
    return Nb201Network(_edge_ops(arch), **kwargs)


def preset_settings(preset: str) -> dict:
    """The settings of `preset` (a row of PRESETS), as a sweep's configuration records them."""
    return dict(PRESETS[preset])


def build_supernet(preset: str | None = None, **overrides) -> Nb201Network:
    """All NB201 ops on every edge, mixed by softmax(arch_parameters); everything active at start."""
    kwargs = dict(PRESETS[preset]) if preset else {}
    kwargs.update(overrides)
    return Nb201Network(tuple(OPS for _ in EDGES), supernet=True, **kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.cache
def _op_param_count(op: str, C: int) -> int:
    return count_parameters(NB201_OPS[op](C, C, 1, True, True))


@functools.cache
def _skeleton_param_count(C: int, N: int, num_classes: int) -> int:
    return count_parameters(
        build_network(Nb201Arch(("none",) * 6), C=C, N=N, num_classes=num_classes)
    )


def param_count(arch, C: int = 16, N: int = 5, num_classes: int = 10) -> int:
    """Parameters of the benchmark network of `arch`, from per-op module counts (fast, exact)."""
    ops = parse_arch(arch).ops
    per_cell = lambda width: sum(_op_param_count(op, width) for op in ops)  # noqa: E731
    return _skeleton_param_count(C, N, num_classes) + N * sum(
        per_cell(w) for w in (C, 2 * C, 4 * C)
    )
