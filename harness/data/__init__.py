"""Image sets (CIFAR-10/100, ImageNet16-120, ImageFolder, synthetic) and seeded TE-NAS batches.

``load_images`` reads the official layouts or the shared ``images/`` forms into an ``ImageSet``
that records where its pixels came from; ``image_batch`` and ``patch_batches`` draw the NTK batches
and the linear-region patches of TE-NAS from a numpy ``Generator``.

Modules: `specs` (dataset facts, file names, sources), `imageset` (the ImageSet and lazy pixel
sources), `formats` (decoding official pickles and ``.npz`` files), `readers` (one reader per
dataset and source, the default-source order), `load` (the data-root search), `batches`
(transforms and seeded batches).
"""

from harness.data.batches import crop_padding, image_batch, patch_batches, random_patches
from harness.data.imageset import ImageSet, LazyImages
from harness.data.load import load_image_folder_index, load_images
from harness.data.specs import (
    CIFAR10_JPEG,
    CIFAR10_JPEGBYTES,
    CIFAR10_NPZ,
    DATASETS,
    IMAGENET16_TRAIN,
    SOURCES,
    SPLITS,
    DatasetSpec,
)

__all__ = [
    "CIFAR10_JPEG",
    "CIFAR10_JPEGBYTES",
    "CIFAR10_NPZ",
    "DATASETS",
    "IMAGENET16_TRAIN",
    "SOURCES",
    "SPLITS",
    "DatasetSpec",
    "ImageSet",
    "LazyImages",
    "crop_padding",
    "image_batch",
    "load_image_folder_index",
    "load_images",
    "patch_batches",
    "random_patches",
]
