"""TE-NAS pruning search (docs/tenas-spec.md §4-§9), written once for every space through `PruningSpace`.

The supernet state is a boolean mask ``(cell types, edges, ops)``: True = active (alpha 0), False =
pruned (alpha -1000). Each round measures, for every active op of every edge with more than one
op (loop order cell type -> edge -> op), the relative change of the NTK condition number κ and of
the linear-region count R when that op alone is removed, ranks all candidates by the official
rank sum and removes the `prune_number` lowest of every edge, until one op per edge is left.
`prune_edge_groups` is the DARTS-space edge pruning of §8 (in-degree 2 per node).

Fidelity to the official ``prune_tenas.py`` (VITA-Group/TENAS) is the default, quirks included:
PyTorch default init (the custom init never runs), one NTK origin net per round whose weights are
copied into every candidate net, new thin nets per candidate, a fresh random training batch per
NTK call (shared by origin and candidate), the linear-region crops from one persistent iterator,
per-repeat rounding then averaging, the 3-significant-figure sort key with exact-equality tie
ranks, the prune number capped from edge 0. The authors' later fixes are options
(`TenasConfig.fixed_inputs`, ``init="kaiming"``); hook removal is always on (it cannot change R).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from harness.data import ImageSet, image_batch, random_patches
from harness.errors import InputError, unknown_name
from proxies.linear_regions import count_linear_regions
from proxies.ntk import NTK_ENGINES, condition_number, empirical_ntk

INITS = ("pytorch-default", "kaiming")
KAPPA_DTYPES = ("float32", "float64")
#: Index of the `none` op in every space's op list; TE-NAS never keeps it (docs/tenas-spec.md §2).
NONE_INDEX = 0

Key = tuple[int, int, int]  # (cell type, edge, op)


# ============================================================================ settings


@dataclass(frozen=True)
class TenasConfig:
    """Settings of one TE-NAS search; the defaults are the official NB201 ones (prune_launch.py)."""

    batch_size: int = 72  # NTK batch of training images (14 DARTS/CIFAR-10, 24 DARTS/ImageNet)
    repeats: int = 3  # Δκ and ΔR are averaged over this many measurements
    lr_samples: int = 1000  # crops per linear-region batch
    lr_batches: int = 3  # batches per linear-region count (3 x 1000 = 3000 samples)
    lr_patch: int = 3  # crop side (single channel, no padding)
    precision: int = 3  # decimals of the per-repeat rounding; significant figures of the sort key
    prune_number: int = 1  # ops removed per edge per round (3 DARTS/CIFAR-10, 2 DARTS/ImageNet)
    fixed_inputs: bool = False  # TEGNAS fix: the same inputs and networks for every call
    init: str = "pytorch-default"  # "kaiming": the intended Kaiming-normal re-init per repeat
    ntk_engine: str = "graph"  # proxies.ntk engine; the same kernel either way (speed only)
    kappa_dtype: str = "float32"  # eigenvalues in float32 as the official symeig; float64 optional
    nan_kappa: float = 100000.0  # official: a NaN κ becomes 1e5 (np.nan_to_num)
    trajectory: bool = (
        True  # also measure κ, R of the supernet after every round (not used to prune)
    )

    def __post_init__(self):
        for name in (
            "batch_size",
            "repeats",
            "lr_samples",
            "lr_batches",
            "lr_patch",
            "precision",
            "prune_number",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(
                    f"TE-NAS setting {name} must be a positive integer; got {value!r}."
                )
        if self.init not in INITS:
            raise unknown_name("init", self.init, INITS)
        if self.ntk_engine not in NTK_ENGINES:
            raise unknown_name("NTK engine", self.ntk_engine, NTK_ENGINES)
        if self.kappa_dtype not in KAPPA_DTYPES:
            raise unknown_name("kappa dtype", self.kappa_dtype, KAPPA_DTYPES)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def non_default(self) -> dict:
        """Settings that differ from the official defaults (they label the method)."""
        base = TenasConfig()
        return {k: v for k, v in self.to_dict().items() if v != getattr(base, k)}


def quirk_options(config: TenasConfig) -> dict:
    """Which official quirks are reproduced and which later fixes are on, for the result record."""
    return {
        "init": config.init,
        "init_note": (
            "PyTorch default init: the official init_model() never matches the launcher's "
            "'kaiming_normal', so no custom init runs (docs/tenas-spec.md §4)"
            if config.init == "pytorch-default"
            else "Kaiming-normal re-init before every repeat (fan_out NTK nets, fan_in thin nets; "
            "BN weight 1, bias 0) -- what the official code intended"
        ),
        "fixed_inputs": config.fixed_inputs,
        "fixed_inputs_note": (
            "TEGNAS fix: one NTK batch and one set of linear-region crops drawn once; repeat r uses "
            "the same network weights in every call; the origin's values are reused"
            if config.fixed_inputs
            else "official: one NTK origin net per round, a fresh random training batch per NTK call, new "
            "thin nets per candidate, crops from one persistent shuffled iterator"
        ),
        "leak_free_hooks": True,
        "leak_free_hooks_note": (
            "always on: ReLU hooks are removed after every count. The official hooks leak and "
            "duplicate activation columns in later repeats; duplicated columns cannot change the "
            "number of distinct rows, so R is identical"
        ),
        "none_forced_pruned": True,
        "nan_kappa": config.nan_kappa,
        "kappa_semantics": (
            f"κ = λmax/λmin of the {config.kappa_dtype} kernel's eigenvalues, raw (λmin <= 0 gives a "
            "negative or huge ratio); NaN -> nan_kappa and ±inf -> ±max float (np.nan_to_num), as the "
            "official get_ntk_n"
        ),
        "rounding": (
            "Δκ: round() of a numpy float64 (numpy rounding, as the official nan_to_num "
            "values); ΔR: round() of a Python float; sort key: official round_to (3 "
            "significant figures, eps 1e-8); ties: exact equality of averaged values"
        ),
        "linear_regions_count": (
            "exact number of distinct sign patterns (the official fp16 Hamming "
            "matmul with float32 1/group sums gives the same integer up to ~1e-4)"
        ),
        "ntk_kernel": "gradients in float32, kernel accumulated in float64 (official: float32 einsum)",
    }


# ============================================================================ space adapter


class PruningSpace(Protocol):
    """What the pruning loop needs from a search space (NB201 now, DARTS later)."""

    name: str
    cell_types: tuple[str, ...]  # ("cell",) for NB201; ("normal", "reduce") for DARTS
    op_names: tuple[str, ...]  # op list, `none` first
    edge_names: tuple[str, ...]

    def build_ntk_net(self) -> nn.Module:
        """A new NTK supernet (all ops instantiated, default init) on the search device."""

    def build_lr_net(self) -> nn.Module:
        """A new thin linear-region supernet on the search device."""

    def set_masks(self, net: nn.Module, masks: np.ndarray) -> None:
        """Set the net's alphas: 0 where `masks` is True, -1000 where False."""

    def describe(self, masks: np.ndarray) -> dict:
        """The architecture a single-path mask encodes (e.g. arch_str and index)."""


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


