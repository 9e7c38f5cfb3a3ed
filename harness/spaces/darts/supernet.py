"""TE-NAS's DARTS search supernets (``NASNetworkDARTS`` / ``NASNetSearchCell``, docs/tenas-spec.md §3),
their alphas and op masks, and DARTS's parse of alphas into a genotype (docs/tenas-spec.md §9)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from harness.errors import InputError, unknown_name
from harness.spaces.darts.genotypes import (
    CELL_INPUTS,
    CELL_TYPES,
    DEFAULT_CONCAT,
    EDGE_INDEX,
    EDGE_NAMES,
    EDGES,
    NODE_EDGE_GROUPS,
    OPS,
    STEPS,
    Genotype,
    load_genotype,
)
from harness.spaces.darts.ops import DARTS_OPS, preprocess_ops

PRUNED_ALPHA = -1000.0  # TE-NAS's -INF for a pruned op
ACTIVE_WEIGHT_THRESHOLD = 0.01  # ops with softmax weight <= this are not computed


# ---- search supernets ------------------------------------------------------------------------


class MixedOp(nn.Module):
    """All ops of one edge, mixed by softmax weights; ops with weight <= 0.01 are not computed."""

    def __init__(self, C: int, stride: int, affine=True, track=True):
        super().__init__()
        self._ops = nn.ModuleList(DARTS_OPS[op](C, C, stride, affine, track) for op in OPS)

    def forward(self, x, weights: Sequence[float], weight_tensor: torch.Tensor):
        terms = [
            op(x) * weight_tensor[k]
            for k, op in enumerate(self._ops)
            if weights[k] > ACTIVE_WEIGHT_THRESHOLD
        ]
        return sum(terms) if terms else None


class DartsSearchCell(nn.Module):
    """A search cell: a `MixedOp` on every edge ``i<-j``; edges fully pruned contribute nothing."""

    def __init__(
        self,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        affine=True,
        track=True,
    ):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = preprocess_ops(
            C_prev_prev, C_prev, C, reduction_prev, affine, track
        )
        self.edges = nn.ModuleDict(
            (name, MixedOp(C, 2 if reduction and j < CELL_INPUTS else 1, affine, track))
            for name, (i, j) in zip(EDGE_NAMES, EDGES)
        )
        self.out_dim = STEPS * C

    def forward(self, s0, s1, weights, weight_tensor, alphas):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(STEPS):
            terms = []
            for j, h in enumerate(states):
                e = EDGE_INDEX[(i, j)]
                # TE-NAS: an edge whose alphas are all pruned is removed (softmax would still be uniform).
                if all(a <= PRUNED_ALPHA for a in alphas[e]):
                    continue
                out = self.edges[EDGE_NAMES[e]](h, weights[e], weight_tensor[e])
                if out is not None:
                    terms.append(out)
            states.append(sum(terms) if terms else self._zeros(states[1]))
        return torch.cat(states[-STEPS:], dim=1)

    def _zeros(self, s1):
        # A node with no surviving input (only reachable through hand-made masks) outputs zeros.
        b, c, h, w = s1.shape
        if self.reduction:
            h, w = (h + 1) // 2, (w + 1) // 2
        return s1.new_zeros(b, c, h, w)


# TE-NAS's two supernets (docs/tenas-spec.md §3); `num_classes` is 10 for cifar10, 1000 for imagenet.
PRESETS: dict[str, dict] = {
    # NTK net: C=1, N=1, 2 cells (normal + reduction), stem 3x3 conv 3->1 + BN (stem_multiplier 1).
    "tenas_ntk": dict(C=1, N=1, depth=2, stem=True, stem_multiplier=1, in_channels=3),
    # Linear-region "thin" net: the same two cells fed the 1-channel input directly.
    "tenas_lr": dict(C=1, N=1, depth=2, stem=False, stem_multiplier=1, in_channels=1),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet": 1000}


class DartsSearchNetwork(nn.Module):
    """TE-NAS's ``NASNetworkDARTS``: [stem] -> cells of widths [C]*N, 2C, [2C]*(N-1), 4C, ...
    (truncated to `depth` cells) -> BN + ReLU -> global pooling -> linear. Logits only.

    Alphas are ``arch_normal_parameters`` / ``arch_reduce_parameters`` (14 x 8, all 0 = all ops
    active); their names avoid "weight", which TE-NAS's NTK uses to select parameters.
    """

    def __init__(
        self,
        C: int = 1,
        N: int = 1,
        depth: int | None = 2,
        num_classes: int = 10,
        stem: bool = True,
        stem_multiplier: int = 1,
        in_channels: int = 3,
        affine: bool = True,
        track_running_stats: bool = True,
    ):
        super().__init__()
        self.config = dict(
            C=C,
            N=N,
            depth=depth,
            num_classes=num_classes,
            stem=stem,
            stem_multiplier=stem_multiplier,
            in_channels=in_channels,
            affine=affine,
            track_running_stats=track_running_stats,
        )
        track = track_running_stats
        if stem:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, C * stem_multiplier, 3, padding=1, bias=False),
                nn.BatchNorm2d(C * stem_multiplier),
            )
            C_prev_prev = C_prev = C * stem_multiplier
        else:
            self.stem = None
            C_prev_prev = C_prev = in_channels
        channels = [C] * N + [2 * C] + [2 * C] * (N - 1) + [4 * C] + [4 * C] * (N - 1)
        reductions = [False] * N + [True] + [False] * (N - 1) + [True] + [False] * (N - 1)
        if depth is not None and depth > 0:
            channels, reductions = channels[:depth], reductions[:depth]
        self.cells = nn.ModuleList()
        reduction_prev = False
        for C_curr, reduction in zip(channels, reductions):
            cell = DartsSearchCell(
                C_prev_prev, C_prev, C_curr, reduction, reduction_prev, affine, track
            )
            self.cells.append(cell)
            C_prev_prev, C_prev, reduction_prev = C_prev, cell.out_dim, reduction
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        self.arch_normal_parameters = nn.Parameter(torch.zeros(len(EDGES), len(OPS)))
        self.arch_reduce_parameters = nn.Parameter(torch.zeros(len(EDGES), len(OPS)))

    def forward(self, x):
        mixing = {}
        for kind, alpha in zip(CELL_TYPES, self.alphas()):
            w = torch.softmax(alpha, dim=-1)
            mixing[kind] = (w.tolist(), w, alpha.detach().tolist())
        s0 = s1 = self.stem(x) if self.stem is not None else x
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, *mixing["reduce" if cell.reduction else "normal"])
        out = self.global_pooling(self.lastact(s1)).flatten(1)
        return self.classifier(out)

    # ---- alphas ------------------------------------------------------------------------------
    def alphas(self) -> tuple[nn.Parameter, nn.Parameter]:
        return self.arch_normal_parameters, self.arch_reduce_parameters

    def set_alphas(self, normal, reduce) -> None:
        with torch.no_grad():
            for param, value in zip(self.alphas(), (normal, reduce)):
                param.copy_(torch.as_tensor(value, dtype=param.dtype))

    def set_active_ops(
        self, normal_mask: Sequence[Sequence[bool]], reduce_mask: Sequence[Sequence[bool]]
    ) -> None:
        """Alphas 0 for active ops, -1000 for pruned ones; each mask is 14 edges x 8 ops."""
        self.set_alphas(
            *(mask_to_alphas(m, kind) for m, kind in zip((normal_mask, reduce_mask), CELL_TYPES))
        )

    def active_ops(self) -> tuple[list[list[bool]], list[list[bool]]]:
        """Per cell type, edges x ops: True where the softmax weight is above 0.01 and the edge lives."""
        return tuple(active_mask(a) for a in self.alphas())

    def genotype(self) -> Genotype:
        return genotype_from_alphas(*self.alphas())


def mask_to_alphas(mask, kind: str = "normal") -> torch.Tensor:
    m = torch.as_tensor(mask, dtype=torch.bool)
    if m.shape != (len(EDGES), len(OPS)):
        raise ValueError(
            f"{kind} op mask must be {len(EDGES)} edges x {len(OPS)} ops; got shape {tuple(m.shape)}."
        )
    return torch.where(m, 0.0, PRUNED_ALPHA)


def active_mask(alphas) -> list[list[bool]]:
    a = torch.as_tensor(alphas).detach().float()
    alive = (a > PRUNED_ALPHA).any(dim=-1, keepdim=True)
    return ((torch.softmax(a, dim=-1) > ACTIVE_WEIGHT_THRESHOLD) & alive).tolist()


def genotype_to_masks(genotype) -> tuple[list[list[bool]], list[list[bool]]]:
    """Op masks (14 x 8 per cell type) that make a supernet compute `genotype`'s cells."""
    g = load_genotype(genotype)
    masks = []
    for kind in CELL_TYPES:
        pairs, concat = g.cell(kind)
        if tuple(sorted(concat)) != DEFAULT_CONCAT:
            raise InputError(
                f"{kind}_concat {list(concat)} is not the search space's {list(DEFAULT_CONCAT)}."
            )
        mask = [[False] * len(OPS) for _ in EDGES]
        for k, (op, j) in enumerate(pairs):
            e = EDGE_INDEX[(k // 2, j)]
            if any(mask[e]):
                raise InputError(
                    f"{kind} node {k // 2 + 2} takes input {j} twice; the DARTS search space "
                    f"has one edge per (node, input)."
                )
            mask[e][OPS.index(op)] = True
        masks.append(mask)
    return masks[0], masks[1]


def build_supernet(preset: str | None = None, **overrides) -> DartsSearchNetwork:
    """A DARTS supernet with every op active; `preset` names a row of PRESETS (``tenas_ntk``/``tenas_lr``)."""
    if preset is not None and preset not in PRESETS:
        raise unknown_name("DARTS supernet preset", preset, PRESETS)
    kwargs = dict(PRESETS[preset]) if preset else {}
    kwargs.update(overrides)
    return DartsSearchNetwork(**kwargs)


# ---- alphas -> genotype (DARTS's parse, docs/tenas-spec.md §9) ----------------------------------------


def _parse_cell(alphas) -> list[tuple[str, int]]:
    w = torch.softmax(torch.as_tensor(alphas, dtype=torch.float64).detach().cpu(), dim=-1).tolist()
    if len(w) != len(EDGES) or any(len(row) != len(OPS) for row in w):
        raise ValueError(f"alphas must be {len(EDGES)} edges x {len(OPS)} ops.")
    none = OPS.index("none")
    gene = []
    for i, (start, stop) in enumerate(NODE_EDGE_GROUPS):
        W = w[start:stop]
        best = lambda row: max(row[k] for k in range(len(OPS)) if k != none)  # noqa: E731
        inputs = sorted(range(i + 2), key=lambda j: -best(W[j]))[:2]  # stable: ties keep lower j
        for j in inputs:
            k_best = max((k for k in range(len(OPS)) if k != none), key=lambda k: (W[j][k], -k))
            gene.append((OPS[k_best], j))
    return gene


def genotype_from_alphas(
    normal_alphas, reduce_alphas, concat: Sequence[int] = DEFAULT_CONCAT
) -> Genotype:
    """DARTS's parse of softmax(alpha): per node the 2 inputs whose best non-`none` weight is highest
    (stronger first), each with its best non-`none` op. After TE-NAS's pruning every surviving edge
    has weight ~1 against 1/8 for removed ones, so this returns exactly the survivors."""
    return Genotype(
        _parse_cell(normal_alphas), list(concat), _parse_cell(reduce_alphas), list(concat)
    )
