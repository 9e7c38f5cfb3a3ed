"""Image sets (CIFAR-10/100, ImageNet16-120, ImageFolder, synthetic) and seeded TE-NAS batches.

``load_images`` reads the official layouts or the shared ``images/`` forms into an ``ImageSet``
that records where its pixels came from; ``image_batch`` and ``patch_batches`` draw the NTK batches
and the linear-region 3x3 patches of TE-NAS (docs/tenas-spec.md §5, §6, §10) from a numpy ``Generator``.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import hashlib
import io
import logging
import pickle
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.errors import DataNotFoundError, InputError, unknown_name
from harness.imagefolder import ImageFolderIndex, load_rgb, scan_image_folder
from harness.paths import data_roots, describe_roots, relative_to

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "test")
SYNTHETIC_SIZE = 50_000  # nominal pool size of a synthetic set (every draw is fresh noise)


@dataclass(frozen=True)
class DatasetSpec:
    """Fixed facts about one dataset: classes, resolution, crop padding and NB201 normalisation."""

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


# --------------------------------------------------------------------------- pixel sources


class LazyImages(abc.ABC):
    """Images decoded on access: ``shape`` is (N, H, W, 3), ``take`` returns uint8 RGB pixels."""

    shape: tuple[int, int, int, int]

    def __len__(self) -> int:
        return self.shape[0]

    @abc.abstractmethod
    def take(self, indices: np.ndarray) -> np.ndarray:
        """Pixels of the given images, uint8 (len(indices), H, W, 3)."""

    def __getitem__(self, key) -> np.ndarray:
        return self.take(np.arange(len(self))[key])


class JpegBytesImages(LazyImages):
    """JPEG-encoded images in one byte buffer; image ``k`` is ``buffer[starts[k]:ends[k]]``.

    Only the images actually drawn are decoded, so a 60,000-image file costs nothing up front.
    """

    def __init__(self, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, size: int):
        self.buffer = buffer
        self.starts = np.asarray(starts)
        self.ends = np.asarray(ends)
        self.shape = (len(self.starts), size, size, 3)

    def take(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), *self.shape[1:]), dtype=np.uint8)
        for k, i in enumerate(np.asarray(indices)):
            raw = self.buffer[self.starts[i] : self.ends[i]].tobytes()
            with Image.open(io.BytesIO(raw)) as img:
                out[k] = np.asarray(img.convert("RGB"))
        return out


class FolderImages(LazyImages):
    """An ImageFolder index whose files are decoded and squashed to ``size``x``size`` on access."""

    def __init__(self, index: ImageFolderIndex, size: int, limit: int | None = None):
        self.index = index
        self.size = size
        self.shape = (len(index) if limit is None else limit, size, size, 3)

    def take(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices)
        out = np.empty((len(indices), self.size, self.size, 3), dtype=np.uint8)
        for k, i in enumerate(indices):
            out[k] = load_rgb(self.index.paths[i], self.size)
        return out


class GaussianImages(LazyImages):
    """Placeholder for synthetic sets: it has a shape but no pixels (draws are N(0,1) tensors)."""

    def __init__(self, n: int, size: int):
        self.shape = (n, size, size, 3)

    def take(self, indices: np.ndarray) -> np.ndarray:
        raise TypeError("a synthetic image set has no pixels; draw from it with image_batch().")


# --------------------------------------------------------------------------- ImageSet


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images of one dataset split plus where they came from (for every result's configuration).

    ``images`` is uint8 RGB (N, H, W, 3) in memory, or a ``LazyImages`` that decodes on access
    (JPEG bytes, ImageFolder trees, synthetic placeholders). ``labels`` are int64, 0-based.
    """

    images: np.ndarray | LazyImages
    labels: np.ndarray
    dataset: str
    split: str
    num_classes: int
    source: str  # human-readable: file(s) inside the data root, and their form
    checksum: str | None  # sha256 of the source file(s); of the file list for ImageFolder trees
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    synthetic: bool = False
    standin: bool = False  # a stand-in for the real dataset (smoke tests only, not for numbers)
    fallback: str | None = None  # why a fallback source was used, if one was
    origin: str | None = None  # which data root served it (harness.paths.ORIGINS); None: made here

    def __post_init__(self):
        shape = tuple(self.images.shape)
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            raise ValueError(f"images must be (N, H, H, 3) RGB; got shape {shape}.")
        if isinstance(self.images, np.ndarray) and self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8; got {self.images.dtype}.")
        if len(self.labels) != shape[0]:
            raise ValueError(f"{len(self.labels)} labels for {shape[0]} images.")
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> int:
        return self.images.shape[1]

    def take(self, indices: np.ndarray) -> np.ndarray:
        """uint8 RGB pixels (len(indices), H, W, 3) of the given images (decoding lazy sources)."""
        if isinstance(self.images, np.ndarray):
            return self.images[np.asarray(indices)]
        return self.images.take(np.asarray(indices))

    def describe(self) -> dict:
        """JSON-able description stored with every result."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "n": len(self),
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "source": self.source,
            "checksum": self.checksum,
            "synthetic": self.synthetic,
            "standin": self.standin,
            "fallback": self.fallback,
            "origin": self.origin,
            "mean": list(self.mean),
            "std": list(self.std),
        }


# --------------------------------------------------------------------------- checksums


@functools.lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


def _checksum(paths: Sequence[Path]) -> str:
    """sha256 of one file, or of the ``name sha256`` lines of several files."""
    if len(paths) == 1:
        return _file_sha256(paths[0])
    lines = "".join(f"{p.name} {_file_sha256(p)}\n" for p in paths)
    return hashlib.sha256(lines.encode()).hexdigest()


# --------------------------------------------------------------------------- readers


def _unpickle(path: Path, encoding: str) -> dict:
    # The official CIFAR / ImageNet16 files are pickles; there is no other way to read them.
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding=encoding)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise InputError(f"cannot read {path} as an official dataset pickle: {e}") from None


def _get(entry: dict, key: str, path: Path):
    for k in (key, key.encode()):
        if k in entry:
            return entry[k]
    raise InputError(f"{path} has no {key!r} entry; keys: {sorted(map(str, entry))}.")


def _planar_to_hwc(data: np.ndarray, size: int, path: Path) -> np.ndarray:
    """(N, 3*size*size) channel-planar rows (all R, then G, then B) -> (N, size, size, 3)."""
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * size * size:
        raise InputError(
            f"{path}: expected data of shape (N, {3 * size * size}); got {data.shape}."
        )
    return np.ascontiguousarray(data.reshape(-1, 3, size, size).transpose(0, 2, 3, 1))


def _check_limit(limit: int | None, available: int, what: str) -> int:
    if limit is None:
        return available
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise InputError(f"limit must be a positive integer; got {limit!r}.")
    if limit > available:
        raise InputError(f"limit {limit} exceeds the {available} images of {what}.")
    return int(limit)


def _read_cifar_batches(
    files: list[Path], label_key: str, size: int, limit: int | None
) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Read official CIFAR python batches in order, stopping once ``limit`` images are in."""
    images, labels, used = [], [], []
    n = 0
    for path in files:
        entry = _unpickle(path, encoding="bytes")
        images.append(_planar_to_hwc(_get(entry, "data", path), size, path))
        labels.append(np.asarray(_get(entry, label_key, path), dtype=np.int64))
        used.append(path)
        n += len(labels[-1])
        if limit is not None and n >= limit:
            break
    return np.concatenate(images), np.concatenate(labels), used


