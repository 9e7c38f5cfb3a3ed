"""Shared fixtures, the markers' skips and the data the tests read.

The product reads the embedded sample (or a configured data root) by itself; the tests that need
the larger files of the shared data folder (JPEG forms, CIFAR-100 / ImageNet16 samples, the full
NB201 table with its extra columns) carry the `data` marker and are skipped when it is absent.
The folder is `$HARNESS_DATA_DIR` (as `.ci/run` sets it), else `../shared/data` beside the
repository, which this file then exports as `$HARNESS_DATA_DIR` so a local run matches CI. The
user cache is pointed at an empty folder, so a developer's downloads never change a test. Tests
marked `gpu` are skipped where CUDA is not available. Fake benchmark tables (the shared table's
layout, made-up accuracies) come from `tests/fakes.py`.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HARNESS_DATA_DIR") or REPO.parent / "shared" / "data")
TABLE = "nb201/nb201_accuracy.csv"
HAS_SHARED = (SHARED_DATA / TABLE).is_file()
if HAS_SHARED:
    os.environ.setdefault("HARNESS_DATA_DIR", str(SHARED_DATA))
os.environ["HARNESS_CACHE"] = tempfile.mkdtemp(prefix="harness-test-cache-")


def pytest_collection_modifyitems(config, items):
    """`data` tests are skipped without the shared data folder and `gpu` tests without CUDA, each
    with the reason, so a test file needs no skip of its own."""
    missing = {}
    if not HAS_SHARED:
        missing["data"] = (
            f"needs the shared data folder (no {TABLE} under {SHARED_DATA}; set HARNESS_DATA_DIR)"
        )
    if any("gpu" in item.keywords for item in items):
        import torch

        if not torch.cuda.is_available():
            missing["gpu"] = "needs CUDA (torch.cuda.is_available() is False here)"
    for marker, reason in missing.items():
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


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


@pytest.fixture(scope="session")
def ramp_table_csv(tmp_path_factory) -> Path:
    """`fakes.ramp_table()` on all cells as an `nb201_accuracy.csv`, written once per session (a
    write takes about a second); read it in place, or copy it before changing or moving it."""
    from tests.fakes import ramp_table  # after the environment above is set

    path = tmp_path_factory.mktemp("fake_bench") / "nb201_accuracy.csv"
    ramp_table().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def images():
    """The CIFAR-10 training images TE-NAS searches read (the embedded exact-pixel npz)."""
    from harness.data import load_images

    return load_images("cifar10", "train", source="npz")


@pytest.fixture(scope="module")
def space():
    """NB201's TE-NAS pruning space (supernets, masks), 10 classes."""
    from search.nb201_adapter import Nb201PruningSpace

    return Nb201PruningSpace(num_classes=10)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Tests that pin torch to one thread (for speed or determinism) do not leak it to the next."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
