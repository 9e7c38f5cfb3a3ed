"""Training checkpoints: the file format, reading it back, and the random state that makes a resumed
run continue exactly as an uninterrupted one (Python, NumPy, torch and CUDA generators)."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from harness import atomic
from harness.errors import InputError

FORMAT = "harness.darts.train/1"


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write `state` atomically (a crash never leaves a torn checkpoint)."""
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by `Trainer.save_checkpoint` (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {str(path)!r}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise InputError(f"cannot read checkpoint {str(path)!r}: {err}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{str(path)!r} is not a harness DARTS training checkpoint.")
    return state


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every generator's state in a form `torch.load(weights_only=True)` reads back."""
    np_state = np.random.get_state()
    return {
        "python": list(_to_lists(random.getstate())),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restore `rng_state()`; CUDA's only on a machine with as many devices."""
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


def _to_lists(obj):
    return [_to_lists(o) for o in obj] if isinstance(obj, (tuple, list)) else obj


def _to_tuples(obj):
    return tuple(_to_tuples(o) for o in obj) if isinstance(obj, list) else obj