def _missing(title: str, looked: Sequence[Path], expects: str) -> DataNotFoundError:
    where = ", ".join(str(p) for p in looked[:-1])
    where = f"{where} and {looked[-1]}" if where else str(looked[-1])
    return DataNotFoundError(
        f"{title} not found: looked for {where}; pass --data-dir pointing at {expects}."
    )


def _read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays `keys` of an .npz file; a damaged or foreign file is one InputError naming it."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise InputError(f"{path} is a single .npy array, not an .npz archive holding {', '.join(keys)}.")
        with archive as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise InputError(f"{path} lacks the array(s) {', '.join(missing)}; it holds "
                                 f"{', '.join(z.files) or 'nothing'} (expected {', '.join(keys)}).")
            return {k: z[k] for k in keys}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        # truncated (BadZipFile, EOFError), garbled (zlib.error, bad CRC), empty or not an archive
        reason = (str(err).splitlines() or [""])[0] or "no detail"
        raise InputError(f"cannot read {path} as an .npz archive ({type(err).__name__}: {reason}).") from None


def _check_labels(path: Path, labels: np.ndarray, n: int, num_classes: int) -> None:
    if labels.ndim != 1 or len(labels) != n or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{path}: labels must be {n} integers (one per image); got {labels.dtype} "
                         f"of shape {labels.shape}.")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise InputError(f"{path}: {int(bad.sum())} label(s) outside 0..{num_classes - 1}, e.g. "
                         f"{int(labels[bad][0])} at position {int(np.flatnonzero(bad)[0])}.")


