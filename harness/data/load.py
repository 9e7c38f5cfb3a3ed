"""`load_images` and `load_image_folder_index`: the search through the data roots for a dataset."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from harness.data.imageset import ImageSet
from harness.data.readers import check_limit, find_image_folder, read, synthetic_set
from harness.data.specs import DATASETS, SOURCES, SPLITS
from harness.errors import DataNotFoundError, unknown_name
from harness.imagefolder import ImageFolderIndex, scan_image_folder
from harness.paths import data_roots, describe_roots

log = logging.getLogger(__package__)  # "harness.data": log lines name the package, not this file

#: What to do when a dataset is in none of the default roots (the cache, the embedded sample).
WHERE_TO_GET: dict[str, str] = {
    "cifar10": "`harness data download cifar10` puts the official batches in the cache",
    "cifar100": "`harness data download cifar100` puts the official files in the cache",
    "ImageNet16-120": "`harness data download ImageNet16-120` says where to get the official pickles",
    "imagenet": "`harness data download imagenet` says how to lay out an ImageFolder tree",
}


def _first_root(dataset: str, data_dir, read_root):
    """``(root, read_root(root.path))`` for the first data root `read_root` finds the dataset in.

    Raises:
        DataNotFoundError: in none of them; an explicit root's own message, or one naming every
            root searched and how to get the data.
    """
    roots = data_roots(data_dir)
    misses = []
    for root in roots:
        try:
            return root, read_root(root.path)
        except DataNotFoundError as err:
            misses.append(err)
    if len(roots) == 1:
        raise misses[0]
    raise DataNotFoundError(
        f"{dataset} not found in {describe_roots(roots)} ({misses[-1]}). {WHERE_TO_GET[dataset]}, "
        f"or pass --data-dir / set $HARNESS_DATA_DIR to a folder holding it (see docs/data.md)."
    )


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
        check_limit(limit, limit, dataset)  # type check only; sizes are checked by the readers
    if dataset == "synthetic":
        return synthetic_set(split, source, limit)
    root, images = _first_root(dataset, data_dir, lambda d: read(dataset, d, split, source, limit))
    images = dataclasses.replace(images, origin=root.origin)
    log.info(
        "loaded %s %s: %d images from %s %s",
        dataset,
        images.split,
        len(images),
        root.origin,
        images.source,
    )
    return images


def load_image_folder_index(
    split: str = "train", data_dir: str | Path | None = None
) -> ImageFolderIndex:
    """The ImageNet file index (paths, labels, classes), for training code with its own transforms.

    Looks for ``<root>/imagenet/{train,val}/`` then ``<root>/{train,val}/`` in the data roots.
    """
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    _, folder = _first_root("imagenet", data_dir, lambda d: find_image_folder(d, split))
    return scan_image_folder(folder)
