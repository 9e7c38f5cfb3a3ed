"""`ImageSet`: the images of one dataset split and where they came from; lazy pixel sources."""

from __future__ import annotations

import abc
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from harness.imagefolder import ImageFolderIndex, load_rgb


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
