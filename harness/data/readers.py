"""One reader per (dataset, source) in `READERS`, and each dataset's default-source order.

A reader turns the files of one data root into an `ImageSet`, or raises DataNotFoundError when
the root lacks them (the root search then tries the next root). With no source asked for, `read`
takes the first source in the dataset's `DEFAULTS` whose file the root holds; taking a later one
is logged, and recorded in the set when it changes what is measured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.checksums import cached_file_sha256, files_sha256
from harness.data.formats import (
    read_cifar_batches,
    read_imagenet16,
    read_jpeg_bytes_npz,
    read_pixel_npz,
)
from harness.data.imageset import FolderImages, GaussianImages, ImageSet, JpegBytesImages
from harness.data.specs import (
    CIFAR10_JPEG,
    CIFAR10_JPEGBYTES,
    CIFAR10_NPZ,
    CIFAR100_NPZ,
    DATASETS,
    IMAGENET16_TRAIN,
    SOURCES,
    SYNTHETIC_SIZE,
    DatasetSpec,
)
from harness.errors import DataNotFoundError, InputError
from harness.imagefolder import scan_image_folder
from harness.paths import relative_to

log = logging.getLogger(__package__)  # "harness.data": log lines name the package, not this file

#: ``reader(root, split, limit, fallback)``: `fallback` says why the source stands in for the
#: dataset's first choice (recorded in the set), None when it was asked for or is the first choice.
Reader = Callable[[Path, str, int | None, str | None], ImageSet]


def check_limit(limit: int | None, available: int, what: str) -> int:
    """The number of images to keep: `limit`, or all `available` when None.

    Raises:
        InputError: `limit` is not a positive integer, or exceeds `available`.
    """
    if limit is None:
        return available
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise InputError(f"limit must be a positive integer; got {limit!r}.")
    if limit > available:
        raise InputError(f"limit {limit} exceeds the {available} images of {what}.")
    return int(limit)


def missing(title: str, looked: Sequence[Path], expects: str) -> DataNotFoundError:
    """The error for files not found: every path looked at, and what a data root should hold."""
    where = ", ".join(str(p) for p in looked[:-1])
    where = f"{where} and {looked[-1]}" if where else str(looked[-1])
    return DataNotFoundError(
        f"{title} not found: looked for {where}; pass --data-dir pointing at {expects}."
    )


def _image_set(
    spec: DatasetSpec,
    split: str,
    images,
    labels,
    source: str,
    checksum: str | None,
    *,
    num_classes: int | None = None,
    **flags,
) -> ImageSet:
    """An ImageSet of `spec`'s dataset, with its class count (unless given) and normalisation."""
    return ImageSet(
        images=images,
        labels=labels,
        dataset=spec.name,
        split=split,
        num_classes=spec.num_classes if num_classes is None else num_classes,
        source=source,
        checksum=checksum,
        mean=spec.mean,
        std=spec.std,
        **flags,
    )


def _npz_set(
    path: Path,
    d: Path,
    spec: DatasetSpec,
    split: str,
    limit: int | None,
    form: str,
    fallback: str | None,
) -> ImageSet:
    images, labels = read_pixel_npz(path, spec.image_size, spec.num_classes)
    n = check_limit(limit, len(labels), f"{path.name}")
    return _image_set(
        spec,
        split,
        images[:n],
        labels[:n],
        f"{relative_to(path, d)} ({form})",
        cached_file_sha256(path),
        fallback=fallback,
    )


# CIFAR-10: the official python batches, or the shared images/ forms.


def _cifar10_batch_files(d: Path, split: str) -> list[Path]:
    official = d / "cifar-10-batches-py"
    return (
        [official / f"data_batch_{k}" for k in range(1, 6)]
        if split == "train"
        else [official / "test_batch"]
    )


