"""Measuring one candidate the official way (or with the TEGNAS fixes): κ with the official
semantics, the linear-region crop stream, and `TenasMeter`, which counts every evaluation."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.data import ImageSet, image_batch, random_patches
from harness.errors import InputError
from proxies.linear_regions import count_linear_regions
from proxies.ntk import condition_number, empirical_ntk
from search.tenas.config import TenasConfig
from search.tenas.rules import kappa_change, regions_change
from search.tenas.space import PruningSpace


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


def measure_candidates(meter, keys, masks: np.ndarray, progress: bool | None, desc: str):
    """Yield ``(key, meter.measure(masks without key, masks))`` for each candidate removal, in
    order, behind a progress bar; any meter with TenasMeter's `measure` (TE-NAS's or the
    indicators')."""
    from tqdm import tqdm

    for key in tqdm(
        keys,
        desc=desc,
        unit="cand",
        disable=None if progress is None else not progress,
        leave=False,
    ):
        cand = masks.copy()
        cand[key] = False
        yield key, meter.measure(cand, masks)


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