def candidates(masks: np.ndarray) -> list[Key]:
    """Per-round candidates in the official loop order: cell type -> edge -> op; edges with one op
    left are skipped."""
    out = []
    for ct in range(masks.shape[0]):
        for e in range(masks.shape[1]):
            if masks[ct, e].sum() == 1:
                continue
            out.extend((ct, e, int(op)) for op in np.flatnonzero(masks[ct, e]))
    return out


def effective_prune_number(masks: np.ndarray, configured: int) -> int:
    """min(configured, active ops on edge 0 of cell type 0 minus 1): the official cap, taken from
    the first edge only (docs/tenas-spec.md §7 step 2, §16.5)."""
    return int(min(configured, int(masks[0, 0].sum()) - 1))


# ============================================================================ ranking (§7)


def round_to(number, precision: int, eps: float = 1e-8):
    """The official sort key: `number` rounded to `precision` significant figures.

    Same arithmetic as ``prune_tenas.round_to``, including the 1e-8 added to the magnitude and
    ``round`` applied to the value's own type (numpy rounding for numpy floats).
    """
    dtype = type(number)
    if number == 0 or not math.isfinite(number):
        # The official function raises on NaN/inf (math.floor); they cannot occur after its
        # nan_to_num except in overflow corner cases, which we keep in the sort rather than crash.
        return number
    sign = number / abs(number)
    number = abs(number) + eps
    power = math.floor(math.log(number, 10)) + 1
    if dtype is int:
        return int(sign * round(number * 10 ** (-power), precision) * 10**power)
    return sign * round(number * 10 ** (-power), precision) * 10**power


