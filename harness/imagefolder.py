"""ImageFolder trees (``<root>/<class>/*.JPEG``) indexed as torchvision does, decoded with Pillow.

The index is public so that training code (DARTS/ImageNet, 224 px augmentations) can wrap the same
file list in its own torch Dataset; the harness itself decodes and resizes on access.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from harness.errors import DataNotFoundError

# torchvision.datasets.folder.IMG_EXTENSIONS, matched case-insensitively as torchvision does.
IMG_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".bmp",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
)


@dataclass(frozen=True, eq=False)
class ImageFolderIndex:
    """The files of one ImageFolder split: absolute paths, 0-based labels and the class names.

    Class ``k`` is the ``k``-th class folder name in sorted order, as in torchvision's
    ``ImageFolder``; files are listed class by class in sorted ``os.walk`` order.
    """

    root: Path
    classes: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray  # int64, one per path

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    @property
    def samples(self) -> list[tuple[str, int]]:
        """``(path, label)`` pairs, torchvision's ``ImageFolder.samples``."""
        return list(zip(self.paths, self.labels.tolist()))

    def __len__(self) -> int:
        return len(self.paths)

    def checksum(self) -> str:
        """sha256 of the relative file list with labels (hashing ImageNet's bytes is too slow)."""
        h = hashlib.sha256()
        for path, label in zip(self.paths, self.labels.tolist()):
            h.update(f"{os.path.relpath(path, self.root)}\t{label}\n".encode())
        return h.hexdigest()

    def load(self, i: int, size: int | None = None) -> np.ndarray:
        """Decode image ``i`` as uint8 RGB (H, W, 3), squashed to ``size`` x ``size`` if given."""
        return load_rgb(self.paths[i], size)


def load_rgb(path: str | Path, size: int | None = None) -> np.ndarray:
    """Decode one image file to uint8 RGB; with ``size``, resize to ``size`` x ``size`` bilinearly.

    Matches torchvision's ``pil_loader`` + ``Resize((size, size), interpolation=BILINEAR)``, which
    is what TE-NAS applies to ImageNet before its 32 px search transforms.
    """
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    if size is not None and rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def scan_image_folder(root: str | Path) -> ImageFolderIndex:
    """Index ``root/<class>/**/<image>`` like ``torchvision.datasets.ImageFolder``.

    Raises:
        DataNotFoundError: ``root`` is missing, has no class folders, or a class has no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(
            f"ImageFolder root not found: {root}; expected {root}/<class>/<image>.JPEG|jpg|png."
        )
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if not classes:
        raise DataNotFoundError(
            f"ImageFolder root {root} has no class folders; "
            f"expected {root}/<class>/<image>.JPEG|jpg|png."
        )
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        n_before = len(paths)
        for dirpath, _, fnames in sorted(os.walk(root / name, followlinks=True)):
            for fname in sorted(fnames):
                if fname.lower().endswith(IMG_EXTENSIONS):
                    paths.append(os.path.join(dirpath, fname))
        if len(paths) == n_before:
            raise DataNotFoundError(
                f"ImageFolder class folder {root / name} holds no images "
                f"(accepted extensions: {', '.join(IMG_EXTENSIONS)})."
            )
        labels.extend([label] * (len(paths) - n_before))
    return ImageFolderIndex(
        root=root,
        classes=tuple(classes),
        paths=tuple(paths),
        labels=np.asarray(labels, dtype=np.int64),
    )