def _check_pixels(path: Path, images: np.ndarray, size: int) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise InputError(f"{path}: images must be uint8 of shape (N, {size}, {size}, 3); got {images.dtype} "
                         f"of shape {images.shape}.")


def _npz_set(path: Path, d: Path, spec: DatasetSpec, split: str, limit: int | None, form: str) -> ImageSet:
    arrays = _read_npz(path, ("images", "labels"))
    images, labels = arrays["images"], arrays["labels"]
    _check_pixels(path, images, spec.image_size)
    _check_labels(path, labels, len(images), spec.num_classes)
    n = _check_limit(limit, len(labels), f"{path.name}")
    return ImageSet(
        images=images[:n],
        labels=labels[:n],
        dataset=spec.name,
        split=split,
        num_classes=spec.num_classes,
        source=f"{relative_to(path, d)} ({form})",
        checksum=_file_sha256(path),
        mean=spec.mean,
        std=spec.std,
    )


CIFAR10_NPZ = {"train": "cifar10_train_4000.npz", "test": "cifar10_test_1000.npz"}
CIFAR10_JPEG = {"train": "cifar10_train_10000_jpeg.npz", "test": "cifar10_test_10000_jpeg.npz"}
CIFAR10_JPEGBYTES = "cifar10_all_60000_jpegbytes.npz"
CIFAR10_SOURCES = ("batches", "npz", "jpeg10k", "jpegbytes")


