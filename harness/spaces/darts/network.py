"""DARTS evaluation networks for a genotype (DARTS ``model.py``), and their size and cost.

`NetworkCIFAR` (20 cells, 36 channels, auxiliary head after cell 2/3, drop-path) and
`NetworkImageNet` (14 cells, 48 channels, two stride-2 stems) reproduce DARTS's module layout
and parameter names, so DARTS state dicts load. ``forward(x)`` returns logits;
``forward(x, return_aux=True)`` returns ``(logits, aux_logits)`` (aux is None in eval mode or
without a head). Counts follow DARTS: parameters without the auxiliary head, multiply-adds of
one image (FLOPs / 2 from `torch.utils.flop_counter`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harness.errors import unknown_name
from harness.spaces.darts.genotypes import Genotype, load_genotype
from harness.spaces.darts.ops import DARTS_OPS, preprocess_ops

# DARTS's evaluation settings per dataset (docs/tenas-spec.md §13).
PRESETS: dict[str, dict] = {
    "cifar10": dict(C=36, layers=20, num_classes=10, auxiliary=True, image_size=32),
    "cifar100": dict(C=36, layers=20, num_classes=100, auxiliary=True, image_size=32),
    "imagenet": dict(C=48, layers=14, num_classes=1000, auxiliary=False, image_size=224),
}


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of a branch with probability `drop_prob`, rescaling the rest (DARTS)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    """DARTS's evaluation cell: node k = op(input a) + op(input b); output = concat of `concat`."""

    def __init__(
        self,
        genotype: Genotype,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        pool_bn: bool = False,
    ):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = preprocess_ops(C_prev_prev, C_prev, C, reduction_prev)
        pairs, concat = genotype.cell("reduce" if reduction else "normal")
        self._concat = tuple(concat)
        self._indices = tuple(j for _, j in pairs)
        self.multiplier = len(concat)
        self._ops = nn.ModuleList()
        for name, j in pairs:
            op = DARTS_OPS[name](C, C, 2 if reduction and j < 2 else 1, True, True)
            if pool_bn and "pool" in name:
                # P-DARTS / DARTS_evaluation variant: a non-affine BN after pooling (no parameters).
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self._ops.append(op)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self._ops) // 2):
            hs = []
            for k in (2 * i, 2 * i + 1):
                op = self._ops[k]
                h = op(states[self._indices[k]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                hs.append(h)
            states.append(hs[0] + hs[1])
        return torch.cat([states[i] for i in self._concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """Auxiliary classifier on the 8x8 map after the second reduction cell."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # 8x8 -> 2x2
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class AuxiliaryHeadImageNet(nn.Module):
    """Auxiliary classifier on the 7x7 map; DARTS omits the BN after the 2x2 conv (kept so)."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class _DartsNetwork(nn.Module):
    """Shared cell stack: reductions at layers//3 and 2*layers//3, auxiliary head after the second."""

    drop_path_prob: float = 0.0

    def _build_cells(self, genotype, C, layers, C_prev_prev, C_prev, reduction_prev, pool_bn):
        self._layers = layers
        self.cells = nn.ModuleList()
        self.reduction_layers = (layers // 3, 2 * layers // 3)
        C_curr, C_aux = C, None
        for i in range(layers):
            reduction = i in self.reduction_layers
            if reduction:
                C_curr *= 2
            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev, pool_bn)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == 2 * layers // 3:
                C_aux = C_prev
        return C_prev, C_aux

    def _run_cells(self, s0, s1, want_aux: bool):
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if (
                i == 2 * self._layers // 3
                and want_aux
                and self.auxiliary_head is not None
                and self.training
            ):
                aux = self.auxiliary_head(s1)
        return s1, aux

    def forward(self, x, return_aux: bool = False):
        s0, s1 = self._stem(x)
        s1, aux = self._run_cells(s0, s1, return_aux)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return (logits, aux) if return_aux else logits


class NetworkCIFAR(_DartsNetwork):
    """DARTS's CIFAR network: 3x3 stem conv to 3C channels, `layers` cells, global pooling, linear."""

    def __init__(
        self,
        genotype,
        C: int = 36,
        num_classes: int = 10,
        layers: int = 20,
        auxiliary: bool = True,
        pool_bn: bool = False,
    ):
        super().__init__()
        genotype = load_genotype(genotype)
        self.genotype, self.C = genotype, C
        C_stem = 3 * C
        self.stem = nn.Sequential(
            nn.Conv2d(3, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem)
        )
        C_prev, C_aux = self._build_cells(genotype, C, layers, C_stem, C_stem, False, pool_bn)
        self.auxiliary_head = AuxiliaryHeadCIFAR(C_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def _stem(self, x):
        s = self.stem(x)
        return s, s


class NetworkImageNet(_DartsNetwork):
    """DARTS's ImageNet network: stem0 (two stride-2 3x3 convs to C) and stem1 (a third stride-2
    conv) feed the first cell, which treats its input as already reduced; 224px -> 7x7 at the end.
    Global pooling is adaptive (== DARTS's AvgPool2d(7) at 224px) so smaller images also work."""

    def __init__(
        self,
        genotype,
        C: int = 48,
        num_classes: int = 1000,
        layers: int = 14,
        auxiliary: bool = False,
        pool_bn: bool = False,
    ):
        super().__init__()
        genotype = load_genotype(genotype)
        self.genotype, self.C = genotype, C
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, C // 2, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        C_prev, C_aux = self._build_cells(genotype, C, layers, C, C, True, pool_bn)
        self.auxiliary_head = AuxiliaryHeadImageNet(C_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def _stem(self, x):
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


def build_network(genotype, dataset: str = "cifar10", **overrides) -> _DartsNetwork:
    """The evaluation network of `genotype` (name, file, text or `Genotype`) with DARTS's settings
    for `dataset` (cifar10, cifar100, imagenet); `overrides` replace C, layers, num_classes,
    auxiliary, pool_bn."""
    if dataset not in PRESETS:
        raise unknown_name("dataset for DARTS networks", dataset, PRESETS)
    kwargs = {k: v for k, v in PRESETS[dataset].items() if k != "image_size"}
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    cls = NetworkImageNet if dataset == "imagenet" else NetworkCIFAR
    return cls(load_genotype(genotype), **kwargs)


def count_parameters(model: nn.Module, include_auxiliary: bool = False) -> int:
    """Parameters, without the auxiliary head unless asked (as DARTS reports them)."""
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if include_auxiliary or not name.startswith("auxiliary_head.")
    )


def count_macs(model: nn.Module, image_size: int, channels: int = 3) -> int:
    """Multiply-adds of one image in eval mode (auxiliary head not run) = FLOPs / 2 of the flop counter."""
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        x = torch.zeros(1, channels, image_size, image_size, device=param.device, dtype=param.dtype)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        return counter.get_total_flops() // 2
    finally:
        model.train(was_training)


def summarize(
    genotype, dataset: str = "cifar10", image_size: int | None = None, **overrides
) -> dict:
    """Size of the evaluation network: params (no auxiliary head), MACs of one image, layers, channels."""
    model = build_network(genotype, dataset, **overrides)
    size = image_size or PRESETS[dataset]["image_size"]
    g = load_genotype(genotype)
    return {
        "genotype": str(g),
        "dataset": dataset,
        "params": count_parameters(model),
        "params_with_auxiliary": count_parameters(model, include_auxiliary=True),
        "macs": count_macs(model, size),
        "image_size": size,
        "layers": len(model.cells),
        "channels": model.C,
        "reduction_layers": list(model.reduction_layers),
        "auxiliary": model.auxiliary_head is not None,
        "num_classes": model.classifier.out_features,
    }
