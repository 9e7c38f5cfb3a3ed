"""`harness data status`: which datasets and benchmark sources the data roots hold, and from where.

Each entry is probed in the roots in the order the readers search them (`harness.paths`), without
loading the data: file presence, and image counts from the ``labels`` arrays of ``.npz`` files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.bench import NATS_TSS_DIRS, NB201_FILES, TABLE_NAMES
from harness.data import CIFAR10_JPEG, CIFAR10_JPEGBYTES, CIFAR10_NPZ, IMAGENET16_TRAIN
from harness.paths import DataRoot, all_roots, data_roots


@dataclass(frozen=True)
class Holding:
    """One dataset or benchmark source: where the readers would take it from, and what is there."""

    name: str
    kind: str  # "dataset" | "benchmark"
    available: bool
    where: str | None  # origin:path inside the root
    forms: str  # what the root holds, with counts
    missing: str  # what is not there, and how to get it ("" when complete)

    def as_dict(self) -> dict:
        return asdict(self)


def _npz_count(path: Path) -> int:
    with np.load(path, allow_pickle=False) as z:
        return int(z["labels"].shape[0])


def _files(folder: Path, names) -> list[str]:
    return [n for n in names if (folder / n).is_file()]


# Each probe returns (path that identifies it, forms held, what is missing) or None when absent.
Probe = Callable[[Path], "tuple[Path, str, str] | None"]


def _cifar10(d: Path):
    forms, first = [], None
    batches = d / "cifar-10-batches-py"
    have = _files(batches, [*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"])
    if have:
        first = batches
        forms.append(
            f"official python batches ({len(have) * 10_000:,} images, {len(have)} of 6 files)"
        )
    for what, names in (("exact-pixel npz", CIFAR10_NPZ), ("JPEG-decoded npz", CIFAR10_JPEG)):
        for split, name in names.items():
            if (d / "images" / name).is_file():
                first = first or d / "images" / name
                forms.append(f"{what} {split} ({_npz_count(d / 'images' / name):,} images)")
    if (d / "images" / CIFAR10_JPEGBYTES).is_file():
        first = first or d / "images" / CIFAR10_JPEGBYTES
        forms.append(f"JPEG bytes ({_npz_count(d / 'images' / CIFAR10_JPEGBYTES):,} images)")
    if first is None:
        return None
    missing = "" if len(have) == 6 else "the official batches: `harness data download cifar10`"
    return first, "; ".join(forms), missing


def _cifar100(d: Path):
    official = d / "cifar-100-python"
    have = _files(official, ["train", "test"])
    sample = d / "images" / "cifar100_test_20.npz"
    if have:
        counts = {"train": 50_000, "test": 10_000}
        missing = (
            "" if len(have) == 2 else f"cifar-100-python/{({'train', 'test'} - set(have)).pop()}"
        )
        return official, f"official python files ({sum(counts[h] for h in have):,} images)", missing
    if sample.is_file():
        return (
            sample,
            f"test sample ({_npz_count(sample)} images)",
            "the official files: `harness data download cifar100`",
        )
    return None


def _imagenet16(d: Path):
    for folder in (d / "ImageNet16", d):
        have = _files(folder, [*IMAGENET16_TRAIN, "val_data"])
        if have:
            n_train = len([h for h in have if h != "val_data"])
            missing = (
                ""
                if len(have) == len(IMAGENET16_TRAIN) + 1
                else f"{len(IMAGENET16_TRAIN) + 1 - len(have)} of the official files"
            )
            return (
                folder,
                f"official pickles ({n_train} of 10 train files"
                f"{', val_data' if 'val_data' in have else ''})",
                missing,
            )
    fixture = d / "images" / "imagenet16_format_fixture"
    if (fixture / IMAGENET16_TRAIN[0]).is_file():
        return (
            fixture,
            "STAND-IN fixture (one photo per class; smoke tests only)",
            "the official pickles: `harness data download ImageNet16-120` says where to get them",
        )
    return None


def _imagenet(d: Path):
    for base in (d / "imagenet", d):
        train = base / "train"
        if train.is_dir():
            classes = sum(1 for p in train.iterdir() if p.is_dir())
            val = (base / "val").is_dir()
            return (
                train,
                f"ImageFolder train/ ({classes} classes){', val/' if val else ''}",
                "" if val else "val/",
            )
    return None


def _table(d: Path):
    for name in TABLE_NAMES:
        path = d / "nb201" / name
        if path.is_file():
            import pandas as pd

            cells = len(pd.read_csv(path, usecols=["index"]))
            return path, f"NB201 accuracy table ({cells:,} cells)", ""
    return None


def _nb201_pth(d: Path):
    for folder in (d / "nb201", d):
        for name in NB201_FILES:
            if (folder / name).is_file():
                size = (folder / name).stat().st_size / 2**30
                return folder / name, f"{name} ({size:.1f} GiB)", ""
    return None


def _nats_tss(d: Path):
    for folder in (d / "nb201", d):
        for name in NATS_TSS_DIRS:
            if (folder / name).is_dir():
                cells = sum(1 for _ in (folder / name).glob("*.pickle.pbz2")) - 1  # less meta
                return folder / name, f"{name}/ ({cells:,} cell files)", ""
    return None


#: (name, kind, probe, what to do when it is in no root)
ENTRIES: tuple[tuple[str, str, Probe, str], ...] = (
    ("cifar10", "dataset", _cifar10, "`harness data download cifar10`"),
    ("cifar100", "dataset", _cifar100, "`harness data download cifar100`"),
    (
        "ImageNet16-120",
        "dataset",
        _imagenet16,
        "`harness data download ImageNet16-120` says where to get it",
    ),
    ("imagenet", "dataset", _imagenet, "`harness data download imagenet` says how to lay it out"),
    ("nb201-table", "benchmark", _table, "pass --bench with a table, .pth or NATS folder"),
    (
        "nb201-pth",
        "benchmark",
        _nb201_pth,
        "optional: `harness data download nb201-pth` says where to get it",
    ),
    (
        "nats-tss",
        "benchmark",
        _nats_tss,
        "optional: `harness data download nats-tss` says where to get it",
    ),
)


def inventory(
    data_dir: str | Path | None = None,
) -> tuple[list[DataRoot], list[DataRoot], list[Holding]]:
    """The roots searched, the roots present but not searched, and one `Holding` per entry."""
    searched = data_roots(data_dir)
    idle = [r for r in all_roots(data_dir) if r not in searched]
    holdings = []
    for name, kind, probe, how in ENTRIES:
        for root in searched:
            found = probe(root.path)
            if found is not None:
                path, forms, missing = found
                holdings.append(Holding(name, kind, True, root.label(path), forms, missing))
                break
        else:
            holdings.append(Holding(name, kind, False, None, "", how))
    return searched, idle, holdings
