"""The training recipe: `TrainConfig`, DARTS's evaluation protocols and the learning-rate schedule.

`TrainConfig` holds the DARTS evaluation protocols as defaults (`protocol("cifar10")`,
`protocol("imagenet")`, docs/tenas-spec.md §13). The learning rate is a function of the epoch (set
once per epoch, as DARTS does): optional linear warm-up ``lr * (e + 1) / warmup``, then cosine
``lr * (1 + cos(pi e / E)) / 2`` or DARTS_evaluation's "linear" decay. Imports no torch, so the CLI
can read the defaults for its help texts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError, unknown_name

DATASETS = ("cifar10", "imagenet")
LR_SCHEDULES = ("cosine", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """One training run; defaults are DARTS's CIFAR-10 protocol (see `protocol`)."""

    dataset: str = "cifar10"  # cifar10 | imagenet
    genotype: str = "TENAS_cifar10"  # shipped name, file, or Genotype(...) text
    epochs: int = 600
    batch_size: int = 96  # global: split evenly over DDP processes
    lr: float = 0.025  # initial learning rate (SGD)
    momentum: float = 0.9
    weight_decay: float = 3e-4
    nesterov: bool = False
    lr_schedule: str = "cosine"  # cosine | linear (DARTS_evaluation's ImageNet alternative)
    warmup_epochs: int = 0  # linear warm-up epochs: lr * (e + 1) / warmup_epochs
    label_smoothing: float = 0.0
    grad_clip: float = 5.0  # max gradient norm; 0 disables
    auxiliary: bool = True  # auxiliary head after the second reduction cell
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.3  # final value; ramped linearly from 0 over the epochs
    cutout: int = 16  # CIFAR cutout length in pixels; 0 disables
    init_channels: int = 36
    layers: int = 20
    image_size: int = 32  # training crop (224 for ImageNet)
    pool_bn: bool = False  # P-DARTS/DARTS_evaluation variant: non-affine BN after pooling ops
    num_classes: int | None = (
        None  # default: 10 for cifar10, the number of class folders for imagenet
    )
    workers: int = 4  # DataLoader workers per process
    seed: int = 0
    amp: bool = True  # float16 autocast + GradScaler; only on CUDA
    data_dir: str | None = None  # --data-dir > $HARNESS_DATA_DIR > user cache > embedded sample
    data_source: str | None = (
        None  # harness.data source for CIFAR-10 (batches, npz, jpeg10k, jpegbytes)
    )
    out_dir: str | None = None  # default runs/train/darts/<dataset>/<genotype>
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under torchrun: cuda:LOCAL_RANK)
    steps_per_epoch: int | None = None  # cap on training steps per epoch (smoke runs)
    eval_every: int = 1  # evaluate every this many epochs (and after the last)
    eval_limit: int | None = None  # evaluate on the first N validation images only (smoke runs)


_IMAGENET = dict(
    dataset="imagenet",
    genotype="TENAS_imagenet",
    epochs=250,
    batch_size=768,
    lr=0.5,
    weight_decay=3e-5,
    warmup_epochs=5,
    label_smoothing=0.1,
    auxiliary=False,
    drop_path_prob=0.0,
    cutout=0,
    init_channels=48,
    layers=14,
    image_size=224,
)
PROTOCOLS: dict[str, TrainConfig] = {
    # DARTS train.py / DARTS_evaluation train.py defaults (+ --cutout --auxiliary as run by both).
    "cifar10": TrainConfig(),
    # DARTS_evaluation train_imagenet_dist.py defaults (batch 768 over 8 GPUs; warm-up as batch > 256).
    "imagenet": TrainConfig(**_IMAGENET),
}
# Settings that may change when resuming (where and how fast it runs, and for how long).
RESUMABLE_OVERRIDES = (
    "epochs",
    "out_dir",
    "device",
    "data_dir",
    "workers",
    "steps_per_epoch",
    "eval_every",
    "eval_limit",
    "amp",
)


def protocol(dataset: str) -> TrainConfig:
    """DARTS's evaluation protocol for `dataset` (cifar10 or imagenet)."""
    if dataset not in PROTOCOLS:
        raise unknown_name("dataset", dataset, PROTOCOLS)
    return PROTOCOLS[dataset]


def make_config(dataset: str, **overrides) -> TrainConfig:
    """The protocol of `dataset` with `overrides`; None values mean "not set" and are ignored."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise InputError(
            f"unknown training setting(s) {', '.join(unknown)}; accepted: {', '.join(sorted(fields))}."
        )
    config = dataclasses.replace(
        protocol(dataset), **{k: v for k, v in overrides.items() if v is not None}
    )
    check_config(config)
    return config


def check_config(config: TrainConfig) -> None:
    """Reject impossible settings up front, with the bad value and what is accepted."""
    if config.dataset not in DATASETS:
        raise unknown_name("dataset", config.dataset, DATASETS)
    if config.lr_schedule not in LR_SCHEDULES:
        raise unknown_name("lr schedule", config.lr_schedule, LR_SCHEDULES)
    from harness.spaces.darts import load_genotype

    load_genotype(config.genotype)
    positive = ("epochs", "batch_size", "init_channels", "layers", "image_size", "eval_every")
    for name in positive:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(
                f"--{name.replace('_', '-')} must be a positive integer; got {value!r}."
            )
    for name in ("steps_per_epoch", "eval_limit", "num_classes"):
        value = getattr(config, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InputError(
                f"--{name.replace('_', '-')} must be a positive integer; got {value!r}."
            )
    for name in ("warmup_epochs", "workers", "cutout"):
        if getattr(config, name) < 0:
            raise InputError(
                f"--{name.replace('_', '-')} must be >= 0; got {getattr(config, name)!r}."
            )
    for name in ("lr", "momentum", "weight_decay", "grad_clip", "auxiliary_weight"):
        if not getattr(config, name) >= 0:
            raise InputError(
                f"--{name.replace('_', '-')} must be >= 0; got {getattr(config, name)!r}."
            )
    for name in ("drop_path_prob", "label_smoothing"):
        if not 0 <= getattr(config, name) < 1:
            raise InputError(
                f"--{name.replace('_', '-')} must be in [0, 1); got {getattr(config, name)!r}."
            )
    if config.lr_schedule == "linear" and config.epochs <= 5:
        raise InputError(
            f"the linear lr schedule needs more than 5 epochs; got --epochs {config.epochs}."
        )


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Learning rate of `epoch` (0-based) relative to `config.lr`."""
    if epoch < config.warmup_epochs:
        return (epoch + 1) / config.warmup_epochs
    if config.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))
    # DARTS_evaluation adjust_lr: linear to ~0, with a gentler slope over the last 5 epochs.
    E = config.epochs
    return (E - 5 - epoch) / (E - 5) if E - epoch > 5 else (E - epoch) / ((E - 5) * 5)


def genotype_label(genotype: str) -> str:
    """A path-safe name for the run folder: the shipped name, the file stem, or 'custom'."""
    from harness.spaces.darts import GENOTYPES

    if genotype in GENOTYPES:
        return genotype
    path = Path(genotype)
    if len(genotype) < 256 and path.is_file():
        return path.stem
    return "custom"


def default_out_dir(config: TrainConfig) -> Path:
    return Path("runs") / "train" / "darts" / config.dataset / genotype_label(config.genotype)
