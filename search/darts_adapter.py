"""The DARTS side of a search: the TE-NAS pruning space (supernets, alphas from masks, the found
genotype) and the run adapter (search datasets, and the genotype and its network sizes in the record).

Both TE-NAS networks come from the harness's DARTS builder (`harness.spaces.darts.build_supernet`):
the NTK net (C=1, N=1, stem 3->1, a normal and a reduction cell, a classifier of 10 outputs for
CIFAR-10 and 1000 for ImageNet) and the thin linear-region net (the same two cells on the
1-channel input, no stem) -- all eight ops instantiated on each of the 14 edges of both cell types
and mixed by softmax(alphas) (docs/tenas-spec.md §3). The pruning state is a mask of shape
(2 cell types, 14 edges, 8 ops); an edge whose ops are all pruned is removed, which is how the
edge pruning of §8 leaves every intermediate node two incoming edges. The final genotype is
DARTS's own parse of the alphas (§9). DARTS has no benchmark: the record carries the genotype in
DARTS's notation (under ``genotype``, which ``harness train --genotype <result.json>`` reads) and the
size of its CIFAR-10 and ImageNet evaluation networks, under its own schema so that NB201 tools
(the search leaderboard) never mistake it for benchmark lookups.
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
    summarize,
)
from search.adapter import SearchAdapter
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
SCHEMA = "harness.search.darts/1"
SECONDS_PER_DAY = 86400.0
#: Evaluation networks whose size the record reports (DARTS's CIFAR-10 and ImageNet settings).
SIZE_DATASETS = ("cifar10", "imagenet")
#: What the record keeps of each network's `summarize`.
SIZE_KEYS = tuple(
    "params params_with_auxiliary macs image_size layers channels num_classes".split()
)


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

    final_cell = final_genotype

    def round_fields(self, masks: np.ndarray) -> dict:
        """The parsed genotype, which the official code records after every round."""
        return {"genotype": str(self.genotype(masks))}


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


def genotype_sizes(genotype: Genotype) -> dict:
    """Params (without auxiliary head) and multiply-adds of the genotype's evaluation networks."""
    out = {}
    for dataset in SIZE_DATASETS:
        summary = summarize(genotype, dataset)
        out[dataset] = {k: summary[k] for k in SIZE_KEYS}
    return out


class DartsSearch(SearchAdapter):
    """TE-NAS searches on DARTS (official settings per dataset), then the edge pruning to two
    inputs per node; one genotype per seed."""

    name = "darts"
    label = "DARTS"
    schema = SCHEMA
    tenas_defaults = DARTS_DEFAULTS
    dataset_note = (
        "(imagenet: an ImageFolder tree <data dir>/imagenet/train/, images resized to 32x32)"
    )
    next_step = " (train the found genotype with `harness train --genotype <result.json>`)"

    def check_dataset(self, dataset: str) -> str:
        """CIFAR-10 (default source as for NB201) or ImageNet-1k, an ImageFolder tree
        (``<data dir>/imagenet/train/<class>/...``, resized to 32x32)."""
        return check_dataset(dataset)

    def pruning_space(self, dataset: str, images, device) -> DartsPruningSpace:
        return DartsPruningSpace(dataset, device)

    def options(self, dataset: str) -> dict:
        return {
            "ntk_num_classes": NUM_CLASSES[dataset],
            "ntk_num_classes_note": "the official classifier size of the search dataset (labels unused)",
        }

    def found_fields(self, found, bench=None) -> dict:
        genotype = found.arch
        return {
            "genotype": str(genotype),
            "genotype_json": genotype.to_dict(),
            "sizes": genotype_sizes(genotype),
            "search_seconds": found.seconds,
            "search_days": found.seconds / SECONDS_PER_DAY,
            "trajectory_seconds": found.extra["trajectory_seconds"],
        }

    def found_line(self, fields: dict) -> str:
        return f"found {fields['genotype']} in {fields['search_seconds']:.1f} s; " + _network_sizes(
            fields["sizes"], ",", " /"
        )

    def summary_line(self, record: dict) -> str:
        return (
            f"seed {record['seed']}: {record['genotype']}; "
            + _network_sizes(record["sizes"], ";", ",")
            + f"; search {record['search_seconds']:.1f} s ({record['search_days']:.4f} days on "
            f"{record['device_name']})"
        )


def _network_sizes(sizes: dict, sep: str, macs_sep: str) -> str:
    cifar, imagenet = sizes["cifar10"], sizes["imagenet"]
    return (
        f"CIFAR-10 network {cifar['params'] / 1e6:.2f} M params{sep} ImageNet network "
        f"{imagenet['params'] / 1e6:.2f} M params{macs_sep} {imagenet['macs'] / 1e6:.0f} M MACs"
    )
