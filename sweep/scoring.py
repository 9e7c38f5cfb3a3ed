"""Score one cell of a search space with a set of proxies under a profile: seeded networks of the
space's `build_network` (harness.spaces.registry), fixed inputs.

The inputs (one image batch, the linear-region patches) are drawn once per scorer, and repeat r
builds every network under ``torch.manual_seed(weight_seed + r)``; each proxy gets its own
freshly built network (identical weights; building is cheaper than deep-copying one) and is
seeded the same way, so a value never depends on which other proxies ran or in what order
(common random numbers across cells). Proxies that are functions of
one common pass (`ProxySpec.shared_pass`, e.g. snip, grad_norm, plain and fisher of one loss
backward) get it computed once per network; each still records the seconds it would cost alone
(the pass plus its own work).
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

import proxies as proxy_registry
from harness.data import ImageSet, image_batch, patch_batches
from harness.errors import InputError
from harness.spaces.registry import get_space
from proxies.zero_cost import SHARED_PASSES
from sweep.profiles import Profile

STATUSES = ("ok", "nan", "inf", "error")


@dataclass(frozen=True)
class ProxyResult:
    proxy: str
    repeat: int
    value: float | None
    status: str
    message: str | None
    seconds: float
    peak_mem_mb: float


def classify(value: float) -> tuple[float | None, str, str | None]:
    """(stored value, status, message): NaN is stored as NULL; ±inf is kept (e.g. -inf is the
    legitimate lowest score of a disconnected cell) but flagged with status `inf`."""
    if math.isnan(value):
        return None, "nan", None
    if math.isinf(value):
        return value, "inf", "+inf" if value > 0 else "-inf"
    return value, "ok", None


def component_proxies(names: Sequence[str]) -> list[str]:
    """Expand population-level scores (e.g. `tenas`) into the per-cell proxies they combine."""
    out: list[str] = []
    for name in names:
        spec = proxy_registry.get_proxy(name)
        for part in spec.combines or (name,):
            if part not in out:
                out.append(part)
    return out


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )  # Linux: KiB -> MiB (process peak)


class CellScorer:
    """Scores cells of `space` with per-cell proxies; build once per worker, then call `score` (a
    cell) or `score_index` (its index in an enumerable space) per cell."""

    def __init__(
        self,
        profile: Profile,
        proxy_names: Sequence[str],
        images: ImageSet,
        device: str | torch.device = "cpu",
        space: str = "nb201",
    ):
        self.profile = profile
        self.space = get_space(space)
        self._build_network = self.space.build_network.load()
        self.device = torch.device(device)
        self.specs = [proxy_registry.get_proxy(n) for n in proxy_names]
        for spec in self.specs:
            if spec.fn is None:
                raise InputError(
                    f"proxy {spec.name!r} is a population-level score; score its components "
                    f"{', '.join(spec.combines)} and combine them in `harness correlate`."
                )
        self.num_classes = images.num_classes
        self.x = self.y = self.patches = None
        if any(s.inputs in ("images", "shape") for s in self.specs):
            x, y = image_batch(
                images, profile.batch_size, profile.data_seed, augment=profile.augment
            )
            self.x, self.y = x.to(self.device), y.to(self.device)
        if any(s.inputs == "patches" for s in self.specs):
            batches = patch_batches(
                images,
                n_batches=profile.patch_batches,
                batch_size=profile.patch_batch_size,
                size=profile.patch_size,
                seed=profile.data_seed,
            )
            self.patches = [b.to(self.device) for b in batches]
        self.options = {
            "ntk_cond": dict(engine=profile.ntk_engine, nonpositive=profile.ntk_nonpositive)
        }

    def _network(self, cell, preset: str, repeat: int) -> torch.nn.Module:
        torch.manual_seed(self.profile.weight_seed + repeat)
        net = self._build_network(
            cell,
            preset,
            num_classes=self.num_classes,
            track_running_stats=self.profile.bn_track_running_stats,
        )
        return net.to(self.device)

    def _shared_pass(self, kind: str, cell, preset: str, repeat: int) -> tuple[object, float]:
        """Run a pass several proxies share, on its own fresh network, seeded as theirs."""
        start = time.perf_counter()
        model = self._network(cell, preset, repeat)
        torch.manual_seed(self.profile.weight_seed + repeat)
        return SHARED_PASSES[kind](model, self.x, self.y), time.perf_counter() - start

    def score_index(self, index: int, todo: Iterable[tuple[str, int]]) -> list[ProxyResult]:
        """`score` the cell of `index` in the (enumerable) space."""
        return self.score(self.space.cell_from_index(index), todo)

    def score(self, cell, todo: Iterable[tuple[str, int]]) -> list[ProxyResult]:
        """Compute the (proxy, repeat) pairs of `todo` for one cell; failures become rows."""
        todo = sorted(set(todo), key=lambda pr: (pr[1], [s.name for s in self.specs].index(pr[0])))
        results: list[ProxyResult] = []
        shared: dict[
            tuple[str, str, int], tuple[object, float]
        ] = {}  # -> (pass result, its seconds)
        for name, repeat in todo:
            spec = proxy_registry.get_proxy(name)
            preset = (
                self.profile.patch_network
                if spec.inputs == "patches"
                else self.profile.image_network
            )
            inputs = self.patches if spec.inputs == "patches" else self.x
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            start = time.perf_counter()
            pass_seconds = 0.0
            try:
                options = dict(self.options.get(name, {}))
                if spec.shared_pass is not None:
                    key = (spec.shared_pass, preset, repeat)
                    if key not in shared:
                        shared[key] = self._shared_pass(spec.shared_pass, cell, preset, repeat)
                    options[spec.shared_pass], pass_seconds = shared[key]
                    start = time.perf_counter()  # the pass is counted once, below, for every sharer
                model = self._network(cell, preset, repeat)
                torch.manual_seed(self.profile.weight_seed + repeat)
                value = float(spec.fn(model, inputs, self.y, **options))
                stored, status, message = classify(value)
            except Exception as err:  # noqa: BLE001 -- one failing cell must not stop a sweep
                stored, status, message = None, "error", f"{type(err).__name__}: {err}"[:500]
            seconds = time.perf_counter() - start + pass_seconds
            results.append(
                ProxyResult(
                    name, repeat, stored, status, message, seconds, _peak_memory_mb(self.device)
                )
            )
        return results
