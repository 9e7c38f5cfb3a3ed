"""Decoding the files a data root holds into arrays: official CIFAR / ImageNet16 pickles and
``.npz`` archives, each checked (shapes, dtypes, label ranges) with one InputError naming the file."""

from __future__ import annotations

import pickle
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from harness.errors import InputError


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


def _read_in_order(
    files: list[Path], limit: int | None, read_one: Callable[[Path], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """``(images, labels, files read)`` of `files` in order, stopping once ``limit`` images are in."""
    images, labels, used = [], [], []
    n = 0
    for path in files:
        pixels, targets = read_one(path)
        images.append(pixels)
        labels.append(targets)
        used.append(path)
        n += len(targets)
        if limit is not None and n >= limit:
            break
    return np.concatenate(images), np.concatenate(labels), used


def read_cifar_batches(
    files: list[Path], label_key: str, size: int, limit: int | None
) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Read official CIFAR python batches in order, stopping once ``limit`` images are in."""

    def read_one(path: Path) -> tuple[np.ndarray, np.ndarray]:
        entry = _unpickle(path, encoding="bytes")
        return (
            _planar_to_hwc(_get(entry, "data", path), size, path),
            np.asarray(_get(entry, label_key, path), dtype=np.int64),
        )

    return _read_in_order(files, limit, read_one)


def read_imagenet16(
    files: list[Path], num_classes: int, limit: int | None
) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Read ImageNet16 pickles, keep labels 1..num_classes and shift them to 0-based (as NB201)."""

    def read_one(path: Path) -> tuple[np.ndarray, np.ndarray]:
        entry = _unpickle(path, encoding="latin1")
        raw_labels = np.asarray(_get(entry, "labels", path), dtype=np.int64)
        keep = (raw_labels >= 1) & (raw_labels <= num_classes)
        data = np.asarray(_get(entry, "data", path))
        if len(data) != len(raw_labels):
            raise InputError(f"{path}: {len(data)} images but {len(raw_labels)} labels.")
        return _planar_to_hwc(data[keep], 16, path), raw_labels[keep] - 1

    return _read_in_order(files, limit, read_one)


def _read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays `keys` of an .npz file; a damaged or foreign file is one InputError naming it."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise InputError(
                f"{path} is a single .npy array, not an .npz archive holding {', '.join(keys)}."
            )
        with archive as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise InputError(
                    f"{path} lacks the array(s) {', '.join(missing)}; it holds "
                    f"{', '.join(z.files) or 'nothing'} (expected {', '.join(keys)})."
                )
            return {k: z[k] for k in keys}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        # truncated (BadZipFile, EOFError), garbled (zlib.error, bad CRC), empty or not an archive
        reason = (str(err).splitlines() or [""])[0] or "no detail"
        raise InputError(
            f"cannot read {path} as an .npz archive ({type(err).__name__}: {reason})."
        ) from None


def _check_labels(path: Path, labels: np.ndarray, n: int, num_classes: int) -> None:
    if labels.ndim != 1 or len(labels) != n or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"{path}: labels must be {n} integers (one per image); got {labels.dtype} "
            f"of shape {labels.shape}."
        )
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise InputError(
            f"{path}: {int(bad.sum())} label(s) outside 0..{num_classes - 1}, e.g. "
            f"{int(labels[bad][0])} at position {int(np.flatnonzero(bad)[0])}."
        )


def _check_pixels(path: Path, images: np.ndarray, size: int) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise InputError(
            f"{path}: images must be uint8 of shape (N, {size}, {size}, 3); got {images.dtype} "
            f"of shape {images.shape}."
        )


def _check_jpeg_index(path: Path, buffer, offsets, labels, which, num_classes: int) -> None:
    """Image k of a JPEG-bytes file is buffer[offsets[k]:offsets[k+1]]: the index must fit the buffer."""
    n = len(labels)
    if buffer.ndim != 1 or buffer.dtype != np.uint8:
        raise InputError(
            f"{path}: jpeg_bytes must be one uint8 byte buffer; got {buffer.dtype} of shape {buffer.shape}."
        )
    if (
        offsets.ndim != 1
        or len(offsets) != n + 1
        or not np.issubdtype(offsets.dtype, np.integer)
        or (n and (offsets[0] < 0 or offsets[-1] > len(buffer) or (np.diff(offsets) < 0).any()))
    ):
        raise InputError(
            f"{path}: offsets must be {n + 1} ascending integers within the {len(buffer)}-byte "
            f"buffer (one more than the {n} labels); got {offsets.dtype} of shape {offsets.shape}."
        )
    _check_labels(path, labels, n, num_classes)
    if which.shape != (n,) or not np.isin(which, (0, 1)).all():
        raise InputError(
            f"{path}: split must hold {n} values 0 (train) or 1 (test); got shape {which.shape}."
        )


def read_pixel_npz(path: Path, size: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 N x size x size x 3) and labels (0..num_classes-1) of a pixel ``.npz``."""
    arrays = _read_npz(path, ("images", "labels"))
    images, labels = arrays["images"], arrays["labels"]
    _check_pixels(path, images, size)
    _check_labels(path, labels, len(images), num_classes)
    return images, labels


def read_jpeg_bytes_npz(path: Path, num_classes: int) -> tuple[np.ndarray, ...]:
    """``(jpeg_bytes, offsets, labels, split)`` of a JPEG-bytes ``.npz``, its index checked."""
    arrays = _read_npz(path, ("jpeg_bytes", "offsets", "labels", "split"))
    buffer, offsets, labels, which = (
        arrays[k] for k in ("jpeg_bytes", "offsets", "labels", "split")
    )
    _check_jpeg_index(path, buffer, offsets, labels, which, num_classes)
    return buffer, offsets, labels, which
