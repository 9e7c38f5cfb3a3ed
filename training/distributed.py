"""DistributedDataParallel set-up under ``torchrun``: the rank, the device and summed counters.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK in the environment; without them a run is one process.
Only rank 0 writes files; counters (loss sums, hits, images) are summed over the ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from harness.devices import check_device
from harness.errors import InputError


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
    """The device of this process: `spec` (auto, cpu, cuda, cuda:N), under DDP cuda:LOCAL_RANK."""
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


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo on CPU) when there is more than one process."""
    if info.world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def all_reduce_sums(sums: dict, info: DistInfo, device: torch.device) -> dict:
    """`sums` added over all ranks; "loss" stays a float, the counts come back as ints."""
    if info.world_size == 1:
        return sums
    keys = sorted(sums)
    t = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {
        k: (float(v) if k == "loss" else int(round(float(v)))) for k, v in zip(keys, t.tolist())
    }