def _load_cifar10(d: Path, split: str, source: str | None, limit: int | None) -> ImageSet:
    spec = DATASETS["cifar10"]
    official = d / "cifar-10-batches-py"
    batch_files = (
        [official / f"data_batch_{k}" for k in range(1, 6)]
        if split == "train"
        else [official / "test_batch"]
    )
    npz = d / "images" / CIFAR10_NPZ[split]
    if source is None:
        if batch_files[0].is_file():
            source = "batches"
        elif npz.is_file():
            source = "npz"
            log.info(
                "CIFAR-10: official batches not under %s; using the exact-pixel %s", official, npz
            )
        else:
            raise _missing(
                "CIFAR-10",
                [batch_files[0], npz],
                "a folder holding the official cifar-10-batches-py/ or the shared images/ forms",
            )

    if source == "batches":
        absent = [p for p in batch_files if not p.is_file()]
        if absent:
            raise _missing(
                "CIFAR-10 python batches", absent, "a folder holding cifar-10-batches-py/"
            )
        images, labels, used = _read_cifar_batches(batch_files, "labels", 32, limit)
        # Reading stops once `limit` images are in, so a shortfall means the files hold too few.
        n = _check_limit(limit, len(labels), f"CIFAR-10 {split} in {official}")
        names = ",".join(p.name for p in used)
        return ImageSet(
            images=images[:n],
            labels=labels[:n],
            dataset="cifar10",
            split=split,
            num_classes=10,
            source=f"{relative_to(official, d)}/{{{names}}} (official python batches)",
            checksum=_checksum(used),
            mean=spec.mean,
            std=spec.std,
        )
    if source == "npz":
        if not npz.is_file():
            raise _missing("CIFAR-10 exact-pixel npz", [npz], f"a folder holding images/{npz.name}")
        first = "0-3999" if split == "train" else "0-999"
        return _npz_set(npz, d, spec, split, limit, f"exact pixels, CIFAR-10 {split} images {first}")
    if source == "jpeg10k":
        path = d / "images" / CIFAR10_JPEG[split]
        if not path.is_file():
            raise _missing(
                "CIFAR-10 JPEG-decoded npz", [path], f"a folder holding images/{path.name}"
            )
        return _npz_set(path, d, spec, split, limit, "decoded from JPEG q75")
    path = d / "images" / CIFAR10_JPEGBYTES
    if not path.is_file():
        raise _missing("CIFAR-10 JPEG bytes", [path], f"a folder holding images/{path.name}")
    arrays = _read_npz(path, ("jpeg_bytes", "offsets", "labels", "split"))
    buffer, offsets, labels, which = (arrays[k] for k in ("jpeg_bytes", "offsets", "labels", "split"))
    _check_jpeg_index(path, buffer, offsets, labels, which, spec.num_classes)
    rows = np.flatnonzero(which == (0 if split == "train" else 1))
    n = _check_limit(limit, len(rows), f"{path.name} ({split})")
    rows = rows[:n]
    lazy = JpegBytesImages(buffer, offsets[rows], offsets[rows + 1], 32)
    return ImageSet(
        images=lazy,
        labels=labels[rows],
        dataset="cifar10",
        split=split,
        num_classes=10,
        source=f"{relative_to(path, d)} (JPEG bytes, decoded on access)",
        checksum=_file_sha256(path),
        mean=spec.mean,
        std=spec.std,
    )


def _check_jpeg_index(path: Path, buffer, offsets, labels, which, num_classes: int) -> None:
    """Image k of a JPEG-bytes file is buffer[offsets[k]:offsets[k+1]]: the index must fit the buffer."""
    n = len(labels)
    if buffer.ndim != 1 or buffer.dtype != np.uint8:
        raise InputError(f"{path}: jpeg_bytes must be one uint8 byte buffer; got {buffer.dtype} of shape {buffer.shape}.")
    if (offsets.ndim != 1 or len(offsets) != n + 1 or not np.issubdtype(offsets.dtype, np.integer)
            or (n and (offsets[0] < 0 or offsets[-1] > len(buffer) or (np.diff(offsets) < 0).any()))):
        raise InputError(f"{path}: offsets must be {n + 1} ascending integers within the {len(buffer)}-byte "
                         f"buffer (one more than the {n} labels); got {offsets.dtype} of shape {offsets.shape}.")
    _check_labels(path, labels, n, num_classes)
    if which.shape != (n,) or not np.isin(which, (0, 1)).all():
        raise InputError(f"{path}: split must hold {n} values 0 (train) or 1 (test); got shape {which.shape}.")


CIFAR100_SOURCES = ("batches", "npz20")


def _load_cifar100(d: Path, split: str, source: str | None, limit: int | None) -> ImageSet:
    spec = DATASETS["cifar100"]
    official = d / "cifar-100-python" / split
    npz = d / "images" / "cifar100_test_20.npz"
    fallback = None
    if source is None:
        if official.is_file():
            source = "batches"
        elif npz.is_file():
            source = "npz20"
            fallback = (f"official {relative_to(official, d)} not found; using the 20 CIFAR-100 test "
                        f"images of {relative_to(npz, d)}")
            if split == "train":
                fallback += " in place of the train split"
            log.warning("CIFAR-100 FALLBACK: %s", fallback)
        else:
            raise _missing(
                "CIFAR-100",
                [official, npz],
                "a folder holding the official cifar-100-python/ or images/cifar100_test_20.npz",
            )
    if source == "batches":
        if not official.is_file():
            raise _missing(
                "CIFAR-100 python files", [official], "a folder holding cifar-100-python/"
            )
        images, labels, used = _read_cifar_batches([official], "fine_labels", 32, limit)
        n = _check_limit(limit, len(labels), f"CIFAR-100 {split} in {official}")
        return ImageSet(
            images=images[:n],
            labels=labels[:n],
            dataset="cifar100",
            split=split,
            num_classes=100,
            source=f"{relative_to(official, d)} (official python file, fine labels)",
            checksum=_checksum(used),
            mean=spec.mean,
            std=spec.std,
        )
    if not npz.is_file():
        raise _missing("CIFAR-100 sample npz", [npz], f"a folder holding images/{npz.name}")
    if split == "train" and fallback is None:
        raise InputError(
            f"CIFAR-100 source 'npz20' holds test images only; ask for split 'test', not {split!r}."
        )
    result = _npz_set(npz, d, spec, "test", limit, "20 real CIFAR-100 test images, fine labels")
    return dataclasses.replace(result, fallback=fallback)


