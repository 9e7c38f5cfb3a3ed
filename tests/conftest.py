"""Shared fixtures: where the real data lives, and skip markers when it is absent."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HARNESS_DATA_DIR", REPO.parent / "shared" / "data"))
HAS_IMAGES = (SHARED_DATA / "images" / "cifar10_train_4000.npz").is_file()
HAS_TABLE = (SHARED_DATA / "nb201" / "nb201_accuracy.csv").is_file()

needs_images = pytest.mark.skipif(not HAS_IMAGES, reason=f"real CIFAR-10 images not found under {SHARED_DATA}")
needs_table = pytest.mark.skipif(not HAS_TABLE, reason=f"NB201 accuracy table not found under {SHARED_DATA}")


def load_script(relative_path: str) -> ModuleType:
    """Import a repository script that is not part of a package (benchmarks/, scripts/)."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA
