"""Fixed facts about the datasets: classes, resolution, normalisation, file names and sources."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SPLITS: tuple[str, ...] = ("train", "test")
SYNTHETIC_SIZE = 50_000  # nominal pool size of a synthetic set (every draw is fresh noise)


@dataclass(frozen=True)
class DatasetSpec:
    """Fixed facts about one dataset: classes, resolution and NB201 normalisation."""

    name: str
    title: str
    num_classes: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _div255(values: Sequence[float]) -> tuple[float, float, float]:
    return tuple(v / 255 for v in values)  # type: ignore[return-value]


# Constants from NB201 / TE-NAS get_dataset_with_transform.py (see docs/data.md).
DATASETS: dict[str, DatasetSpec] = {
    "cifar10": DatasetSpec(
        "cifar10",
        "CIFAR-10",
        10,
        32,
        _div255((125.3, 123.0, 113.9)),
        _div255((63.0, 62.1, 66.7)),
    ),
    "cifar100": DatasetSpec(
        "cifar100",
        "CIFAR-100",
        100,
        32,
        _div255((129.3, 124.1, 112.4)),
        _div255((68.2, 65.4, 70.4)),
    ),
    "ImageNet16-120": DatasetSpec(
        "ImageNet16-120",
        "ImageNet16-120",
        120,
        16,
        _div255((122.68, 116.66, 104.01)),
        _div255((63.22, 61.26, 65.09)),
    ),
    # TE-NAS searches ImageNet on images resized to 32x32, with the usual ImageNet statistics.
    "imagenet": DatasetSpec(
        "imagenet",
        "ImageNet (ImageFolder)",
        1000,
        32,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
    ),
    "synthetic": DatasetSpec("synthetic", "synthetic", 10, 32, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}

# File names inside a data root: the shared images/ forms and the official layouts.
CIFAR10_NPZ = {"train": "cifar10_train_4000.npz", "test": "cifar10_test_1000.npz"}
CIFAR10_JPEG = {"train": "cifar10_train_10000_jpeg.npz", "test": "cifar10_test_10000_jpeg.npz"}
CIFAR10_JPEGBYTES = "cifar10_all_60000_jpegbytes.npz"
CIFAR100_NPZ = "cifar100_test_20.npz"
IMAGENET16_TRAIN = tuple(f"train_data_batch_{k}" for k in range(1, 11))

CIFAR10_SOURCES = ("batches", "npz", "jpeg10k", "jpegbytes")
CIFAR100_SOURCES = ("batches", "npz20")
IMAGENET16_SOURCES = ("official", "standin")

# The accepted `source=` values per dataset (checked before any file is read).
SOURCES: dict[str, tuple[str, ...]] = {
    "cifar10": CIFAR10_SOURCES,
    "cifar100": CIFAR100_SOURCES,
    "ImageNet16-120": IMAGENET16_SOURCES,
    "imagenet": ("imagefolder",),
    "synthetic": tuple(k for k in DATASETS if k != "synthetic"),  # the shape to mimic
}
