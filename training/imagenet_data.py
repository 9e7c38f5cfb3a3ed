"""Torch datasets for training DARTS networks: ImageNet ImageFolder trees (224 px) and CIFAR-10.

The transforms re-implement torchvision's with Pillow and torch (no torchvision dependency), in
the configuration of DARTS's training scripts: ImageNet train = RandomResizedCrop(224) +
horizontal flip + ColorJitter(0.4, 0.4, 0.4, 0.2), val = Resize(256) + CenterCrop(224), both
normalised with the ImageNet statistics; CIFAR-10 train = RandomCrop(32, padding 4) + flip +
normalise + Cutout(16), test = normalise (DARTS's CIFAR statistics). Randomness comes from torch's
global generator, which DataLoader seeds per worker, so runs are reproducible from the seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch.utils.data import Dataset

from harness.data import ImageSet
from harness.imagefolder import ImageFolderIndex

if TYPE_CHECKING:
    from training.config import TrainConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# DARTS utils._data_transforms_cifar10 (not NB201's constants).
DARTS_CIFAR_MEAN = (0.49139968, 0.48215827, 0.44653124)
DARTS_CIFAR_STD = (0.24703233, 0.24348505, 0.26158768)


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def _randint(high: int) -> int:
    """Uniform integer in [0, high)."""
    return int(torch.randint(high, ()).item())


def to_tensor(
    img: Image.Image | np.ndarray, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """RGB image -> float32 (3, H, W) in [0, 1], normalised: torchvision's ToTensor + Normalize."""
    pixels = np.asarray(img, dtype=np.uint8)
    x = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div_(255.0)
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


# ---- ImageNet transforms (torchvision semantics) ---------------------------------------------


