"""The machine a result was computed on, recorded beside every sweep configuration, sweep run and
search record (never hashed: the same request on another machine is the same experiment)."""

from __future__ import annotations

import platform
import socket
from pathlib import Path

import torch

import harness


def cpu_name() -> str:
    """The CPU model (Linux ``/proc/cpuinfo``), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """The accelerator's name for a CUDA device, else the CPU model."""
    target = torch.device(device)
    return torch.cuda.get_device_name(target) if target.type == "cuda" else cpu_name()


def environment(device: str, **extra) -> dict:
    """Versions, host, device and torch threads; `extra` adds or overrides keys (e.g. the worker
    count of a sweep, whose per-worker ``threads`` replace the driver's)."""
    env = {
        "harness_version": harness.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "device": device,
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
    }
    env.update(extra)
    return env