IMAGENET16_SOURCES = ("official", "standin")
IMAGENET16_TRAIN = tuple(f"train_data_batch_{k}" for k in range(1, 11))


def _read_imagenet16(
    files: list[Path], num_classes: int, limit: int | None
) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Read ImageNet16 pickles, keep labels 1..num_classes and shift them to 0-based (as NB201)."""
    images, labels, used = [], [], []
    n = 0
    for path in files:
        entry = _unpickle(path, encoding="latin1")
        raw_labels = np.asarray(_get(entry, "labels", path), dtype=np.int64)
        keep = (raw_labels >= 1) & (raw_labels <= num_classes)
        data = np.asarray(_get(entry, "data", path))
        if len(data) != len(raw_labels):
            raise InputError(f"{path}: {len(data)} images but {len(raw_labels)} labels.")
        images.append(_planar_to_hwc(data[keep], 16, path))
        labels.append(raw_labels[keep] - 1)
        used.append(path)
        n += int(keep.sum())
        if limit is not None and n >= limit:
            break
    return np.concatenate(images), np.concatenate(labels), used


def _load_imagenet16(d: Path, split: str, source: str | None, limit: int | None) -> ImageSet:
    spec = DATASETS["ImageNet16-120"]
    first = IMAGENET16_TRAIN[0] if split == "train" else "val_data"
    official_dirs = [d / "ImageNet16", d]
    found = next((p for p in official_dirs if (p / first).is_file()), None)
    fixture = d / "images" / "imagenet16_format_fixture"
    fallback = None
    if source is None:
        if found is not None:
            source = "official"
        elif (fixture / first).is_file():
            source = "standin"
            fallback = (
                f"official ImageNet16 pickles not found "
                f"({' or '.join(relative_to(p / first, d) for p in official_dirs)}); using the "
                f"STAND-IN fixture {relative_to(fixture, d)} (one photo per class, not for reported numbers)"
            )
            log.warning("ImageNet16-120 FALLBACK: %s", fallback)
        else:
            raise _missing(
                "ImageNet16-120",
                [p / first for p in official_dirs] + [fixture / first],
                "a folder holding the official ImageNet16/ pickles "
                "(train_data_batch_1..10, val_data)",
            )
    folder = found if source == "official" else fixture
    if folder is None or not (folder / first).is_file():
        looked = [p / first for p in official_dirs] if source == "official" else [fixture / first]
        raise _missing(f"ImageNet16-120 ({source})", looked, "a folder holding ImageNet16/ pickles")
    names = IMAGENET16_TRAIN if split == "train" else ("val_data",)
    files = [folder / name for name in names if (folder / name).is_file()]
    partial = ""
    if len(files) < len(names):
        partial = f", only {len(files)} of {len(names)} files present"
        if source == "official":
            log.warning(
                "ImageNet16-120 %s: only %d of %d files in %s",
                split,
                len(files),
                len(names),
                folder,
            )
    images, labels, used = _read_imagenet16(files, spec.num_classes, limit)
    n = _check_limit(limit, len(labels), f"ImageNet16-120 {split} in {folder}")
    form = (
        "official-format STAND-IN fixture" if source == "standin" else "official ImageNet16 pickles"
    )
    return ImageSet(
        images=images[:n],
        labels=labels[:n],
        dataset="ImageNet16-120",
        split=split,
        num_classes=spec.num_classes,
        source=f"{relative_to(folder, d)}/{{{','.join(p.name for p in used)}}} ({form}{partial})",
        checksum=_checksum(used),
        mean=spec.mean,
        std=spec.std,
        standin=source == "standin",
        fallback=fallback,
    )


def _find_image_folder(d: Path, split: str) -> Path:
    folder = "train" if split == "train" else "val"
    candidates = [d / "imagenet" / folder, d / folder]
    for cand in candidates:
        if cand.is_dir():
            return cand
    raise _missing(
        f"ImageNet {folder}/ (ImageFolder)",
        candidates,
        f"a folder holding imagenet/{folder}/<class>/<image>.JPEG (torchvision ImageFolder layout)",
    )


def load_image_folder_index(
    split: str = "train", data_dir: str | Path | None = None
) -> ImageFolderIndex:
    """The ImageNet file index (paths, labels, classes), for training code with its own transforms.

    Looks for ``<root>/imagenet/{train,val}/`` then ``<root>/{train,val}/`` in the data roots.
    """
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    _, folder = _first_root("imagenet", data_dir, lambda d: _find_image_folder(d, split))
    return scan_image_folder(folder)


#: What to do when a dataset is in none of the default roots (the cache, the embedded sample).
WHERE_TO_GET: dict[str, str] = {
    "cifar10": "`harness data download cifar10` puts the official batches in the cache",
    "cifar100": "`harness data download cifar100` puts the official files in the cache",
    "ImageNet16-120": "`harness data download ImageNet16-120` says where to get the official pickles",
    "imagenet": "`harness data download imagenet` says how to lay out an ImageFolder tree",
}


def _first_root(dataset: str, data_dir, read):
    """``(root, read(root.path))`` for the first data root `read` finds the dataset in.

    Raises:
        DataNotFoundError: in none of them; an explicit root's own message, or one naming every
            root searched and how to get the data.
    """
    roots = data_roots(data_dir)
    misses = []
    for root in roots:
        try:
            return root, read(root.path)
        except DataNotFoundError as err:
            misses.append(err)
    if len(roots) == 1:
        raise misses[0]
    raise DataNotFoundError(
        f"{dataset} not found in {describe_roots(roots)} ({misses[-1]}). {WHERE_TO_GET[dataset]}, "
        f"or pass --data-dir / set $HARNESS_DATA_DIR to a folder holding it (see docs/data.md)."
    )


def _load_imagenet(d: Path, split: str, source: str | None, limit: int | None) -> ImageSet:
    spec = DATASETS["imagenet"]
    root = _find_image_folder(d, split)
    index = scan_image_folder(root)
    n = _check_limit(limit, len(index), f"the ImageFolder {root}")
    size = spec.image_size
    return ImageSet(
        images=FolderImages(index, size, n),
        labels=index.labels[:n],
        dataset="imagenet",
        split=split,
        num_classes=len(index.classes),
        source=f"{relative_to(root, d)} (ImageFolder, {len(index.classes)} classes, "
        f"resized to {size}x{size} on access)",
        checksum=index.checksum(),
        mean=spec.mean,
        std=spec.std,
    )


def _load_synthetic(split: str, source: str | None, limit: int | None) -> ImageSet:
    like = source or "cifar10"
    t = DATASETS[like]
    n = (
        _check_limit(limit, SYNTHETIC_SIZE, "a synthetic set")
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


# The accepted `source=` values per dataset (checked before any file is read).
SOURCES: dict[str, tuple[str, ...]] = {
    "cifar10": CIFAR10_SOURCES,
    "cifar100": CIFAR100_SOURCES,
    "ImageNet16-120": IMAGENET16_SOURCES,
    "imagenet": ("imagefolder",),
    "synthetic": tuple(k for k in DATASETS if k != "synthetic"),  # the shape to mimic
}

_LOADERS = {
    "cifar10": _load_cifar10,
    "cifar100": _load_cifar100,
    "ImageNet16-120": _load_imagenet16,
    "imagenet": _load_imagenet,
}


def load_images(
    dataset: str,
    split: str = "train",
    data_dir: str | Path | None = None,
    *,
    source: str | None = None,
    limit: int | None = None,
) -> ImageSet:
    """Load one split of a dataset from the first data root holding it (`harness.paths`).

    Args:
        dataset: ``cifar10``, ``cifar100``, ``ImageNet16-120``, ``imagenet`` (ImageFolder tree,
            resized to 32x32 as TE-NAS searches ImageNet) or ``synthetic``.
        split: ``train`` or ``test`` (ImageNet16's ``val_data``; ImageFolder's ``val/``).
        data_dir: the only root to read (``--data-dir``); None: ``$HARNESS_DATA_DIR`` alone when
            set, else the user cache, then the sample embedded in the package.
        source: which form to read. cifar10: ``batches`` (official ``cifar-10-batches-py``),
            ``npz`` (exact pixels, 4000 train / 1000 test), ``jpeg10k``, ``jpegbytes`` (all 60,000,
            decoded on access); default batches if present, else npz. cifar100: ``batches`` or
            ``npz20`` (20 test images; also a logged, recorded fallback). ImageNet16-120:
            ``official`` or ``standin`` (the official-format fixture; also a logged fallback with
            ``standin=True``). imagenet: ``imagefolder``. synthetic: the dataset whose shape and
            class count to mimic (default cifar10).
        limit: keep only the first ``limit`` images (official order).

    Raises:
        DataNotFoundError: the dataset is not in the data folder; the message says where we looked.
        InputError: unknown dataset, split or source; ``limit`` larger than the split.
    """
    if dataset not in DATASETS:
        raise unknown_name("dataset", dataset, DATASETS)
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    if source is not None and source not in SOURCES[dataset]:
        raise unknown_name(f"{dataset} source", source, SOURCES[dataset])
    if limit is not None:
        _check_limit(limit, limit, dataset)  # type check only; sizes are checked by the readers
    if dataset == "synthetic":
        return _load_synthetic(split, source, limit)
    root, images = _first_root(
        dataset, data_dir, lambda d: _LOADERS[dataset](d, split, source, limit)
    )
    images = dataclasses.replace(images, origin=root.origin)
    log.info("loaded %s %s: %d images from %s %s", dataset, images.split, len(images), root.origin,
             images.source)
    return images


# --------------------------------------------------------------------------- transforms


def crop_padding(image_size: int) -> int:
    """Zero padding of NB201's training RandomCrop: 4 for 32 px images, 2 for 16 px ImageNet16."""
    return image_size // 8