def _cifar10_batches(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    files = _cifar10_batch_files(d, split)
    official = files[0].parent
    absent = [p for p in files if not p.is_file()]
    if absent:
        raise missing("CIFAR-10 python batches", absent, "a folder holding cifar-10-batches-py/")
    images, labels, used = read_cifar_batches(files, "labels", 32, limit)
    # Reading stops once `limit` images are in, so a shortfall means the files hold too few.
    n = check_limit(limit, len(labels), f"CIFAR-10 {split} in {official}")
    names = ",".join(p.name for p in used)
    return _image_set(
        DATASETS["cifar10"],
        split,
        images[:n],
        labels[:n],
        f"{relative_to(official, d)}/{{{names}}} (official python batches)",
        files_sha256(used),
        fallback=fallback,
    )


def _cifar10_npz_file(d: Path, split: str) -> Path:
    return d / "images" / CIFAR10_NPZ[split]


def _cifar10_npz(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    path = _cifar10_npz_file(d, split)
    if not path.is_file():
        raise missing("CIFAR-10 exact-pixel npz", [path], f"a folder holding images/{path.name}")
    first = "0-3999" if split == "train" else "0-999"
    return _npz_set(
        path,
        d,
        DATASETS["cifar10"],
        split,
        limit,
        f"exact pixels, CIFAR-10 {split} images {first}",
        fallback,
    )


def _cifar10_jpeg10k(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    path = d / "images" / CIFAR10_JPEG[split]
    if not path.is_file():
        raise missing("CIFAR-10 JPEG-decoded npz", [path], f"a folder holding images/{path.name}")
    return _npz_set(path, d, DATASETS["cifar10"], split, limit, "decoded from JPEG q75", fallback)


def _cifar10_jpegbytes(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    spec = DATASETS["cifar10"]
    path = d / "images" / CIFAR10_JPEGBYTES
    if not path.is_file():
        raise missing("CIFAR-10 JPEG bytes", [path], f"a folder holding images/{path.name}")
    buffer, offsets, labels, which = read_jpeg_bytes_npz(path, spec.num_classes)
    rows = np.flatnonzero(which == (0 if split == "train" else 1))
    n = check_limit(limit, len(rows), f"{path.name} ({split})")
    rows = rows[:n]
    lazy = JpegBytesImages(buffer, offsets[rows], offsets[rows + 1], 32)
    return _image_set(
        spec,
        split,
        lazy,
        labels[rows],
        f"{relative_to(path, d)} (JPEG bytes, decoded on access)",
        cached_file_sha256(path),
        fallback=fallback,
    )


def _cifar10_npz_notice(d: Path, split: str) -> str:
    return (
        f"official batches not under {_cifar10_batch_files(d, split)[0].parent}; using the "
        f"exact-pixel {_cifar10_npz_file(d, split)}"
    )


# CIFAR-100: the official python files, or 20 real test images.


def _cifar100_file(d: Path, split: str) -> Path:
    return d / "cifar-100-python" / split


def _cifar100_npz_file(d: Path) -> Path:
    return d / "images" / CIFAR100_NPZ


def _cifar100_batches(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    official = _cifar100_file(d, split)
    if not official.is_file():
        raise missing("CIFAR-100 python files", [official], "a folder holding cifar-100-python/")
    images, labels, used = read_cifar_batches([official], "fine_labels", 32, limit)
    n = check_limit(limit, len(labels), f"CIFAR-100 {split} in {official}")
    return _image_set(
        DATASETS["cifar100"],
        split,
        images[:n],
        labels[:n],
        f"{relative_to(official, d)} (official python file, fine labels)",
        files_sha256(used),
        fallback=fallback,
    )


def _cifar100_npz20(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    npz = _cifar100_npz_file(d)
    if not npz.is_file():
        raise missing("CIFAR-100 sample npz", [npz], f"a folder holding images/{npz.name}")
    if split == "train" and fallback is None:
        raise InputError(
            f"CIFAR-100 source 'npz20' holds test images only; ask for split 'test', not {split!r}."
        )
    return _npz_set(
        npz,
        d,
        DATASETS["cifar100"],
        "test",
        limit,
        "20 real CIFAR-100 test images, fine labels",
        fallback,
    )


def _cifar100_npz20_fallback(d: Path, split: str) -> str:
    fallback = (
        f"official {relative_to(_cifar100_file(d, split), d)} not found; using the 20 "
        f"CIFAR-100 test images of {relative_to(_cifar100_npz_file(d), d)}"
    )
    if split == "train":
        fallback += " in place of the train split"
    return fallback


# ImageNet16-120: the official pickles, or the official-format stand-in fixture.


def _imagenet16_first(split: str) -> str:
    return IMAGENET16_TRAIN[0] if split == "train" else "val_data"


def _imagenet16_official_firsts(d: Path, split: str) -> list[Path]:
    return [p / _imagenet16_first(split) for p in (d / "ImageNet16", d)]


def _imagenet16_fixture(d: Path) -> Path:
    return d / "images" / "imagenet16_format_fixture"


def _imagenet16_official(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    looked = _imagenet16_official_firsts(d, split)
    found = next((p.parent for p in looked if p.is_file()), None)
    if found is None:
        raise missing("ImageNet16-120 (official)", looked, "a folder holding ImageNet16/ pickles")
    return _imagenet16_set(d, found, split, limit, fallback, standin=False)


def _imagenet16_standin(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    first = _imagenet16_fixture(d) / _imagenet16_first(split)
    if not first.is_file():
        raise missing("ImageNet16-120 (standin)", [first], "a folder holding ImageNet16/ pickles")
    return _imagenet16_set(d, first.parent, split, limit, fallback, standin=True)


def _imagenet16_set(
    d: Path, folder: Path, split: str, limit: int | None, fallback: str | None, standin: bool
) -> ImageSet:
    spec = DATASETS["ImageNet16-120"]
    names = IMAGENET16_TRAIN if split == "train" else ("val_data",)
    files = [folder / name for name in names if (folder / name).is_file()]
    partial = ""
    if len(files) < len(names):
        partial = f", only {len(files)} of {len(names)} files present"
        if not standin:
            log.warning(
                "ImageNet16-120 %s: only %d of %d files in %s",
                split,
                len(files),
                len(names),
                folder,
            )
    images, labels, used = read_imagenet16(files, spec.num_classes, limit)
    n = check_limit(limit, len(labels), f"ImageNet16-120 {split} in {folder}")
    form = "official-format STAND-IN fixture" if standin else "official ImageNet16 pickles"
    return _image_set(
        spec,
        split,
        images[:n],
        labels[:n],
        f"{relative_to(folder, d)}/{{{','.join(p.name for p in used)}}} ({form}{partial})",
        files_sha256(used),
        standin=standin,
        fallback=fallback,
    )


def _imagenet16_standin_fallback(d: Path, split: str) -> str:
    official = " or ".join(relative_to(p, d) for p in _imagenet16_official_firsts(d, split))
    return (
        f"official ImageNet16 pickles not found ({official}); using the STAND-IN fixture "
        f"{relative_to(_imagenet16_fixture(d), d)} (one photo per class, not for reported numbers)"
    )


# ImageNet: an ImageFolder tree.


def find_image_folder(d: Path, split: str) -> Path:
    """``<d>/imagenet/{train,val}/``, else ``<d>/{train,val}/``."""
    folder = "train" if split == "train" else "val"
    candidates = [d / "imagenet" / folder, d / folder]
    for cand in candidates:
        if cand.is_dir():
            return cand
    raise missing(
        f"ImageNet {folder}/ (ImageFolder)",
        candidates,
        f"a folder holding imagenet/{folder}/<class>/<image>.JPEG (torchvision ImageFolder layout)",
    )


def _imagenet_folder(d: Path, split: str, limit: int | None, fallback: str | None) -> ImageSet:
    spec = DATASETS["imagenet"]
    root = find_image_folder(d, split)
    index = scan_image_folder(root)
    n = check_limit(limit, len(index), f"the ImageFolder {root}")
    size = spec.image_size
    return _image_set(
        spec,
        split,
        FolderImages(index, size, n),
        index.labels[:n],
        f"{relative_to(root, d)} (ImageFolder, {len(index.classes)} classes, "
        f"resized to {size}x{size} on access)",
        index.checksum(),
        num_classes=len(index.classes),
        fallback=fallback,
    )


READERS: dict[tuple[str, str], Reader] = {
    ("cifar10", "batches"): _cifar10_batches,
    ("cifar10", "npz"): _cifar10_npz,
    ("cifar10", "jpeg10k"): _cifar10_jpeg10k,
    ("cifar10", "jpegbytes"): _cifar10_jpegbytes,
    ("cifar100", "batches"): _cifar100_batches,
    ("cifar100", "npz20"): _cifar100_npz20,
    ("ImageNet16-120", "official"): _imagenet16_official,
    ("ImageNet16-120", "standin"): _imagenet16_standin,
    ("imagenet", "imagefolder"): _imagenet_folder,
}
if set(READERS) != {
    (ds, s) for ds, sources in SOURCES.items() if ds != "synthetic" for s in sources
}:
    raise RuntimeError("harness.data.readers.READERS and harness.data.specs.SOURCES disagree")


@dataclass(frozen=True)
class Choice:
    """One source in a dataset's default order, taken when the root holds one of its `files`."""

    source: str
    files: Callable[[Path, str], list[Path]]  # (root, split) -> the files that show it is there
    fallback: Callable[[Path, str], str] | None = None  # why it stands in: warned and recorded
    notice: Callable[[Path, str], str] | None = None  # the same pixels in another form: logged only


@dataclass(frozen=True)
class DefaultOrder:
    """A dataset's sources in the order `read` tries them when none is asked for."""

    choices: tuple[Choice, ...]
    expects: str  # what a root holding none of them should hold, for the error message


#: Datasets with more than one source; the others' only source reads the root unprobed.
DEFAULTS: dict[str, DefaultOrder] = {
    "cifar10": DefaultOrder(
        (
            Choice("batches", lambda d, split: _cifar10_batch_files(d, split)[:1]),
            Choice(
                "npz", lambda d, split: [_cifar10_npz_file(d, split)], notice=_cifar10_npz_notice
            ),
        ),
        "a folder holding the official cifar-10-batches-py/ or the shared images/ forms",
    ),
    "cifar100": DefaultOrder(
        (
            Choice("batches", lambda d, split: [_cifar100_file(d, split)]),
            Choice(
                "npz20", lambda d, split: [_cifar100_npz_file(d)], fallback=_cifar100_npz20_fallback
            ),
        ),
        f"a folder holding the official cifar-100-python/ or images/{CIFAR100_NPZ}",
    ),
    "ImageNet16-120": DefaultOrder(
        (
            Choice("official", _imagenet16_official_firsts),
            Choice(
                "standin",
                lambda d, split: [_imagenet16_fixture(d) / _imagenet16_first(split)],
                fallback=_imagenet16_standin_fallback,
            ),
        ),
        "a folder holding the official ImageNet16/ pickles (train_data_batch_1..10, val_data)",
    ),
}


def _default_source(dataset: str, d: Path, split: str) -> tuple[str, str | None]:
    """``(source, fallback)``: the first source of the dataset's default order that `d` holds."""
    order = DEFAULTS.get(dataset)
    if order is None:
        return SOURCES[dataset][0], None
    title = DATASETS[dataset].title
    for choice in order.choices:
        if not any(p.is_file() for p in choice.files(d, split)):
            continue
        if choice.notice is not None:
            log.info("%s: %s", title, choice.notice(d, split))
        fallback = None if choice.fallback is None else choice.fallback(d, split)
        if fallback is not None:
            log.warning("%s FALLBACK: %s", title, fallback)
        return choice.source, fallback
    raise missing(
        title, [p for choice in order.choices for p in choice.files(d, split)], order.expects
    )


def read(dataset: str, d: Path, split: str, source: str | None, limit: int | None) -> ImageSet:
    """One split of `dataset` from the data root `d`: `source`, or the default order's choice.

    Raises:
        DataNotFoundError: `d` lacks the files.
        InputError: unreadable or malformed files; ``limit`` larger than the split.
    """
    fallback = None
    if source is None:
        source, fallback = _default_source(dataset, d, split)
    return READERS[dataset, source](d, split, limit, fallback)


def synthetic_set(split: str, like: str | None, limit: int | None) -> ImageSet:
    """A synthetic set shaped like `like` (default cifar10): N(0,1) draws, placeholder labels."""
    like = like or "cifar10"
    t = DATASETS[like]
    n = (
        check_limit(limit, SYNTHETIC_SIZE, "a synthetic set")
        if limit is not None
        else SYNTHETIC_SIZE
    )
    return ImageSet(
        images=GaussianImages(n, t.image_size),
        labels=np.arange(n, dtype=np.int64) % t.num_classes,  # placeholder labels, evenly spread
        dataset="synthetic",
        split=split,
        num_classes=t.num_classes,
        source=f"synthetic: N(0,1) inputs shaped like {like} (3x{t.image_size}x{t.image_size}, "
        f"{t.num_classes} classes); NOT real images",
        checksum=None,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        synthetic=True,
    )
