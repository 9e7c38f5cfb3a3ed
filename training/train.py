"""Train and evaluate DARTS networks of a genotype on CIFAR-10 or ImageNet (docs/tenas-spec.md §13).

`TrainConfig` holds the DARTS evaluation protocols as defaults (`protocol("cifar10")`,
`protocol("imagenet")`); `Trainer` runs them with checkpoint/resume, top-1/top-5 logging, mixed
precision on GPU and DistributedDataParallel when started by ``torchrun`` (RANK / WORLD_SIZE /
LOCAL_RANK in the environment; only rank 0 writes). The learning rate is a function of the epoch
(set once per epoch, as DARTS does): optional linear warm-up ``lr * (e + 1) / warmup``, then
cosine ``lr * (1 + cos(pi e / E)) / 2`` or DARTS_evaluation's "linear" decay.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import pickle
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from harness import atomic
from harness.devices import check_device
from harness.errors import InputError, unknown_name
from harness.spaces.darts import GENOTYPES, build_network, load_genotype

log = logging.getLogger(__name__)

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
    if genotype in GENOTYPES:
        return genotype
    path = Path(genotype)
    if len(genotype) < 256 and path.is_file():
        return path.stem
    return "custom"


def default_out_dir(config: TrainConfig) -> Path:
    return Path("runs") / "train" / "darts" / config.dataset / genotype_label(config.genotype)


# ---- distributed set-up ------------------------------------------------------------------------


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistInfo:
        """torchrun's RANK / WORLD_SIZE / LOCAL_RANK (a single process when unset)."""
        try:
            return cls(
                int(os.environ.get("RANK", 0)),
                int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)),
            )
        except ValueError as err:
            raise InputError(
                f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {err}."
            ) from None


def resolve_device(spec: str, info: DistInfo) -> torch.device:
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device(
                "cuda", info.local_rank if info.world_size > 1 else torch.cuda.current_device()
            )
        return torch.device("cpu")
    device = torch.device(check_device(spec))
    if device.type == "cuda" and info.world_size > 1:
        device = torch.device("cuda", info.local_rank)
    return device


# ---- data ----------------------------------------------------------------------------------------


def build_datasets(config: TrainConfig) -> tuple[Dataset, Dataset]:
    """Training and validation sets of `config.dataset` with DARTS's transforms."""
    from training.imagenet_data import CifarDataset, ImageFolderDataset

    if config.dataset == "cifar10":
        from harness.data import load_images

        train = load_images("cifar10", "train", config.data_dir, source=config.data_source)
        test = load_images("cifar10", "test", config.data_dir, source=config.data_source)
        return CifarDataset(train, True, config.cutout), CifarDataset(test, False)
    from harness.data import load_image_folder_index

    return (
        ImageFolderDataset(
            load_image_folder_index("train", config.data_dir), True, config.image_size
        ),
        ImageFolderDataset(
            load_image_folder_index("test", config.data_dir), False, config.image_size
        ),
    )


def accuracy_counts(logits: torch.Tensor, target: torch.Tensor, topk=(1, 5)) -> list[int]:
    """Number of samples whose target is among the top-k logits, for each k (k capped at classes)."""
    maxk = min(max(topk), logits.size(1))
    pred = logits.topk(maxk, dim=1).indices
    hit = pred.eq(target.view(-1, 1))
    return [int(hit[:, : min(k, maxk)].any(dim=1).sum()) for k in topk]


# ---- the trainer ---------------------------------------------------------------------------------