def normalize(pixels: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W): torchvision's ToTensor then Normalize."""
    x = pixels.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255)
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    return np.ascontiguousarray((x - m) / s)


def augment_pixels(pixels: np.ndarray, rng: np.random.Generator, pad: int) -> np.ndarray:
    """NB201 training augmentation on uint8 (N, H, W, 3): random h-flip, then random crop to the
    same size from the image zero-padded by ``pad`` pixels (padding is black before normalising)."""
    n, h, w, _ = pixels.shape
    flip = rng.random(n) < 0.5
    out = pixels.copy()
    out[flip] = out[flip, :, ::-1]
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    if pad == 0:
        return out
    padded = np.pad(out, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(1, 2))
    crops = windows[np.arange(n), offsets[:, 0], offsets[:, 1]]  # (N, 3, H, W)
    return np.ascontiguousarray(crops.transpose(0, 2, 3, 1))


def random_patches(
    pixels: np.ndarray,
    rng: np.random.Generator,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> np.ndarray:
    """TE-NAS's linear-region input (docs/tenas-spec.md §6): per image a random ``size``x``size`` crop (no
    padding), ToTensor, Normalize, then one random channel -> float32 (N, 1, size, size)."""
    n, h, w, _ = pixels.shape
    i = rng.integers(0, h - size + 1, size=n)
    j = rng.integers(0, w - size + 1, size=n)
    c = rng.integers(0, 3, size=n)
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (size, size), axis=(1, 2))
    patch = windows[np.arange(n), i, j, c].astype(np.float32) / np.float32(255)  # (N, size, size)
    m = np.asarray(mean, dtype=np.float32)[c][:, None, None]
    s = np.asarray(std, dtype=np.float32)[c][:, None, None]
    return ((patch - m) / s)[:, None]


