"""Train and evaluate DARTS networks of a genotype on CIFAR-10 or ImageNet (docs/tenas-spec.md §13).

`Trainer` runs a `TrainConfig` (training.config: the recipe and its schedule) with checkpoint/resume
(training.checkpoint), top-1/top-5 logging, mixed precision on GPU and DistributedDataParallel when
started by ``torchrun`` (training.distributed; only rank 0 writes).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from harness import atomic
from harness.errors import InputError
from harness.spaces.darts import build_network
from training import checkpoint
from training.config import (
    RESUMABLE_OVERRIDES,
    TrainConfig,
    check_config,
    default_out_dir,
    genotype_label,
    lr_factor,
    make_config,
)
from training.distributed import DistInfo, all_reduce_sums, init_distributed, resolve_device
from training.imagenet_data import build_datasets

log = logging.getLogger(__name__)


def accuracy_counts(logits: torch.Tensor, target: torch.Tensor, topk=(1, 5)) -> list[int]:
    """Number of samples whose target is among the top-k logits, for each k (k capped at classes)."""
    maxk = min(max(topk), logits.size(1))
    pred = logits.topk(maxk, dim=1).indices
    hit = pred.eq(target.view(-1, 1))
    return [int(hit[:, : min(k, maxk)].any(dim=1).sum()) for k in topk]


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
        init_distributed(self.info, self.device)
        checkpoint.seed_everything(config.seed + self.info.rank)
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

    # ---- data -------------------------------------------------------------------------------
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
        bar = self._bar(
            total=total, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="batch", leave=False
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
        return {**self._means(sums, "train"), "train_seconds": time.perf_counter() - start}

    @torch.no_grad()
    def evaluate(self, loader: DataLoader | None = None) -> dict:
        """Top-1/top-5 accuracy (%) and cross-entropy on the validation set (all ranks combined)."""
        self.net.eval()
        loader = loader or self.val_loader()
        sums = {"loss": 0.0, "top1": 0, "top5": 0, "n": 0}
        for x, y in self._bar(iterable=loader, desc="eval", unit="batch", leave=False):
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                logits = self.model(x)
            sums["loss"] += float(self.eval_criterion(logits.float(), y)) * y.size(0)
            top1, top5 = accuracy_counts(logits, y)
            sums["top1"] += top1
            sums["top5"] += top5
            sums["n"] += int(y.size(0))
        return self._means(sums, "val")

    def _means(self, sums: dict, prefix: str) -> dict:
        """Loss and top-1/top-5 (%) per image over all ranks, and the number of images."""
        sums = all_reduce_sums(sums, self.info, self.device)
        n = max(sums["n"], 1)
        return {
            f"{prefix}_loss": sums["loss"] / n,
            f"{prefix}_top1": 100 * sums["top1"] / n,
            f"{prefix}_top5": 100 * sums["top5"] / n,
            f"{prefix}_images": sums["n"],
        }

    def _bar(self, **kwargs) -> tqdm:
        """A progress bar on stderr, shown by rank 0 only (and only on a terminal)."""
        return tqdm(file=sys.stderr, disable=None if self.info.is_main else True, **kwargs)

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
        bar = self._bar(total=cfg.epochs, initial=self.epoch, desc="epochs", unit="epoch")
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
            "format": checkpoint.FORMAT,
            "config": dataclasses.asdict(self.config),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": self.history,
            "best_top1": self.best_top1,
            "rng": checkpoint.rng_state(),
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the full training state atomically (a crash never leaves a torn checkpoint)."""
        return checkpoint.save_checkpoint(self.state_dict(), path)

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
        checkpoint.set_rng_state(state["rng"])

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
        state = checkpoint.load_checkpoint(path)
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
