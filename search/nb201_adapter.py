"""The NB201 side of the TE-NAS search: supernets, alphas from masks, and the found cell.

Both TE-NAS networks come from the harness's one NB201 builder (`build_supernet`): the NTK net
(C=3, N=1, stem) and the thin linear-region net (C=1, one cell, no stem, 1-channel input), all
five ops instantiated on every edge and mixed by softmax(alphas) (docs/tenas-spec.md §3).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.errors import InputError
from harness.spaces.nb201 import EDGE_NAMES, OPS, Nb201Arch
from harness.spaces.nb201_net import build_supernet
from search.tenas import SupernetBuilders

#: Official per-dataset settings for NB201 (prune_launch.py): prune number and NTK batch.
NB201_DEFAULTS: dict[str, dict] = {
    "cifar10": {"prune_number": 1, "batch_size": 72},
    "cifar100": {"prune_number": 1, "batch_size": 72},
    "ImageNet16-120": {"prune_number": 1, "batch_size": 72},
}


class Nb201PruningSpace(SupernetBuilders):
    """`search.tenas.PruningSpace` for NAS-Bench-201: one cell type, 6 edges, 5 ops."""

    name = "nb201"
    cell_types = ("cell",)
    op_names = OPS
    edge_names = EDGE_NAMES
    build_supernet = staticmethod(build_supernet)

    def __init__(self, num_classes: int, device: str | torch.device = "cpu"):
        self.num_classes = num_classes
        self.device = torch.device(device)

    def set_masks(self, net: nn.Module, masks: np.ndarray) -> None:
        if masks.shape != (1, len(EDGE_NAMES), len(OPS)):
            raise ValueError(f"NB201 masks have shape (1, 6, 5); got {masks.shape}.")
        if not masks.any(axis=2).all():
            # All alphas -1000 would make softmax uniform and switch every op back on.
            raise ValueError(
                "an NB201 edge cannot lose all its ops (the cell has no edge removal)."
            )
        net.set_active_ops(masks[0].tolist())

    def arch(self, masks: np.ndarray) -> Nb201Arch:
        """The cell of a single-path state: each edge's one active op (the official argmax of alphas)."""
        counts = masks[0].sum(axis=1)
        if not (counts == 1).all():
            raise InputError(
                f"the pruning state is not a single path (active ops per edge: {counts.tolist()})."
            )
        return Nb201Arch(tuple(OPS[int(np.flatnonzero(edge)[0])] for edge in masks[0]))

    def describe(self, masks: np.ndarray) -> dict:
        arch = self.arch(masks)
        return {"arch_str": str(arch), "index": arch.index}