# --------------------------------------------------------------------------- seeded batches


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}.")
    return np.random.default_rng(int(seed))


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _draw_indices(images: ImageSet, batch_size: int, n_batches: int, rng) -> list[np.ndarray]:
    """Batches as a shuffled, drop_last DataLoader yields them: no image twice within an epoch."""
    n = len(images)
    if batch_size > n:
        raise InputError(
            f"batch_size {batch_size} exceeds the {n} images of {images.dataset} {images.split} "
            f"({images.source}); use a smaller batch or a larger image set."
        )
    per_epoch = n // batch_size
    batches: list[np.ndarray] = []
    while len(batches) < n_batches:
        k = min(per_epoch, n_batches - len(batches))
        batches.extend(rng.choice(n, size=k * batch_size, replace=False).reshape(k, batch_size))
    return batches


def _check_dtype(dtype: torch.dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputError(f"dtype must be a torch floating-point dtype; got {dtype!r}.")


def image_batch(
    images: ImageSet,
    batch_size: int,
    seed: int,
    *,
    augment: bool = True,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One seeded batch as the NB201 training loader gives it (the NTK input of docs/tenas-spec.md §5).

    Images are drawn without replacement; with ``augment`` each gets NB201's flip + padded crop;
    then ToTensor + Normalize. Synthetic sets give N(0,1) tensors of the same shape. The same
    seed always gives the same tensors.

    Returns:
        ``(x, y)``: float (B, 3, H, W) normalised inputs and int64 (B,) labels.

    Raises:
        InputError: ``batch_size`` is not a positive integer or exceeds the set's size; bad seed.
    """
    batch_size = _positive("batch_size", batch_size)
    _check_dtype(dtype)
    rng = _rng(seed)
    (idx,) = _draw_indices(images, batch_size, 1, rng)
    labels = torch.from_numpy(images.labels[idx].copy())
    size = images.image_size
    if images.synthetic:
        x = rng.standard_normal((batch_size, 3, size, size), dtype=np.float32)
    else:
        pixels = images.take(idx)
        if augment:
            pixels = augment_pixels(pixels, rng, crop_padding(size))
        x = normalize(pixels, images.mean, images.std)
    return torch.from_numpy(x).to(dtype), labels


def patch_batches(
    images: ImageSet,
    *,
    n_batches: int = 3,
    batch_size: int = 1000,
    size: int = 3,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """TE-NAS's linear-region inputs: ``n_batches`` tensors (``batch_size``, 1, ``size``, ``size``).

    Each sample is a different image (no repeats within an epoch of the set) with a random
    unpadded crop and one random channel, normalised with the dataset's constants (docs/tenas-spec.md §6).
    Synthetic sets give N(0,1) patches.

    Raises:
        InputError: bad counts, ``size`` above the image size, ``batch_size`` above the set's size.
    """
    n_batches = _positive("n_batches", n_batches)
    batch_size = _positive("batch_size", batch_size)
    size = _positive("size", size)
    _check_dtype(dtype)
    if size > images.image_size:
        raise InputError(
            f"patch size {size} exceeds the {images.image_size}px images of {images.dataset}."
        )
    rng = _rng(seed)
    out = []
    for idx in _draw_indices(images, batch_size, n_batches, rng):
        if images.synthetic:
            x = rng.standard_normal((batch_size, 1, size, size), dtype=np.float32)
        else:
            x = random_patches(images.take(idx), rng, size, images.mean, images.std)
        out.append(torch.from_numpy(x).to(dtype))
    return out