class Trainer:
    """Trains the DARTS network of `config`; `fit()` runs the remaining epochs, checkpointing each.

    Args:
        config: the run (see `make_config`).
        train_data, val_data: datasets to use instead of those `config.dataset` names (tests).
        info: distributed rank/world size (default: from torchrun's environment).
    """

    def __init__(
        self,
        config: TrainConfig,
        train_data: Dataset | None = None,
        val_data: Dataset | None = None,
        info: DistInfo | None = None,
    ):
        check_config(config)
        self.config = config
        self.info = info or DistInfo.from_env()
        if config.batch_size % self.info.world_size:
            raise InputError(
                f"--batch-size {config.batch_size} is the global batch; it must divide evenly "
                f"over the {self.info.world_size} processes."
            )
        self.device = resolve_device(config.device, self.info)
        self.out_dir = Path(config.out_dir) if config.out_dir else default_out_dir(config)
        self._init_distributed()
        _seed_everything(config.seed + self.info.rank)
        self.use_amp = bool(config.amp) and self.device.type == "cuda"
        self._train_data, self._val_data = train_data, val_data
        self.num_classes = config.num_classes or getattr(self.train_data, "num_classes", None)
        self.model = build_network(
            config.genotype,
            config.dataset,
            C=config.init_channels,
            layers=config.layers,
            auxiliary=config.auxiliary,
            pool_bn=config.pool_bn,
            num_classes=self.num_classes,
        ).to(self.device)
        if self.info.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.net = self.model
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=config.nesterov,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda e: lr_factor(self.config, e)
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.eval_criterion = nn.CrossEntropyLoss()
        self.epoch = 0  # completed epochs
        self.history: list[dict] = []
        self.best_top1 = 0.0

    # ---- set-up -----------------------------------------------------------------------------
    def _init_distributed(self) -> None:
        if self.info.world_size > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def train_data(self) -> Dataset:
        if self._train_data is None:
            self._train_data, self._val_data = build_datasets(self.config)
        return self._train_data

    @property
    def val_data(self) -> Dataset:
        if self._val_data is None:
            self._train_data, self._val_data = build_datasets(self.config)
        return self._val_data

    def train_loader(self) -> DataLoader:
        # A DistributedSampler also for one process: its permutation is a function of (seed, epoch),
        # so a resumed run sees the same batches as an uninterrupted one.
        sampler = DistributedSampler(
            self.train_data,
            num_replicas=self.info.world_size,
            rank=self.info.rank,
            shuffle=True,
            seed=self.config.seed,
            drop_last=self.config.dataset == "imagenet",
        )
        sampler.set_epoch(self.epoch)
        return DataLoader(
            self.train_data,
            batch_size=self.config.batch_size // self.info.world_size,
            sampler=sampler,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            drop_last=self.config.dataset == "imagenet",
        )

    def val_loader(self) -> DataLoader:
        # Each rank takes every world_size-th image (no padding), counts are summed across ranks.
        data = self.val_data
        if self.config.eval_limit is not None and self.config.eval_limit < len(data):
            data = Subset(data, range(self.config.eval_limit))
        if self.info.world_size > 1:
            data = Subset(data, range(self.info.rank, len(data), self.info.world_size))
        return DataLoader(
            data,
            batch_size=self.config.batch_size // self.info.world_size,
            shuffle=False,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
        )

    # ---- steps ------------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        """One SGD step on a batch (auxiliary loss, AMP, gradient clipping); returns its metrics."""
        self.net.train()
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            logits, aux = self.net(x, return_aux=True)
            loss = self.criterion(logits, y)
            if aux is not None:
                loss = loss + self.config.auxiliary_weight * self.criterion(aux, y)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        top1, top5 = accuracy_counts(logits.detach(), y)
        return {"loss": float(loss.detach()), "top1": top1, "top5": top5, "n": int(y.size(0))}

    def train_epoch(self) -> dict:
        """Train one epoch (drop-path ramped to `drop_path_prob * epoch / epochs`)."""
        cfg = self.config
        self.model.drop_path_prob = cfg.drop_path_prob * self.epoch / cfg.epochs
        loader = self.train_loader()
        total = (
            len(loader) if cfg.steps_per_epoch is None else min(len(loader), cfg.steps_per_epoch)
        )
        sums = {"loss": 0.0, "top1": 0, "top5": 0, "n": 0}
        bar = tqdm(
            total=total,
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
            unit="batch",
            file=sys.stderr,
            disable=None if self.info.is_main else True,
            leave=False,
        )
        start = time.perf_counter()
        for step, (x, y) in enumerate(loader):
            if step >= total:
                break
            m = self.train_step(x, y)
            sums["loss"] += m["loss"] * m["n"]
            for k in ("top1", "top5", "n"):
                sums[k] += m[k]
            bar.update()
            bar.set_postfix(
                loss=f"{sums['loss'] / sums['n']:.3f}",
                top1=f"{100 * sums['top1'] / sums['n']:.1f}",
                top5=f"{100 * sums['top5'] / sums['n']:.1f}",
            )
        bar.close()
        sums = self._all_reduce(sums)
        n = max(sums["n"], 1)
        return {
            "train_loss": sums["loss"] / n,
            "train_top1": 100 * sums["top1"] / n,
            "train_top5": 100 * sums["top5"] / n,
            "train_images": sums["n"],
            "train_seconds": time.perf_counter() - start,
        }

    @torch.no_grad()
    def evaluate(self, loader: DataLoader | None = None) -> dict:
        """Top-1/top-5 accuracy (%) and cross-entropy on the validation set (all ranks combined)."""
        self.net.eval()
        loader = loader or self.val_loader()
        sums = {"loss": 0.0, "top1": 0, "top5": 0, "n": 0}
        for x, y in tqdm(
            loader,
            desc="eval",
            unit="batch",
            file=sys.stderr,
            leave=False,
            disable=None if self.info.is_main else True,
        ):
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                logits = self.model(x)
            sums["loss"] += float(self.eval_criterion(logits.float(), y)) * y.size(0)
            top1, top5 = accuracy_counts(logits, y)
            sums["top1"] += top1
            sums["top5"] += top5
            sums["n"] += int(y.size(0))
        sums = self._all_reduce(sums)
        n = max(sums["n"], 1)
        return {
            "val_loss": sums["loss"] / n,
            "val_top1": 100 * sums["top1"] / n,
            "val_top5": 100 * sums["top5"] / n,
            "val_images": sums["n"],
        }

    def _all_reduce(self, sums: dict) -> dict:
        if self.info.world_size == 1:
            return sums
        keys = sorted(sums)
        t = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return {
            k: (float(v) if k == "loss" else int(round(float(v)))) for k, v in zip(keys, t.tolist())
        }

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self, until: int | None = None) -> dict:
        """Run epochs `self.epoch .. epochs-1` (or stop once `until` epochs are done), evaluating and
        checkpointing after each; returns the summary."""
        cfg = self.config
        stop = cfg.epochs if until is None else min(until, cfg.epochs)
        if self.info.is_main:
            if self.epoch == 0 and (self.out_dir / "checkpoint.pt").exists():
                raise InputError(
                    f"{str(self.out_dir)!r} already holds a run (checkpoint.pt); continue it with "
                    f"--resume {self.out_dir / 'checkpoint.pt'} or pass another --out."
                )
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if self.epoch == 0:
                (self.out_dir / "metrics.jsonl").unlink(missing_ok=True)
            atomic.write_text(
                self.out_dir / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2) + "\n"
            )
            log.info(
                "training %s on %s for %d epochs -> %s",
                genotype_label(cfg.genotype),
                cfg.dataset,
                cfg.epochs,
                self.out_dir,
            )
        bar = tqdm(
            total=cfg.epochs,
            initial=self.epoch,
            desc="epochs",
            unit="epoch",
            file=sys.stderr,
            disable=None if self.info.is_main else True,
        )
        while self.epoch < stop:
            lr = self.optimizer.param_groups[0]["lr"]
            record = {
                "epoch": self.epoch + 1,
                "lr": lr,
                "drop_path_prob": cfg.drop_path_prob * self.epoch / cfg.epochs,
            }
            record.update(self.train_epoch())
            last = self.epoch + 1 == cfg.epochs
            if (self.epoch + 1) % cfg.eval_every == 0 or last:
                record.update(self.evaluate())
                self.best_top1 = max(self.best_top1, record["val_top1"])
            self.scheduler.step()
            self.epoch += 1
            self.history.append(record)
            shown = {"lr": f"{lr:.4g}", "train_top1": f"{record['train_top1']:.2f}"}
            if "val_top1" in record:
                shown.update(
                    val_top1=f"{record['val_top1']:.2f}", val_top5=f"{record['val_top5']:.2f}"
                )
            bar.update()
            bar.set_postfix(shown)
            if self.info.is_main:
                # Rewritten whole each epoch (it is small): a kill never leaves a torn last line.
                atomic.write_text(
                    self.out_dir / "metrics.jsonl",
                    "".join(json.dumps(r) + "\n" for r in self.history),
                )
                log.info(
                    "epoch %d/%d %s",
                    record["epoch"],
                    cfg.epochs,
                    " ".join(f"{k} {v}" for k, v in shown.items()),
                )
                self.save_checkpoint(self.out_dir / "checkpoint.pt")
        bar.close()
        summary = self.summary()
        if self.info.is_main:
            atomic.write_text(self.out_dir / "result.json", json.dumps(summary, indent=2) + "\n")
        return summary

    def summary(self) -> dict:
        last_eval = next((r for r in reversed(self.history) if "val_top1" in r), {})
        return {
            "genotype": str(self.model.genotype),
            "dataset": self.config.dataset,
            "epochs": self.epoch,
            "val_top1": last_eval.get("val_top1"),
            "val_top5": last_eval.get("val_top5"),
            "best_val_top1": self.best_top1,
            "out_dir": str(self.out_dir),
        }

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "format": "harness.darts.train/1",
            "config": dataclasses.asdict(self.config),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": self.history,
            "best_top1": self.best_top1,
            "rng": _rng_state(),
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the full training state atomically (a crash never leaves a torn checkpoint)."""
        path = Path(path)
        with atomic.atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)
        return path

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        self.best_top1 = float(state["best_top1"])
        # The schedule is a function of (config, epoch): recompute it, so that a resumed run with more
        # epochs follows the longer cosine instead of the saved learning rate.
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * lr_factor(self.config, self.epoch)
        self.scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]
        _set_rng_state(state["rng"], self.device)

    @classmethod
    def resume(
        cls,
        path: str | Path,
        train_data: Dataset | None = None,
        val_data: Dataset | None = None,
        info: DistInfo | None = None,
        **overrides,
    ) -> Trainer:
        """Continue the run saved at `path`; only `RESUMABLE_OVERRIDES` may change."""
        state = load_checkpoint(path)
        changed = sorted(
            k
            for k, v in overrides.items()
            if v is not None and k not in RESUMABLE_OVERRIDES and state["config"].get(k) != v
        )
        if changed:
            raise InputError(
                f"cannot change {', '.join(changed)} when resuming from {str(path)!r}; "
                f"only {', '.join(RESUMABLE_OVERRIDES)} may change."
            )
        config = TrainConfig(
            **{
                **state["config"],
                **{
                    k: v for k, v in overrides.items() if v is not None and k in RESUMABLE_OVERRIDES
                },
            }
        )
        if config.out_dir is None:
            config = dataclasses.replace(config, out_dir=str(Path(path).parent))
        trainer = cls(config, train_data, val_data, info)
        trainer.load_state_dict(state)
        return trainer


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by `Trainer.save_checkpoint` (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {str(path)!r}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise InputError(f"cannot read checkpoint {str(path)!r}: {err}") from None
    if not isinstance(state, dict) or state.get("format") != "harness.darts.train/1":
        raise InputError(f"{str(path)!r} is not a harness DARTS training checkpoint.")
    return state


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "python": list(_to_lists(random.getstate())),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _to_lists(obj):
    return [_to_lists(o) for o in obj] if isinstance(obj, (tuple, list)) else obj


def _to_tuples(obj):
    return tuple(_to_tuples(o) for o in obj) if isinstance(obj, list) else obj


def _set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(_to_tuples(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if (
        state["cuda"]
        and torch.cuda.is_available()
        and len(state["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(state["cuda"])


def run_training(dataset: str | None = None, resume: str | Path | None = None, **overrides) -> dict:
    """Start a run with the protocol of `dataset` plus `overrides`, or continue the checkpoint
    `resume` (then only `RESUMABLE_OVERRIDES` may differ); returns the run's summary."""
    if resume is not None:
        if dataset is not None:
            overrides["dataset"] = dataset
        trainer = Trainer.resume(resume, **overrides)
    else:
        if dataset is None:
            raise InputError("a dataset is needed to start training (cifar10 or imagenet).")
        trainer = Trainer(make_config(dataset, **overrides))
    try:
        return trainer.fit()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
