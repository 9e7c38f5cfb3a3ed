"""Run one DARTS-space TE-NAS search seed and write its record (result.json, config.json, log.txt).

The NB201 counterpart is `search.runs`; the folder layout and files are the same
(``<out>/darts/<dataset>/<run name>/seed<k>/``). DARTS has no benchmark, so instead of accuracies
the record carries the found genotype in DARTS's notation (under ``genotype``, which
``harness train --genotype <result.json>`` reads) and the size of its CIFAR-10 and ImageNet
evaluation networks (`harness.spaces.darts.summarize`). Records carry their own schema so
NB201 tools (the search leaderboard) never mistake them for benchmark lookups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data import ImageSet, load_images
from harness.errors import InputError
from harness.spaces.darts import OPS, summarize
from search import records
from search.algorithms import SPEED_ONLY, comparable_identity
from search.darts_adapter import DARTS_DEFAULTS, DartsPruningSpace, check_dataset
from search.runs import RunResult, _environment, _RunLog
from search.tenas import TenasConfig, quirk_options, run_tenas

SCHEMA = "harness.search.darts/1"
SPACE = "darts"
ALGO = "tenas"
SECONDS_PER_DAY = 86400.0
#: Evaluation networks whose size the record reports (DARTS's CIFAR-10 and ImageNet settings).
SIZE_DATASETS = ("cifar10", "imagenet")


def darts_config(dataset: str, **overrides) -> TenasConfig:
    """The official DARTS settings of `dataset` (docs/tenas-spec.md §7), with `overrides` on top."""
    return TenasConfig(**{**DARTS_DEFAULTS[check_dataset(dataset)], **overrides})


def method_label(config: TenasConfig, dataset: str) -> str:
    """``TE-NAS (ours)`` plus every setting that differs from the official DARTS one and changes
    the result."""
    official = darts_config(dataset).to_dict()
    extra = {k: v for k, v in config.to_dict().items() if v != official[k] and k not in SPEED_ONLY}
    return "TE-NAS (ours)" + (
        " [" + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) + "]" if extra else ""
    )


def load_search_images(dataset: str, data_dir=None, source: str | None = None) -> ImageSet:
    """The TRAINING images of the search dataset: CIFAR-10 (default source as for NB201) or an
    ImageNet ImageFolder tree (``<data dir>/imagenet/train/<class>/...``, resized to 32x32)."""
    return load_images(check_dataset(dataset), "train", data_dir, source=source)


@dataclass(frozen=True)
class DartsSearchSpec:
    """One resolved DARTS search request (one seed)."""

    dataset: str
    seed: int
    settings: TenasConfig
    out: str = "runs/search"
    tag: str | None = None
    device: str = "cpu"
    threads: int | None = None

    space = SPACE
    algo = ALGO

    @property
    def run_name(self) -> str:
        return records.check_run_name(f"{ALGO}-{self.tag}" if self.tag else ALGO)

    @property
    def method(self) -> str:
        return method_label(self.settings, self.dataset)

    @property
    def directory(self) -> Path:
        return records.run_dir(self.out, SPACE, self.dataset, self.run_name, self.seed)


def _identity(spec: DartsSearchSpec, images: ImageSet) -> dict:
    """What must match for a finished run on disk to count as this run."""
    return {
        "algo": ALGO,
        "space": SPACE,
        "dataset": spec.dataset,
        "seed": spec.seed,
        "settings": dataclasses.asdict(spec.settings),
        "data_checksum": images.checksum,
        "device": spec.device,
    }


def genotype_sizes(genotype) -> dict:
    """Params (without auxiliary head) and multiply-adds of the genotype's evaluation networks."""
    out = {}
    for dataset in SIZE_DATASETS:
        summary = summarize(genotype, dataset)
        out[dataset] = {
            k: summary[k]
            for k in (
                "params",
                "params_with_auxiliary",
                "macs",
                "image_size",
                "layers",
                "channels",
                "num_classes",
            )
        }
    return out