def rank_candidates(
    ntk: Sequence[tuple[Any, Key]], regions: Sequence[tuple[Any, Key]], precision: int
) -> list[tuple[Key, list[int]]]:
    """Official rank sum (``prune_func_rank``): ``[(key, [ntk_rank, regions_rank]), ...]`` sorted
    ascending by the sum (stable; ties keep the NTK-sorted order).

    Δκ is sorted descending and ΔR ascending, both by `round_to(value, precision)` (stable: equal
    keys keep measurement order). Walking each sorted list, a value *exactly equal* to its
    predecessor's unrounded value shares its rank, any other value gets the predecessor's rank
    plus one -- so two equal values separated by a different value with the same rounded key get
    different ranks (docs/tenas-spec.md §16.6).

    Args:
        ntk, regions: ``(averaged change, key)`` per candidate, in measurement order; the same keys.
    """
    ntk_sorted = sorted(ntk, key=lambda t: round_to(t[0], precision), reverse=True)
    rankings: dict[Key, list[int]] = {}
    for idx, (value, key) in enumerate(ntk_sorted):
        if idx == 0:
            rankings[key] = [0]
        elif value == ntk_sorted[idx - 1][0]:
            rankings[key] = [rankings[ntk_sorted[idx - 1][1]][0]]
        else:
            rankings[key] = [rankings[ntk_sorted[idx - 1][1]][0] + 1]
    regions_sorted = sorted(regions, key=lambda t: round_to(t[0], precision))
    for idx, (value, key) in enumerate(regions_sorted):
        if idx == 0:
            rankings[key].append(0)
        elif value == regions_sorted[idx - 1][0]:
            rankings[key].append(rankings[regions_sorted[idx - 1][1]][1])
        else:
            rankings[key].append(rankings[regions_sorted[idx - 1][1]][1] + 1)
    return sorted(rankings.items(), key=lambda kv: sum(kv[1]))


def select_prunes(
    ranked: Sequence[tuple[Key, list[int]]], prune_number: int
) -> dict[tuple[int, int], list[Key]]:
    """Walk the rank-sum order and give every edge its first `prune_number` candidates.

    As the official code, an edge's first candidate is always taken (even when the capped
    prune number is 0).
    """
    chosen: dict[tuple[int, int], list[Key]] = {}
    for key, _ in ranked:
        edge = key[:2]
        if edge not in chosen:
            chosen[edge] = [key]
        elif len(chosen[edge]) < prune_number:
            chosen[edge].append(key)
    return chosen


def kappa_change(kappa_origin: np.float64, kappa: np.float64, precision: int):
    """Per-repeat Δκ = (κ_origin - κ) / κ_origin, rounded as the official code does: the κ are
    numpy float64 (from np.nan_to_num), so ``round`` is numpy's (0.0005 -> 0.0)."""
    return round((kappa_origin - kappa) / kappa_origin, precision)


def regions_change(regions_origin: float, regions: float, precision: int) -> float:
    """Per-repeat ΔR = (R_origin - R) / R_origin with Python's ``round`` (the official counts are
    Python floats from ``.item()``; 0.0005 -> 0.001)."""
    return round((float(regions_origin) - float(regions)) / float(regions_origin), precision)


# ============================================================================ measurements


