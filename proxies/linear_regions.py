"""TE-NAS's expressivity indicator: the number of linear regions R_N (docs/tenas-spec.md §6).

Forward hooks on every `nn.ReLU` with 4-D input record the activation sign pattern of each
sample (1 iff the unit's output is positive); R is the number of distinct patterns over all
samples (TE-NAS: 3 batches of 1000 single-channel 3x3 crops of real training images, thin
C=1 network, BN in train mode so statistics come from each 1000-sample batch).

Counting is exact and vectorised: each row of bits is packed into 63-bit integer words (one
word for the thin NB201 net's at most 63 units), and distinct rows are counted with
``torch.unique`` -- no Python work per row, and no hashing that could collide. TE-NAS's fp16
Hamming-matrix count gives the same number (it is exact for the sizes used).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from harness.errors import InputError
from proxies.registry import register_proxy

#: Bits per packed word: 63 keeps every word non-negative in int64.
WORD_BITS = 63


class ReluPatternRecorder:
    """Context manager hooking the ReLUs of `model`; hooks are always removed on exit, so
    repeated calls never accumulate them (the official code's hooks leak and duplicate columns)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.outputs: list[torch.Tensor] = []
        self._handles: list = []

    def _hook(self, module, inputs, output):
        if inputs[0].dim() == 4:
            self.outputs.append(output.detach().flatten(1) > 0)

    def __enter__(self):
        self._handles = [
            m.register_forward_hook(self._hook)
            for m in self.model.modules()
            if isinstance(m, nn.ReLU)
        ]
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return False

    def pop_patterns(self) -> torch.Tensor:
        """(batch x units) boolean patterns of the last forward pass."""
        if not self.outputs:
            raise InputError(
                f"{type(self.model).__name__} has no nn.ReLU with a 4-D input; linear regions "
                f"are counted over such ReLUs (TE-NAS), so the count is undefined for it."
            )
        patterns = torch.cat(self.outputs, dim=1)
        self.outputs = []
        return patterns


def activation_patterns(model: nn.Module, batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """Boolean ReLU sign patterns of every sample of every batch, rows in sample order (train mode)."""
    model.train()
    rows = []
    with torch.no_grad(), ReluPatternRecorder(model) as recorder:
        for batch in batches:
            model(batch)
            rows.append(recorder.pop_patterns())
    return torch.cat(rows)


def pack_rows(patterns: torch.Tensor) -> torch.Tensor:
    """(rows x ceil(units / 63)) int64 words; equal rows <=> equal words (exact, no hashing)."""
    bits = patterns.to(torch.int64)
    rows, units = bits.shape
    words = -(-units // WORD_BITS)
    if words * WORD_BITS != units:
        bits = torch.nn.functional.pad(bits, (0, words * WORD_BITS - units))
    shifts = torch.arange(WORD_BITS, dtype=torch.int64, device=bits.device)
    return (bits.view(rows, words, WORD_BITS) << shifts).sum(-1)


def count_unique_rows(patterns: torch.Tensor | np.ndarray) -> int:
    """Number of distinct rows of a boolean matrix (0 for no rows; 1 for rows with no columns)."""
    tensor = torch.as_tensor(
        np.asarray(patterns) if not isinstance(patterns, torch.Tensor) else patterns
    )
    if tensor.dim() != 2:
        raise InputError(
            f"patterns must be a 2-D (samples x units) matrix; got shape {tuple(tensor.shape)}."
        )
    if tensor.shape[0] == 0:
        return 0
    if tensor.shape[1] == 0:
        return 1
    words = pack_rows(tensor.bool())
    if words.shape[1] == 1:
        return int(torch.unique(words[:, 0]).numel())
    return int(torch.unique(words, dim=0).shape[0])


def count_linear_regions(model: nn.Module, batches: Sequence[torch.Tensor]) -> int:
    """R: distinct activation patterns of `model` over all samples of `batches`."""
    return count_unique_rows(activation_patterns(model, batches))


@register_proxy(
    "linear_regions",
    higher_is_better=True,
    needs_real_data=True,
    inputs="patches",
    copy_model=False,
    reference="Chen, Gong & Wang, ICLR 2021 (TE-NAS), lib/procedures/linear_region_counter.py",
)
def linear_regions(model: nn.Module, inputs, labels=None) -> float:
    """Number of distinct ReLU activation patterns (linear regions) over the input patches.

    Higher is better (more expressive). `inputs` is a tensor (one batch) or a list of batches;
    TE-NAS uses 3 x 1000 single-channel 3x3 crops. Saturates at the number of samples. Updates
    BN running statistics as a side effect (train mode, as the official code).
    """
    batches = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
    return float(count_linear_regions(model, batches))
