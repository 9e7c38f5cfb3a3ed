"""The DARTS side of the TE-NAS search: supernets, alphas from masks, and the found genotype.

Both TE-NAS networks come from the harness's DARTS builder (`harness.spaces.darts.build_supernet`):
the NTK net (C=1, N=1, stem 3->1, a normal and a reduction cell, a classifier of 10 outputs for
CIFAR-10 and 1000 for ImageNet) and the thin linear-region net (the same two cells on the
1-channel input, no stem) -- all eight ops instantiated on each of the 14 edges of both cell types
and mixed by softmax(alphas) (docs/tenas-spec.md §3). The pruning state is a mask of shape
(2 cell types, 14 edges, 8 ops); an edge whose ops are all pruned is removed, which is how the
edge pruning of §8 leaves every intermediate node two incoming edges. The final genotype is
DARTS's own parse of the alphas (§9).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.errors import InputError, unknown_name
from harness.spaces.darts import (
    CELL_TYPES,
    EDGE_NAMES,
    EDGES,
    NODE_EDGE_GROUPS,
    NUM_CLASSES,
    OPS,
    Genotype,
    build_supernet,
    genotype_from_alphas,
    mask_to_alphas,
)
from search.tenas import SupernetBuilders

#: Official per-dataset settings for DARTS (prune_launch.py, docs/tenas-spec.md §7): prune number and NTK
#: batch. ``ntk_engine`` only changes the speed (every engine gives the same kernel): ``graph`` is
#: exact, needs no compilation and is ~1.5x faster than ``batched`` on these supernets on CPU.
DARTS_DEFAULTS: dict[str, dict] = {
    "cifar10": {"prune_number": 3, "batch_size": 14, "ntk_engine": "graph"},
    "imagenet": {"prune_number": 2, "batch_size": 24, "ntk_engine": "graph"},
}
DARTS_DATASETS: tuple[str, ...] = tuple(DARTS_DEFAULTS)
#: Incoming edges kept per intermediate node by the §8 edge pruning.
IN_DEGREE = 2


def check_dataset(dataset: str) -> str:
    """The DARTS search datasets are CIFAR-10 and ImageNet-1k (an ImageFolder tree)."""
    if dataset not in DARTS_DATASETS:
        raise unknown_name("dataset for --space darts", dataset, DARTS_DATASETS)
    return dataset


class DartsPruningSpace(SupernetBuilders):
    """`search.tenas.PruningSpace` for DARTS: cell types normal + reduce, 14 edges, 8 ops."""

    name = "darts"
    cell_types = CELL_TYPES
    op_names = OPS
    edge_names = EDGE_NAMES
    #: ``[start, stop)`` edge ranges of each node's incoming edges, for `search.tenas.prune_edge_groups`.
    edge_groups = NODE_EDGE_GROUPS
    build_supernet = staticmethod(build_supernet)

    def __init__(self, dataset: str, device: str | torch.device = "cpu"):
        """The classifier has the dataset's official class count (1000 for ImageNet, whatever the
        folder holds: the indicators never use labels, but the NTK sums the logits)."""
        self.dataset = check_dataset(dataset)
        self.num_classes = NUM_CLASSES[dataset]
        self.device = torch.device(device)

    def set_masks(self, net: nn.Module, masks: np.ndarray) -> None:
        """Alphas 0 where active, -1000 where pruned; an edge without active ops is removed."""
        _check_shape(masks)
        net.set_active_ops(masks[0].tolist(), masks[1].tolist())

    def genotype(self, masks: np.ndarray) -> Genotype:
        """DARTS's parse of the alphas that `masks` encodes (any state; exact on a final one)."""
        _check_shape(masks)
        return genotype_from_alphas(
            *(mask_to_alphas(m, kind) for m, kind in zip(masks, CELL_TYPES))
        )

    def final_genotype(self, masks: np.ndarray) -> Genotype:
        """The genotype of a finished search, after checking that the state is one: every surviving
        edge has exactly one op, `none` never, and every node exactly two incoming edges.

        Raises:
            InputError: the state is not a finished DARTS search (says which node or edge).
        """
        check_final(masks)
        return self.genotype(masks)

    def describe(self, masks: np.ndarray) -> dict:
        g = self.genotype(masks)
        return {"genotype": str(g), "genotype_json": g.to_dict()}


def _check_shape(masks: np.ndarray) -> None:
    shape = (len(CELL_TYPES), len(EDGES), len(OPS))
    if np.shape(masks) != shape:
        raise ValueError(
            f"DARTS masks have shape {shape} (cell types, edges, ops); got {np.shape(masks)}."
        )


def in_degrees(masks: np.ndarray) -> list[list[int]]:
    """Per cell type, the number of incoming edges with an active op of each intermediate node."""
    _check_shape(masks)
    live = np.asarray(masks).any(axis=2)
    return [
        [int(live[ct, start:stop].sum()) for start, stop in NODE_EDGE_GROUPS]
        for ct in range(len(CELL_TYPES))
    ]


def check_final(masks: np.ndarray) -> None:
    """Raise `InputError` unless `masks` is a finished DARTS search state (see `final_genotype`)."""
    _check_shape(masks)
    masks = np.asarray(masks)
    for ct, kind in enumerate(CELL_TYPES):
        for e, name in enumerate(EDGE_NAMES):
            ops = [OPS[k] for k in np.flatnonzero(masks[ct, e])]
            if len(ops) > 1:
                raise InputError(
                    f"{kind} edge {name} still has {len(ops)} ops ({', '.join(ops)}); "
                    f"a finished search keeps one op per surviving edge."
                )
            if ops == ["none"]:
                raise InputError(f"{kind} edge {name} keeps 'none'; TE-NAS never selects it.")
        for node, degree in enumerate(in_degrees(masks)[ct]):
            if degree != IN_DEGREE:
                raise InputError(
                    f"{kind} node {node + 2} has {degree} incoming edges; a finished search "
                    f"keeps exactly {IN_DEGREE}."
                )
