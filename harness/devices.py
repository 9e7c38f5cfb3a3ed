"""The compute device a command asked for, checked before any work (one rule for every command)."""

from __future__ import annotations

import torch

from harness.errors import InputError


def check_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` on a machine that has it; returns it unchanged.

    Raises:
        InputError: another name, CUDA asked for where there is none, or an index past the
            machine's devices.
    """
    dev = str(device)
    if dev == "cpu":
        return dev
    try:
        parsed = torch.device(dev)
    except (RuntimeError, ValueError):
        parsed = None
    if parsed is None or parsed.type != "cuda":
        raise InputError(f"invalid --device {dev!r}: expected cpu, cuda or cuda:N.")
    if not torch.cuda.is_available():
        raise InputError(
            f"--device {dev} asked for, but CUDA is not available on this machine; use --device cpu."
        )
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise InputError(
            f"--device {dev}: this machine has {torch.cuda.device_count()} CUDA device(s)."
        )
    return dev
