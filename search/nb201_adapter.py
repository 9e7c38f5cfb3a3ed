"""The NB201 side of a search: the TE-NAS pruning space (supernets, alphas from masks, the found
cell) and the run adapter (search datasets, images, benchmark accuracies in the record).

Both TE-NAS networks come from the harness's one NB201 builder (`build_supernet`): the NTK net
(C=3, N=1, stem) and the thin linear-region net (C=1, one cell, no stem, 1-channel input), all
five ops instantiated on every edge and mixed by softmax(alphas) (docs/tenas-spec.md §3).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from harness.bench import Benchmark
from harness.errors import InputError
from harness.spaces.nb201 import EDGE_NAMES, OPS, Nb201Arch
from harness.spaces.nb201_net import build_supernet
from search import records
from search.adapter import SearchAdapter
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
    edge_groups = ()  # NB201 cells keep every edge
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

    final_cell = arch

    def round_fields(self, masks: np.ndarray) -> dict:
        return {}


def accuracies(bench: Benchmark, index: int) -> dict:
    """The benchmark accuracies (percent) of cell `index` under `records.ACCURACY_KEYS`."""
    return {key: bench.accuracy(index, key) for key in records.ACCURACY_KEYS}


def _mean_std(values: list[float]) -> str:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return f"{mean:.2f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return f"{mean:.2f} ± {std:.2f}"


class Nb201Search(SearchAdapter):
    """Searches on NB201: every found cell's accuracies are looked up on all three datasets."""

    name = "nb201"
    label = "NB201"
    schema = records.SCHEMA
    tenas_defaults = NB201_DEFAULTS
    dataset_note = "(the found cell's accuracies are looked up on all three)"
    #: never a stand-in or a 20-image fallback for a search
    strict_sources = {"cifar100": "batches", "ImageNet16-120": "official"}
    benchmark = True

    def pruning_space(self, dataset: str, images, device) -> Nb201PruningSpace:
        return Nb201PruningSpace(images.num_classes, device)

    def found_fields(self, found, bench: Benchmark | None) -> dict:
        arch = found.arch
        return {
            "arch_str": str(arch),
            "index": arch.index,
            "accuracies": accuracies(bench, arch.index),
            "search_seconds": found.seconds,
        }

    def found_line(self, fields: dict) -> str:
        return (
            f"found {fields['arch_str']} (index {fields['index']}) in "
            f"{fields['search_seconds']:.1f} s; "
            + ", ".join(f"{k} {v:.2f}" for k, v in fields["accuracies"].items())
        )

    def summary_line(self, record: dict) -> str:
        acc = record["accuracies"]
        return ", ".join(
            [
                f"seed {record['seed']}: {record['arch_str']} (index {record['index']})",
                "C10 {:.2f} / C100 {:.2f} / IN16 {:.2f}".format(
                    *(acc[k] for k in records.ACCURACY_KEYS[:3])
                ),
                f"{record['search_seconds']:.1f} s",
            ]
        )

    def seeds_line(self, docs: list[dict]) -> str | None:
        if len(docs) < 2:
            return None
        accs = [[d["accuracies"][k] for d in docs] for k in records.ACCURACY_KEYS[:3]]
        secs = sum(d["search_seconds"] for d in docs) / len(docs)
        return (
            f"{docs[0]['method']}, {len(docs)} seeds: C10 {_mean_std(accs[0])} / "
            f"C100 {_mean_std(accs[1])} / IN16 {_mean_std(accs[2])}, mean {secs:.1f} s"
        )