def kaiming_init_(model: nn.Module, mode: str) -> nn.Module:
    """The official `kaiming_normal_fan{in,out}_init`: Kaiming-normal conv/linear weights (ReLU
    gain), zero biases, BN weight 1 and bias 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def copy_parameters(src: nn.Module, dst: nn.Module) -> None:
    """``param.data.copy_`` over zip(parameters) -- the official way (alphas included, buffers not)."""
    with torch.no_grad():
        for p_src, p_dst in zip(src.parameters(), dst.parameters()):
            p_dst.copy_(p_src)


def official_kappa(
    kernel: torch.Tensor, dtype: str = "float32", nan: float = 100000.0
) -> np.float64:
    """κ with the official semantics: raw λmax/λmin, then ``np.nan_to_num(nan=1e5)`` (±inf -> ±max
    float). ``float32`` solves the eigenproblem in single precision as ``torch.symeig`` did there."""
    if dtype == "float64":
        try:
            value = condition_number(kernel, nonpositive="raw")
        except ZeroDivisionError:  # λmin exactly 0 with λmax > 0
            value = math.inf
    else:
        k32 = kernel.to(torch.float32)
        if not torch.isfinite(k32).all():
            value = math.nan
        else:
            eig = torch.linalg.eigvalsh(k32)
            value = (eig[-1] / eig[0]).item()
    return np.nan_to_num(np.float64(value), nan=nan)


class PatchStream:
    """TE-NAS's linear-region input: batches of single-channel crops from one persistent shuffled
    iterator over the training images (drop_last; a new epoch when exhausted), each access with a
    new random crop position and channel (docs/tenas-spec.md §6)."""

    def __init__(self, images: ImageSet, batch_size: int, size: int, rng: np.random.Generator):
        if batch_size > len(images):
            raise InputError(
                f"--lr-samples {batch_size} exceeds the {len(images)} images of "
                f"{images.dataset} {images.split} ({images.source})."
            )
        if size > images.image_size:
            raise InputError(
                f"--lr-patch {size} exceeds the {images.image_size}px images of {images.dataset}."
            )
        self.images, self.batch_size, self.size, self.rng = images, batch_size, size, rng
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0
        self.epochs = 0

    def next(self) -> torch.Tensor:
        if self._pos + self.batch_size > len(self._order):
            self._order = self.rng.permutation(len(self.images))
            self._pos = 0
            self.epochs += 1
        idx = self._order[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        if self.images.synthetic:
            x = self.rng.standard_normal(
                (self.batch_size, 1, self.size, self.size), dtype=np.float32
            )
        else:
            x = random_patches(
                self.images.take(idx), self.rng, self.size, self.images.mean, self.images.std
            )
        return torch.from_numpy(x)


@dataclass
class CandidateMeasure:
    """Δκ and ΔR of one candidate, with every per-repeat value that went into them."""

    dkappa: float
    dregions: float
    dkappa_repeats: list
    dregions_repeats: list
    kappa_origin: list
    kappa: list
    regions_origin: list
    regions: list


class TenasMeter:
    """Measures candidates the official way (or with the TEGNAS fixes); counts every evaluation.

    The search's randomness comes from three seeded streams: torch's global generator (network
    init, seeded by the caller), ``data_rng`` (NTK batches and crops) and, for the trajectory only,
    a separate stream so that measuring it never changes the search.
    """

    def __init__(
        self,
        space: PruningSpace,
        config: TenasConfig,
        images: ImageSet,
        *,
        seed: int,
        device: str | torch.device = "cpu",
    ):
        self.space, self.config, self.images = space, config, images
        self.device = torch.device(device)
        self.seed = seed
        streams = np.random.SeedSequence([seed, 201]).spawn(3)
        self.data_rng = np.random.default_rng(streams[0])
        self._fixed_rng = np.random.default_rng(streams[1])
        self._trajectory_seed = int(streams[2].generate_state(1)[0])
        self.patch_stream = PatchStream(images, config.lr_samples, config.lr_patch, self.data_rng)
        self.counts = {"ntk": 0, "linear_regions": 0}
        self.origin: nn.Module | None = None
        self._origin_masks: np.ndarray | None = None
        self._cache: dict = {}
        self._fixed = None
        self._trajectory = None
        if config.fixed_inputs:
            self._fixed = self._draw_fixed(self._fixed_rng, int(self._fixed_rng.integers(2**62)))

    # ---- inputs and networks -------------------------------------------------------------
    def _ntk_batch(self, rng: np.random.Generator) -> torch.Tensor:
        x, _ = image_batch(
            self.images, self.config.batch_size, int(rng.integers(2**62)), augment=True
        )
        return x.to(self.device)

    def _draw_fixed(self, rng: np.random.Generator, torch_seed: int) -> dict:
        """One NTK batch, one set of crops and per-repeat networks, all drawn once (TEGNAS)."""
        stream = PatchStream(self.images, self.config.lr_samples, self.config.lr_patch, rng)
        fixed = {
            "x": self._ntk_batch(rng),
            "patches": [stream.next().to(self.device) for _ in range(self.config.lr_batches)],
            "ntk": [],
            "lr": [],
        }
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(torch_seed)
            for _ in range(self.config.repeats):
                ntk, lr = self.space.build_ntk_net(), self.space.build_lr_net()
                if self.config.init == "kaiming":
                    kaiming_init_(ntk, "fan_out")
                    kaiming_init_(lr, "fan_in")
                fixed["ntk"].append(ntk)
                fixed["lr"].append(lr)
        return fixed

    def _kappa(self, net: nn.Module, x: torch.Tensor) -> np.float64:
        self.counts["ntk"] += 1
        kernel = empirical_ntk(net, x, engine=self.config.ntk_engine)
        net.zero_grad(set_to_none=True)
        return official_kappa(kernel, self.config.kappa_dtype, self.config.nan_kappa)

    def _regions(self, net: nn.Module, batches: list[torch.Tensor]) -> float:
        self.counts["linear_regions"] += 1
        return float(count_linear_regions(net, batches))

    def _cached(self, key, fn):
        if not self.config.fixed_inputs:
            return fn()
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # ---- the official per-round / per-candidate flow ---------------------------------------
    def begin_round(self, masks: np.ndarray) -> None:
        """Build the round's NTK origin net (default init) with the current alphas; it stays fixed
        for all candidates and repeats of the round (official `network_origin`)."""
        self.origin = self.space.build_ntk_net()
        self._origin_masks = masks.copy()
        self.space.set_masks(self.origin, self._origin_masks)

    def measure(self, cand_masks: np.ndarray, lr_origin_masks: np.ndarray) -> CandidateMeasure:
        """Δκ and ΔR of going from the origin state to `cand_masks` (one op removed).

        The NTK origin is the round's (see `begin_round`; stale within §8 edge-group pruning, as
        the official); the thin origin takes `lr_origin_masks` (the current state).
        """
        cfg, space = self.config, self.space
        if self.origin is None:
            raise ValueError("call begin_round() before measure().")
        # NTK: a new candidate net receiving the origin's weights in every repeat.
        net = space.build_ntk_net()
        space.set_masks(net, cand_masks)
        k_origin, k_cand, dk = [], [], []
        for r in range(cfg.repeats):
            if self._fixed is not None:
                copy_parameters(self._fixed["ntk"][r], self.origin)
                space.set_masks(self.origin, self._origin_masks)
            elif cfg.init == "kaiming":
                kaiming_init_(self.origin, "fan_out")
            copy_parameters(self.origin, net)
            space.set_masks(net, cand_masks)
            x = self._fixed["x"] if self._fixed is not None else self._ntk_batch(self.data_rng)
            ko = self._cached(
                ("ntk", self._origin_masks.tobytes(), r), lambda x=x: self._kappa(self.origin, x)
            )
            kc = self._kappa(net, x)
            k_origin.append(ko)
            k_cand.append(kc)
            dk.append(kappa_change(ko, kc, cfg.precision))
        del net
        # Linear regions: a new pair of thin nets per candidate; the pruned one gets the origin's weights.
        thin_origin = space.build_lr_net()
        space.set_masks(thin_origin, lr_origin_masks)
        thin = space.build_lr_net()
        space.set_masks(thin, cand_masks)
        r_origin, r_cand, dr = [], [], []
        for r in range(cfg.repeats):
            if self._fixed is not None:
                copy_parameters(self._fixed["lr"][r], thin_origin)
                space.set_masks(thin_origin, lr_origin_masks)
            elif cfg.init == "kaiming":
                kaiming_init_(thin_origin, "fan_in")
            copy_parameters(thin_origin, thin)
            space.set_masks(thin, cand_masks)
            if self._fixed is not None:
                batches = self._fixed["patches"]
            else:
                batches = [self.patch_stream.next().to(self.device) for _ in range(cfg.lr_batches)]
            ro = self._cached(
                ("lr", lr_origin_masks.tobytes(), r),
                lambda batches=batches: self._regions(thin_origin, batches),
            )
            rc = self._regions(thin, batches)
            r_origin.append(ro)
            r_cand.append(rc)
            dr.append(regions_change(ro, rc, cfg.precision))
        return CandidateMeasure(
            np.mean(dk), np.mean(dr), dk, dr, k_origin, k_cand, r_origin, r_cand
        )

    # ---- the trajectory (reported, never used to prune) -------------------------------------
    def supernet_state(self, masks: np.ndarray) -> dict:
        """κ and R of the supernet in state `masks`: mean over repeats, on per-repeat networks and
        inputs drawn once from a separate stream (the same for every round, so rounds compare)."""
        if self._trajectory is None:
            rng = np.random.default_rng(self._trajectory_seed)
            self._trajectory = self._draw_fixed(rng, int(rng.integers(2**62)))
        fixed = self._trajectory
        kappas, regions = [], []
        for r in range(self.config.repeats):
            ntk = copy.deepcopy(fixed["ntk"][r])
            self.space.set_masks(ntk, masks)
            kernel = empirical_ntk(ntk, fixed["x"], engine=self.config.ntk_engine)
            kappas.append(official_kappa(kernel, self.config.kappa_dtype, self.config.nan_kappa))
            lr = copy.deepcopy(fixed["lr"][r])
            self.space.set_masks(lr, masks)
            regions.append(float(count_linear_regions(lr, fixed["patches"])))
        return {
            "kappa": float(np.mean(kappas)),
            "regions": float(np.mean(regions)),
            "kappa_repeats": [float(k) for k in kappas],
            "regions_repeats": regions,
        }


# ============================================================================ the loop


def _candidate_row(space: PruningSpace, key: Key, m: CandidateMeasure) -> dict:
    ct, e, op = key
    return {
        "cell_type": space.cell_types[ct],
        "edge": e,
        "edge_name": space.edge_names[e],
        "op": op,
        "op_name": space.op_names[op],
        "dkappa": float(m.dkappa),
        "dregions": float(m.dregions),
        "dkappa_repeats": [float(v) for v in m.dkappa_repeats],
        "dregions_repeats": [float(v) for v in m.dregions_repeats],
        "kappa_origin": [float(v) for v in m.kappa_origin],
        "kappa": [float(v) for v in m.kappa],
        "regions_origin": m.regions_origin,
        "regions": m.regions,
    }


def _measure_all(
    meter,
    keys: list[Key],
    masks: np.ndarray,
    progress: bool | None,
    desc: str,
    log: Callable[[str], None] | None = None,
):
    """Measure every candidate key; returns (ntk list, regions list, rows by key)."""
    ntk, regions, rows = [], [], {}
    for key in tqdm(
        keys,
        desc=desc,
        unit="cand",
        disable=None if progress is None else not progress,
        leave=False,
    ):
        cand = masks.copy()
        cand[key] = False
        m = meter.measure(cand, masks)
        ntk.append([m.dkappa, key])
        regions.append([m.dregions, key])
        rows[key] = _candidate_row(meter.space, key, m)
        if log is not None:
            log(
                f"  {desc}: {rows[key]['cell_type']} {rows[key]['edge_name']} -{rows[key]['op_name']}: "
                f"dkappa {m.dkappa:+.4f} dregions {m.dregions:+.4f}"
            )
    return ntk, regions, rows


def _ranked_rows(rows: dict, ranked, pruned: set) -> list[dict]:
    """Candidate rows in measurement order, with their ranks and position in the rank-sum order."""
    info = {key: (position, ranks) for position, (key, ranks) in enumerate(ranked)}
    out = []
    for key, row in rows.items():
        position, (ntk_rank, regions_rank) = info[key]
        out.append(
            {
                **row,
                "ntk_rank": ntk_rank,
                "regions_rank": regions_rank,
                "rank_sum": ntk_rank + regions_rank,
                "order": position,
                "pruned": key in pruned,
            }
        )
    return out


def prune_round(
    meter,
    masks: np.ndarray,
    config: TenasConfig,
    *,
    progress: bool | None = None,
    desc: str = "round",
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """One official pruning round (``prune_func_rank``); returns the new masks and its record."""
    masks = masks.copy()
    masks[:, :, NONE_INDEX] = False  # forced at the start of every round
    meter.begin_round(masks)
    number = effective_prune_number(masks, config.prune_number)
    keys = candidates(masks)
    ntk, regions, rows = _measure_all(meter, keys, masks, progress, desc, log)
    ranked = rank_candidates(ntk, regions, config.precision)
    chosen = select_prunes(ranked, number)
    pruned = {key for keys_ in chosen.values() for key in keys_}
    for key in pruned:
        masks[key] = False
    record = {
        "prune_number": number,
        "candidates": _ranked_rows(rows, ranked, pruned),
        "pruned": [
            {
                "cell_type": meter.space.cell_types[k[0]],
                "edge": k[1],
                "edge_name": meter.space.edge_names[k[1]],
                "op": k[2],
                "op_name": meter.space.op_names[k[2]],
            }
            for k in sorted(pruned)
        ],
    }
    return masks, record


def prune_edge_groups(
    meter,
    masks: np.ndarray,
    config: TenasConfig,
    groups: Sequence[tuple[int, int]],
    keep: int = 2,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """DARTS-space edge pruning (``prune_func_rank_group``, docs/tenas-spec.md §8) on a single-path state.

    For every cell type and every group of incoming edges ``[start, stop)`` with more than `keep`
    edges, each edge's removal is measured, ranked by the same rank sum within the group, and all
    but the last `keep` in rank-sum order are removed. The NTK origin is set once for the whole
    phase (the official stale origin); the thin origin follows the current state. The space must
    treat an edge with no active op as absent.
    """
    masks = masks.copy()
    masks[:, :, NONE_INDEX] = False
    meter.begin_round(masks)
    records = []
    for ct in range(masks.shape[0]):
        for start, stop in groups:
            if stop - start <= keep:
                continue
            keys = [
                (ct, e, int(op)) for e in range(start, stop) for op in np.flatnonzero(masks[ct, e])
            ]
            ntk, regions, rows = _measure_all(
                meter, keys, masks, progress, f"group {start}-{stop}", log
            )
            ranked = rank_candidates(ntk, regions, config.precision)
            pruned = {key for key, _ in ranked[:-keep]}
            for key in pruned:
                masks[key] = False
            records.append(
                {
                    "cell_type": meter.space.cell_types[ct],
                    "group": [start, stop],
                    "candidates": _ranked_rows(rows, ranked, pruned),
                    "pruned_edges": sorted(k[1] for k in pruned),
                }
            )
    return masks, records


@dataclass
class TenasOutcome:
    masks: np.ndarray
    rounds: list[dict]
    search_seconds: float
    trajectory_seconds: float
    counts: dict
    data_epochs: int


def run_tenas(
    space: PruningSpace,
    config: TenasConfig,
    images: ImageSet,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
    log: Callable[[str], None] = lambda msg: None,
    edge_groups: Sequence[tuple[int, int]] | None = None,
) -> TenasOutcome:
    """The whole TE-NAS search: rounds until single path (then edge groups, if given).

    Seeds python, numpy and torch with `seed` first (the official ``prepare_seed``). Round 0 of
    the record is the state before pruning (`none` already out). With ``config.trajectory`` each
    round also carries ``kappa`` and ``regions`` of the supernet after it (measured on a separate
    stream, timed separately, never used to prune).
    """
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    meter = TenasMeter(space, config, images, seed=seed, device=device)
    masks = initial_masks(space)
    search_s = trajectory_s = 0.0

    def state(record: dict, masks_: np.ndarray) -> dict:
        nonlocal trajectory_s
        record["active_ops"] = active_ops(space, masks_)
        if config.trajectory:
            t0 = time.perf_counter()
            record.update(meter.supernet_state(masks_))
            trajectory_s += time.perf_counter() - t0
            log(
                f"round {record['round']}: supernet kappa {record['kappa']:.6g}, regions {record['regions']:.6g}"
            )
        return record

    rounds = [state({"round": 0, "prune_number": 0, "candidates": [], "pruned": []}, masks)]
    k = 0
    while not is_single_path(masks):
        k += 1
        t0 = time.perf_counter()
        masks, record = prune_round(
            meter, masks, config, progress=progress, desc=f"round {k}", log=log
        )
        seconds = time.perf_counter() - t0
        search_s += seconds
        record = {"round": k, "seconds": seconds, **record}
        log(
            f"round {k}: {len(record['candidates'])} candidates, pruned "
            + ", ".join(f"{p['edge_name']}:{p['op_name']}" for p in record["pruned"])
            + f" ({seconds:.1f} s)"
        )
        rounds.append(state(record, masks))
    if edge_groups:
        t0 = time.perf_counter()
        masks, groups = prune_edge_groups(
            meter, masks, config, edge_groups, progress=progress, log=log
        )
        seconds = time.perf_counter() - t0
        search_s += seconds
        rounds.append(
            state(
                {
                    "round": k + 1,
                    "seconds": seconds,
                    "prune_number": 0,
                    "candidates": [],
                    "pruned": [],
                    "edge_groups": groups,
                },
                masks,
            )
        )
    return TenasOutcome(
        masks, rounds, search_s, trajectory_s, dict(meter.counts), meter.patch_stream.epochs
    )