def random_resized_crop(
    img: Image.Image, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
) -> Image.Image:
    """torchvision RandomResizedCrop: 10 tries at a random area/aspect box, else a centre crop."""
    width, height = img.size
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * _uniform(*scale)
        aspect = math.exp(_uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i, j = _randint(height - h + 1), _randint(width - w + 1)
            return img.resize((size, size), Image.BILINEAR, box=(j, i, j + w, i + h))
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    i, j = (height - h) // 2, (width - w) // 2
    return img.resize((size, size), Image.BILINEAR, box=(j, i, j + w, i + h))


def _adjust_hue(img: Image.Image, factor: float) -> Image.Image:
    # torchvision's PIL path: shift the H channel (uint8, wrapping) by factor * 255.
    h, s, v = img.convert("HSV").split()
    shifted = (np.asarray(h, dtype=np.uint8).astype(np.int16) + int(factor * 255) % 256) % 256
    return Image.merge("HSV", (Image.fromarray(shifted.astype(np.uint8), "L"), s, v)).convert("RGB")


def color_jitter(
    img: Image.Image, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2
) -> Image.Image:
    """torchvision ColorJitter: the four adjustments in random order, each with a random factor."""
    for k in torch.randperm(4).tolist():
        if k == 0 and brightness > 0:
            img = ImageEnhance.Brightness(img).enhance(
                _uniform(max(0.0, 1 - brightness), 1 + brightness)
            )
        elif k == 1 and contrast > 0:
            img = ImageEnhance.Contrast(img).enhance(_uniform(max(0.0, 1 - contrast), 1 + contrast))
        elif k == 2 and saturation > 0:
            img = ImageEnhance.Color(img).enhance(
                _uniform(max(0.0, 1 - saturation), 1 + saturation)
            )
        elif k == 3 and hue > 0:
            img = _adjust_hue(img, _uniform(-hue, hue))
    return img


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """torchvision Resize(int): shorter side to `size`, aspect ratio kept (bilinear)."""
    width, height = img.size
    if width <= height:
        new = (size, int(size * height / width))
    else:
        new = (int(size * width / height), size)
    return img if new == img.size else img.resize(new, Image.BILINEAR)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    width, height = img.size
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


class ImageFolderDataset(Dataset):
    """An ImageFolder split with DARTS's ImageNet transforms; items are (float32 3xSxS, label).

    Args:
        index: the file index (``harness.data.load_image_folder_index`` / ``scan_image_folder``).
        train: training augmentations, else resize + centre crop.
        image_size: crop size (224); the validation resize is ``round(image_size / 0.875)`` (256).
    """

    def __init__(self, index: ImageFolderIndex, train: bool, image_size: int = 224):
        self.index, self.train, self.image_size = index, train, image_size
        self.resize_size = int(round(image_size / 0.875))
        self.num_classes = len(index.classes)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        with Image.open(self.index.paths[i]) as raw:
            img = raw.convert("RGB")
        if self.train:
            img = random_resized_crop(img, self.image_size)
            if torch.rand(()).item() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
            img = color_jitter(img)
        else:
            img = center_crop(resize_shorter(img, self.resize_size), self.image_size)
        return to_tensor(img, IMAGENET_MEAN, IMAGENET_STD), int(self.index.labels[i])


# ---- CIFAR-10 (DARTS) ------------------------------------------------------------------------


def cutout(x: torch.Tensor, length: int) -> torch.Tensor:
    """DARTS Cutout: zero a length x length square (clipped at the border) at a uniform centre."""
    h, w = x.shape[1:]
    y, xc = _randint(h), _randint(w)
    y1, y2 = max(y - length // 2, 0), min(y + length // 2, h)
    x1, x2 = max(xc - length // 2, 0), min(xc + length // 2, w)
    x = x.clone()
    x[:, y1:y2, x1:x2] = 0.0
    return x


class CifarDataset(Dataset):
    """A `harness.data.ImageSet` (CIFAR-10: official batches, npz or JPEG forms) with DARTS's transforms.

    Train: zero-pad 4 + random 32x32 crop, horizontal flip, normalise, Cutout(`cutout`) if > 0.
    """

    def __init__(
        self,
        images: ImageSet,
        train: bool,
        cutout: int = 16,
        mean: Sequence[float] = DARTS_CIFAR_MEAN,
        std: Sequence[float] = DARTS_CIFAR_STD,
        padding: int = 4,
    ):
        self.images, self.train, self.cutout = images, train, cutout
        self.mean, self.std, self.padding = tuple(mean), tuple(std), padding
        self.num_classes = images.num_classes

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        pixels = self.images.take(np.asarray([i]))[0]
        if not self.train:
            return to_tensor(pixels, self.mean, self.std), int(self.images.labels[i])
        size, pad = pixels.shape[0], self.padding
        padded = np.zeros((size + 2 * pad, size + 2 * pad, 3), dtype=np.uint8)
        padded[pad : pad + size, pad : pad + size] = pixels
        top, left = _randint(2 * pad + 1), _randint(2 * pad + 1)
        crop = padded[top : top + size, left : left + size]
        if torch.rand(()).item() < 0.5:
            crop = crop[:, ::-1]
        x = to_tensor(crop, self.mean, self.std)
        if self.cutout > 0:
            x = cutout(x, self.cutout)
        return x, int(self.images.labels[i])


def build_datasets(config: TrainConfig) -> tuple[Dataset, Dataset]:
    """Training and validation sets of `config.dataset` with DARTS's transforms."""
    if config.dataset == "cifar10":
        from harness.data import load_images

        train = load_images("cifar10", "train", config.data_dir, source=config.data_source)
        test = load_images("cifar10", "test", config.data_dir, source=config.data_source)
        return CifarDataset(train, True, config.cutout), CifarDataset(test, False)
    from harness.data import load_image_folder_index

    return (
        ImageFolderDataset(
            load_image_folder_index("train", config.data_dir), True, config.image_size
        ),
        ImageFolderDataset(
            load_image_folder_index("test", config.data_dir), False, config.image_size
        ),
    )
