"""Pixels to tensors: NB201's normalisation and augmentation, and TE-NAS's seeded batches.

``image_batch`` and ``patch_batches`` draw the NTK batches and the linear-region 3x3 patches of
TE-NAS (docs/tenas-spec.md §5, §6, §10) from a numpy ``Generator``; the same seed gives the same tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from harness.data.imageset import ImageSet
from harness.errors import InputError


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