def execute(
    spec: DartsSearchSpec,
    images: ImageSet,
    *,
    force: bool = False,
    progress: bool | None = None,
    on_log: Callable[[str], None] | None = None,
) -> RunResult:
    """Run `spec` (or return the finished identical run on disk) and write its three files.

    Raises:
        InputError: a finished run with different settings is in the same folder (use --force
            or --tag).
    """
    directory = spec.directory
    identity = _identity(spec, images)
    result_path = directory / records.RESULT_NAME
    if result_path.is_file() and not force:
        existing = records.read_json(result_path)
        if comparable_identity(existing.get("identity") or {}) == comparable_identity(
            records.plain(identity)
        ):
            return RunResult(existing, skipped=True, path=result_path)
        raise InputError(
            f"{str(result_path)!r} holds a finished run with other settings; pass --force to "
            f"overwrite it or --tag NAME to write beside it."
        )
    say = runlog = _RunLog(on_log)
    env = _environment(spec)
    space = DartsPruningSpace(spec.dataset, spec.device)
    settings = dataclasses.asdict(spec.settings)
    options = {
        **quirk_options(spec.settings),
        "ntk_num_classes": space.num_classes,
        "ntk_num_classes_note": "the official classifier size of the search dataset (labels unused)",
    }
    config = {
        "schema": SCHEMA,
        "identity": identity,
        "method": spec.method,
        "run_name": spec.run_name,
        "settings": settings,
        "options": options,
        "data": images.describe(),
        "environment": env,
        "out": str(spec.out),
    }
    records.write_json(directory / records.CONFIG_NAME, config)
    say(f"{spec.method} on {SPACE}/{spec.dataset}, seed {spec.seed}: {images.source}")
    say(f"settings: {settings}")
    outcome = run_tenas(
        space,
        spec.settings,
        images,
        seed=spec.seed,
        device=spec.device,
        progress=progress,
        log=say,
        edge_groups=space.edge_groups,
    )
    genotype = space.final_genotype(outcome.masks)
    for record in outcome.rounds:  # the official code records the parsed genotype after every round
        record["genotype"] = str(space.genotype(_masks_of(record["active_ops"])))
    seconds = outcome.search_seconds
    sizes = genotype_sizes(genotype)
    say(
        f"found {genotype} in {seconds:.1f} s; CIFAR-10 network {sizes['cifar10']['params'] / 1e6:.2f} M params, "
        f"ImageNet network {sizes['imagenet']['params'] / 1e6:.2f} M params / "
        f"{sizes['imagenet']['macs'] / 1e6:.0f} M MACs"
    )
    record = {
        "schema": SCHEMA,
        "space": SPACE,
        "dataset": spec.dataset,
        "algo": ALGO,
        "method": spec.method,
        "run_name": spec.run_name,
        "seed": spec.seed,
        "genotype": str(genotype),
        "genotype_json": genotype.to_dict(),
        "sizes": sizes,
        "search_seconds": seconds,
        "search_days": seconds / SECONDS_PER_DAY,
        "trajectory_seconds": outcome.trajectory_seconds,
        "proxy_evaluations": {**outcome.counts, "total": sum(outcome.counts.values())},
        **env,
        "settings": settings,
        "options": options,
        "data": images.describe(),
        "identity": identity,
        "rounds": outcome.rounds,
        "lr_data_epochs": outcome.data_epochs,
    }
    records.write_text(directory / records.LOG_NAME, runlog.text())
    records.write_json(result_path, record)
    return RunResult(records.plain(record), skipped=False, path=result_path)


def _masks_of(active_ops: list[list[list[str]]]) -> np.ndarray:
    """The boolean mask of a round's ``active_ops`` (names per cell type and edge)."""
    masks = np.zeros((len(active_ops), len(active_ops[0]), len(OPS)), dtype=bool)
    for ct, cell in enumerate(active_ops):
        for e, names in enumerate(cell):
            for name in names:
                masks[ct, e, OPS.index(name)] = True
    return masks
