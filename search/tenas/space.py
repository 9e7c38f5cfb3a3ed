"""What the pruning loop needs from a search space (`PruningSpace`), the supernet builders every
space shares, and the pruning state: a boolean mask ``(cell types, edges, ops)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from torch import nn

#: Index of the `none` op in every space's op list; TE-NAS never keeps it (docs/tenas-spec.md §2).
NONE_INDEX = 0

Key = tuple[int, int, int]  # (cell type, edge, op)


class PruningSpace(Protocol):
    """What the pruning loop needs from a search space (NB201, DARTS)."""

    name: str
    cell_types: tuple[str, ...]  # ("cell",) for NB201; ("normal", "reduce") for DARTS
    op_names: tuple[str, ...]  # op list, `none` first
    edge_names: tuple[str, ...]
    #: ``[start, stop)`` incoming-edge ranges for the §8 edge pruning; empty: no edge pruning
    edge_groups: tuple[tuple[int, int], ...]

    def build_ntk_net(self) -> nn.Module:
        """A new NTK supernet (all ops instantiated, default init) on the search device."""

    def build_lr_net(self) -> nn.Module:
        """A new thin linear-region supernet on the search device."""

    def set_masks(self, net: nn.Module, masks: np.ndarray) -> None:
        """Set the net's alphas: 0 where `masks` is True, -1000 where False."""

    def round_fields(self, masks: np.ndarray) -> dict:
        """Fields a round's record carries about the state after it ({} when none)."""

    def final_cell(self, masks: np.ndarray) -> object:
        """The cell a finished search state encodes (an NB201 cell, a DARTS genotype)."""


class SupernetBuilders:
    """`PruningSpace.build_ntk_net` / `build_lr_net` from a space's supernet builder
    (``build_supernet(preset, num_classes=...)``, the presets ``tenas_ntk`` and ``tenas_lr``), on
    the space's `device` with its `num_classes` — the part every space shares."""

    build_supernet: Callable[..., nn.Module]
    num_classes: int
    device: torch.device

    def build_ntk_net(self) -> nn.Module:
        return type(self).build_supernet("tenas_ntk", num_classes=self.num_classes).to(self.device)

    def build_lr_net(self) -> nn.Module:
        return type(self).build_supernet("tenas_lr", num_classes=self.num_classes).to(self.device)


def initial_masks(space: PruningSpace) -> np.ndarray:
    """Every op active except `none` (forced out before anything is measured)."""
    masks = np.ones((len(space.cell_types), len(space.edge_names), len(space.op_names)), dtype=bool)
    masks[:, :, NONE_INDEX] = False
    return masks


def is_single_path(masks: np.ndarray) -> bool:
    counts = masks.sum(axis=2)
    if (counts == 0).any():
        raise ValueError("an edge has no active op left; the pruning state is corrupt.")
    return bool((counts == 1).all())


def active_ops(space: PruningSpace, masks: np.ndarray) -> list[list[list[str]]]:
    """Op names still active, per cell type and edge."""
    return [[[space.op_names[k] for k in np.flatnonzero(edge)] for edge in cell] for cell in masks]
