"""Tests of harness.data: official-format readers (tiny files built here), the shared images,
errors, data-dir resolution, and the seeded NB201 / TE-NAS batch draws."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import SHARED_DATA
from harness import data as D
from harness.data import (
    DATASETS,
    ImageSet,
    image_batch,
    load_image_folder_index,
    load_images,
    patch_batches,
)
from harness.errors import DataNotFoundError, InputError
from harness.paths import EMBEDDED_DIR, DataRoot, cache_dir, data_roots


def _manifest_sha(name: str) -> str:
    for line in (SHARED_DATA / "images" / "MANIFEST.sha256").read_text().splitlines():
        digest, path = line.split()
        if path == f"./{name}":
            return digest
    raise KeyError(name)


# ----------------------------------------------------------------------------- tiny official files


def _planar(hwc: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) -> (N, 3*H*W) rows: all R values, then G, then B (the official layout)."""
    return hwc.transpose(0, 3, 1, 2).reshape(len(hwc), -1)


def _rand_pixels(rng, n, size=32):
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def _write_pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


@pytest.fixture
def cifar10_tree(tmp_path):
    """cifar-10-batches-py with 5 train batches of 3 images and a test batch of 2."""
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar-10-batches-py"
    train = _rand_pixels(rng, 15)
    train_labels = np.arange(15) % 10
    for k in range(5):
        sl = slice(3 * k, 3 * k + 3)
        _write_pickle(
            root / f"data_batch_{k + 1}",
            {
                b"data": _planar(train[sl]),
                b"labels": train_labels[sl].tolist(),
                b"batch_label": b"x",
            },
        )
    test = _rand_pixels(rng, 2)
    _write_pickle(root / "test_batch", {b"data": _planar(test), b"labels": [7, 3]})
    return tmp_path, train, train_labels, test


def test_planar_layout_is_converted_to_hwc(tmp_path):
    # One image whose R, G, B planes are constant 1, 2, 3: HWC must put them in the last axis.
    row = np.concatenate([np.full(1024, 1), np.full(1024, 2), np.full(1024, 3)]).astype(np.uint8)
    for k in range(1, 6):
        _write_pickle(
            tmp_path / "cifar-10-batches-py" / f"data_batch_{k}",
            {b"data": row[None], b"labels": [k]},
        )
    s = load_images("cifar10", data_dir=tmp_path, source="batches")
    assert s.images.shape == (5, 32, 32, 3)
    assert (s.images[:, :, :, 0] == 1).all() and (s.images[:, :, :, 2] == 3).all()
    assert s.labels.tolist() == [1, 2, 3, 4, 5]


def test_cifar10_official_batches(cifar10_tree):
    root, train, train_labels, test = cifar10_tree
    s = load_images("cifar10", "train", data_dir=root)
    assert np.array_equal(s.images, train) and np.array_equal(s.labels, train_labels)
    assert s.labels.dtype == np.int64 and s.num_classes == 10
    assert "official python batches" in s.source and "data_batch_5" in s.source
    assert re.fullmatch(r"[0-9a-f]{64}", s.checksum)
    t = load_images("cifar10", "test", data_dir=root)
    assert np.array_equal(t.images, test) and t.labels.tolist() == [7, 3]
    assert t.checksum != s.checksum


def test_cifar10_limit_reads_only_needed_batches(cifar10_tree):
    root, train, _, _ = cifar10_tree
    s = load_images("cifar10", data_dir=root, limit=4)
    assert np.array_equal(s.images, train[:4])
    assert "data_batch_2" in s.source and "data_batch_3" not in s.source
    with pytest.raises(InputError, match=r"^limit 16 exceeds the 15 images of CIFAR-10 train in "):
        load_images("cifar10", data_dir=root, limit=16)


def test_cifar10_prefers_official_batches_over_npz(cifar10_tree):
    root, train, _, _ = cifar10_tree
    other = np.zeros((2, 32, 32, 3), np.uint8)
    (root / "images").mkdir()
    np.savez(root / "images" / "cifar10_train_4000.npz", images=other, labels=np.array([0, 1]))
    assert np.array_equal(load_images("cifar10", data_dir=root).images, train)
    npz = load_images("cifar10", data_dir=root, source="npz")
    assert len(npz) == 2 and "exact pixels" in npz.source


def test_cifar10_incomplete_batches(cifar10_tree):
    root = cifar10_tree[0]
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError) as err:
        load_images("cifar10", data_dir=root)
    assert str(err.value) == (
        f"CIFAR-10 python batches not found: looked for {root}/cifar-10-batches-py/data_batch_3; "
        "pass --data-dir pointing at a folder holding cifar-10-batches-py/."
    )


def test_cifar100_official_uses_fine_labels(tmp_path):
    rng = np.random.default_rng(1)
    imgs = _rand_pixels(rng, 4)
    entry = {b"data": _planar(imgs), b"fine_labels": [99, 5, 0, 42], b"coarse_labels": [1, 1, 1, 1]}
    _write_pickle(tmp_path / "cifar-100-python" / "train", entry)
    s = load_images("cifar100", data_dir=tmp_path)
    assert np.array_equal(s.images, imgs) and s.labels.tolist() == [99, 5, 0, 42]
    assert s.num_classes == 100 and s.fallback is None
    assert s.mean == DATASETS["cifar100"].mean


def test_cifar100_npz20_fallback_is_recorded_and_too_many_images_raise(tmp_path, caplog):
    (tmp_path / "images").mkdir()
    imgs = _rand_pixels(np.random.default_rng(2), 5)
    np.savez(tmp_path / "images" / "cifar100_test_20.npz", images=imgs, labels=np.arange(5))
    with caplog.at_level(logging.WARNING, logger="harness.data"):
        s = load_images("cifar100", "train", data_dir=tmp_path)
    assert "CIFAR-100 FALLBACK" in caplog.text
    assert s.split == "test" and "in place of the train split" in s.fallback
    assert s.describe()["fallback"] == s.fallback
    with pytest.raises(InputError, match=r"^batch_size 6 exceeds the 5 images of cifar100 test \("):
        image_batch(s, 6, seed=0)
    with pytest.raises(InputError, match="exceeds the 5 images"):
        patch_batches(s, batch_size=6)
    # Asked for explicitly, the test-only file cannot stand in for the train split.
    with pytest.raises(
        InputError, match=r"holds test images only; ask for split 'test', not 'train'"
    ):
        load_images("cifar100", "train", data_dir=tmp_path, source="npz20")
    assert load_images("cifar100", "test", data_dir=tmp_path, source="npz20").fallback is None


def _imagenet16_files(folder: Path, n_files: int, rng):
    """Official-format ImageNet16 pickles with labels 1..1000 (only 1..120 are kept)."""
    kept_imgs, kept_labels = [], []
    for k in range(1, n_files + 1):
        imgs = _rand_pixels(rng, 6, size=16)
        labels = [1, 120, 121, 1000, 60, 2]
        _write_pickle(
            folder / f"train_data_batch_{k}",
            {"data": _planar(imgs), "labels": labels, "mean": np.zeros(768)},
        )
        keep = [i for i, lab in enumerate(labels) if lab <= 120]
        kept_imgs.append(imgs[keep])
        kept_labels += [labels[i] - 1 for i in keep]
    return np.concatenate(kept_imgs), kept_labels


def test_imagenet16_official_reader(tmp_path, caplog):
    imgs, labels = _imagenet16_files(tmp_path / "ImageNet16", 2, np.random.default_rng(3))
    with caplog.at_level(logging.WARNING, logger="harness.data"):
        s = load_images("ImageNet16-120", data_dir=tmp_path)
    assert s.images.shape == (8, 16, 16, 3) and np.array_equal(s.images, imgs)
    assert s.labels.tolist() == labels == [0, 119, 59, 1, 0, 119, 59, 1]
    assert not s.standin and s.fallback is None
    assert "only 2 of 10 files present" in s.source and "only 2 of 10 files" in caplog.text


def test_imagenet16_standin_fallback_is_loud(tmp_path, caplog):
    _imagenet16_files(
        tmp_path / "images" / "imagenet16_format_fixture", 1, np.random.default_rng(4)
    )
    with caplog.at_level(logging.WARNING, logger="harness.data"):
        s = load_images("ImageNet16-120", data_dir=tmp_path)
    assert s.standin and s.describe()["standin"] is True
    assert "STAND-IN" in s.fallback and "ImageNet16-120 FALLBACK" in caplog.text
    with pytest.raises(
        DataNotFoundError, match=r"^ImageNet16-120 \(official\) not found: looked for "
    ):
        load_images("ImageNet16-120", data_dir=tmp_path, source="official")


def test_missing_imagenet16_says_where_it_looked(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_images("ImageNet16-120", "test", data_dir=tmp_path)
    assert str(err.value) == (
        f"ImageNet16-120 not found: looked for {tmp_path}/ImageNet16/val_data, "
        f"{tmp_path}/val_data and {tmp_path}/images/imagenet16_format_fixture/val_data; "
        "pass --data-dir pointing at a folder "
        "holding the official ImageNet16/ pickles (train_data_batch_1..10, val_data)."
    )


# ----------------------------------------------------------------------------- ImageFolder


@pytest.fixture
def image_folder(tmp_path):
    colours = {"b_dog": (200, 10, 30), "a_cat": (5, 250, 128)}
    for name, colour in colours.items():
        d = tmp_path / "imagenet" / "train" / name
        (d / "sub").mkdir(parents=True)
        Image.new("RGB", (40, 24), colour).save(d / "x1.png")
        Image.new("RGB", (17, 50), colour).save(d / "sub" / "x2.png")
        Image.new("L", (33, 33), colour[0]).save(d / "x0.JPEG", quality=100)
        (d / "notes.txt").write_text("not an image")
    return tmp_path, colours


def test_image_folder_loads_and_resizes(image_folder):
    root, colours = image_folder
    s = load_images("imagenet", data_dir=root)
    assert len(s) == 6 and s.num_classes == 2 and s.images.shape == (6, 32, 32, 3)
    assert s.labels.tolist() == [0, 0, 0, 1, 1, 1]  # a_cat < b_dog, as torchvision sorts
    pixels = s.take(np.arange(6))
    assert pixels.shape == (6, 32, 32, 3) and pixels.dtype == np.uint8
    # Files in sorted os.walk order: x0.JPEG (grey-scale -> RGB), x1.png, sub/x2.png.
    assert np.array_equal(pixels[1], np.broadcast_to(colours["a_cat"], (32, 32, 3)))
    assert np.array_equal(pixels[5], np.broadcast_to(colours["b_dog"], (32, 32, 3)))
    assert abs(int(pixels[3, 0, 0, 0]) - 200) <= 2 and np.ptp(pixels[3, 0, 0]) == 0
    index = load_image_folder_index("train", data_dir=root)
    assert index.classes == ("a_cat", "b_dog") and index.class_to_idx == {"a_cat": 0, "b_dog": 1}
    assert [Path(p).name for p in index.paths] == ["x0.JPEG", "x1.png", "x2.png"] * 2
    assert index.samples[3] == (index.paths[3], 1)
    assert index.checksum() == s.checksum
    x, _ = image_batch(s, 4, seed=0)
    assert x.shape == (4, 3, 32, 32) and s.mean == DATASETS["imagenet"].mean


def test_image_folder_errors(image_folder, tmp_path):
    root, _ = image_folder
    (root / "imagenet" / "train" / "c_empty").mkdir()
    with pytest.raises(DataNotFoundError, match=r"class folder .*c_empty holds no images"):
        load_images("imagenet", data_dir=root)
    with pytest.raises(DataNotFoundError) as err:
        load_images("imagenet", "test", data_dir=root)
    assert str(err.value).startswith(
        f"ImageNet val/ (ImageFolder) not found: looked for {root}/imagenet/val and {root}/val; "
    )


# ----------------------------------------------------------------------------- errors, resolution


def test_missing_cifar10_message(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_images("cifar10", data_dir=tmp_path)
    assert str(err.value) == (
        f"CIFAR-10 not found: looked for {tmp_path}/cifar-10-batches-py/data_batch_1 and "
        f"{tmp_path}/images/cifar10_train_4000.npz; pass --data-dir pointing at a folder holding "
        "the official cifar-10-batches-py/ or the shared images/ forms."
    )
    assert isinstance(err.value, InputError) and err.value.exit_code == 2


def test_unknown_names(tmp_path):
    with pytest.raises(InputError) as err:
        load_images("cifar11", data_dir=tmp_path)
    assert str(err.value) == (
        "unknown dataset 'cifar11'. Did you mean 'cifar10'? "
        "Available: ImageNet16-120, cifar10, cifar100, imagenet, synthetic."
    )
    with pytest.raises(InputError, match=r"^unknown split 'valid'\. .*Available: test, train\.$"):
        load_images("cifar10", "valid", data_dir=tmp_path)
    with pytest.raises(InputError) as err:
        load_images("cifar10", data_dir=tmp_path / "absent", source="jpegbyte")
    assert str(err.value) == (
        "unknown cifar10 source 'jpegbyte'. Did you mean 'jpegbytes'? "
        "Available: batches, jpeg10k, jpegbytes, npz."
    )
    with pytest.raises(InputError, match=r"^limit must be a positive integer; got 0\.$"):
        load_images("cifar10", data_dir=tmp_path, limit=0)


def test_data_roots_precedence(tmp_path, monkeypatch):
    """--data-dir > $HARNESS_DATA_DIR (each the only root) > the user cache > the embedded sample."""
    flag, env, cache = tmp_path / "flag", tmp_path / "env", tmp_path / "cache"
    for d in (flag, env):
        d.mkdir()
    monkeypatch.setenv("HARNESS_DATA_DIR", str(env))
    monkeypatch.setenv("HARNESS_CACHE", str(cache))
    assert data_roots(flag) == [DataRoot(flag.resolve(), "--data-dir")]
    assert data_roots() == [DataRoot(env.resolve(), "$HARNESS_DATA_DIR")]
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(
        DataNotFoundError, match=r"^HARNESS_DATA_DIR='.*missing' is not a directory\.$"
    ):
        data_roots()
    with pytest.raises(DataNotFoundError, match=r"^--data-dir '.*nope' is not a directory\.$"):
        data_roots(tmp_path / "nope")
    monkeypatch.delenv("HARNESS_DATA_DIR")
    assert data_roots() == [DataRoot(EMBEDDED_DIR, "embedded")]  # no cache folder yet
    cache.mkdir()
    assert data_roots() == [DataRoot(cache.resolve(), "cache"), DataRoot(EMBEDDED_DIR, "embedded")]


def test_cache_dir_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "h"))
    assert cache_dir() == tmp_path / "h"
    monkeypatch.delenv("HARNESS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "harness"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "harness"


def test_embedded_sample_serves_cifar10_when_nothing_else_is_there(cifar10_tree, monkeypatch):
    root = cifar10_tree[0]
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    monkeypatch.setenv("HARNESS_CACHE", str(root / "empty-cache"))
    images = load_images("cifar10")
    assert (len(images), images.origin) == (4000, "embedded")
    assert (
        images.source
        == "images/cifar10_train_4000.npz (exact pixels, CIFAR-10 train images 0-3999)"
    )
    assert images.checksum == _SHA256SUMS["images/cifar10_train_4000.npz"]
    # The cache comes first, per dataset: a cached official batch folder wins over the sample.
    monkeypatch.setenv("HARNESS_CACHE", str(root))
    cached = load_images("cifar10")
    assert (len(cached), cached.origin) == (15, "cache")
    assert cached.source.startswith("cifar-10-batches-py/{data_batch_1,")
    # A dataset in neither says where it looked and how to get it.
    with pytest.raises(DataNotFoundError) as err:
        load_images("cifar100", split="test")
    assert "cifar100 not found in cache " in str(err.value)
    assert "`harness data download cifar100`" in str(err.value)


def test_embedded_files_match_their_checksums():
    for name, digest in _SHA256SUMS.items():
        assert hashlib.sha256((EMBEDDED_DIR / name).read_bytes()).hexdigest() == digest, name


_SHA256SUMS = {
    line.split()[1]: line.split()[0]
    for line in (EMBEDDED_DIR / "SHA256SUMS").read_text().splitlines()
}


# ----------------------------------------------------------------------------- shared real images


@pytest.mark.data
def test_shared_cifar10_train_npz():
    s = load_images("cifar10", data_dir=SHARED_DATA, source="npz")
    assert s.images.shape == (4000, 32, 32, 3) and s.images.dtype == np.uint8
    assert s.labels.dtype == np.int64 and set(np.unique(s.labels)) == set(range(10))
    mean = (s.images / 255.0).reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(mean, (0.491, 0.482, 0.447), atol=0.01)
    assert s.checksum == _manifest_sha("cifar10_train_4000.npz")
    desc = json.loads(json.dumps(s.describe()))
    assert (
        desc["n"] == 4000
        and desc["synthetic"] is False
        and "cifar10_train_4000.npz" in desc["source"]
    )
    assert desc["mean"] == pytest.approx([125.3 / 255, 123.0 / 255, 113.9 / 255])


@pytest.mark.data
def test_shared_cifar10_jpeg_forms_agree_with_exact_pixels():
    exact = load_images("cifar10", data_dir=SHARED_DATA, source="npz")
    jpeg = load_images("cifar10", data_dir=SHARED_DATA, source="jpegbytes")
    assert len(jpeg) == 50_000 and isinstance(jpeg.images, D.LazyImages)
    assert np.array_equal(jpeg.labels[:4000], exact.labels)
    decoded = jpeg.take(np.arange(32)).astype(float)
    rmse = np.sqrt(((decoded - exact.images[:32]) ** 2).mean())
    assert rmse < 10, rmse  # JPEG q75 ~ 8/255
    test_exact = load_images("cifar10", "test", data_dir=SHARED_DATA, source="npz")
    test_jpeg = load_images("cifar10", "test", data_dir=SHARED_DATA, source="jpegbytes", limit=16)
    assert len(test_exact) == 1000 and len(test_jpeg) == 16
    assert (
        np.sqrt(
            ((test_jpeg.take(np.arange(16)) - test_exact.images[:16].astype(float)) ** 2).mean()
        )
        < 10
    )
    j10k = load_images("cifar10", data_dir=SHARED_DATA, source="jpeg10k", limit=32)
    assert np.sqrt(((j10k.images.astype(float) - exact.images[:32]) ** 2).mean()) < 10


@pytest.mark.data
def test_shared_imagenet16_fixture_through_official_reader():
    tr = load_images("ImageNet16-120", "train", data_dir=SHARED_DATA, source="standin")
    va = load_images("ImageNet16-120", "test", data_dir=SHARED_DATA, source="standin")
    assert tr.standin and va.standin and tr.num_classes == 120
    assert tr.images.shape[1:] == (16, 16, 3) and len(tr) + len(va) == 120
    labels = np.concatenate([tr.labels, va.labels])
    assert labels.min() >= 0 and labels.max() <= 119 and len(set(labels.tolist())) == 120
    # The fixture is the stand-in npz written in the official layout: same pixels, label - 1.
    with np.load(SHARED_DATA / "images" / "imagenet16_120_standin_120.npz") as z:
        ref_images, ref_labels = z["images"], z["labels"]
    for img, lab in zip(np.concatenate([tr.images, va.images]), labels):
        (k,) = np.flatnonzero(ref_labels == lab)
        assert np.array_equal(img, ref_images[k])


@pytest.mark.data
def test_shared_patches_are_normalised():
    s = load_images("cifar10", data_dir=SHARED_DATA, source="npz")
    patches = torch.cat(patch_batches(s, seed=0))
    assert patches.shape == (3000, 1, 3, 3)
    # Normalised with the dataset's own statistics: roughly zero mean, unit spread.
    assert abs(patches.mean().item()) < 0.1 and 0.85 < patches.std().item() < 1.15


# ----------------------------------------------------------------------------- batches


def _small_set(n=12, size=16, seed=5) -> ImageSet:
    rng = np.random.default_rng(seed)
    spec = DATASETS["ImageNet16-120"]
    return ImageSet(
        images=_rand_pixels(rng, n, size),
        labels=np.arange(n),
        dataset="tiny",
        split="train",
        num_classes=n,
        source="test arrays",
        checksum=None,
        mean=spec.mean,
        std=spec.std,
    )


def _denormalise(x: torch.Tensor, s: ImageSet) -> np.ndarray:
    m = np.asarray(s.mean)[:, None, None]
    sd = np.asarray(s.std)[:, None, None]
    pix = (x.double().numpy() * sd + m) * 255
    np.testing.assert_allclose(pix, np.round(pix), atol=1e-3)
    return np.round(pix).astype(np.int64)


def test_image_batch_is_seeded_and_without_replacement():
    s = _small_set()
    x1, y1 = image_batch(s, 12, seed=3)
    x2, y2 = image_batch(s, 12, seed=3)
    x3, _ = image_batch(s, 12, seed=4)
    assert x1.shape == (12, 3, 16, 16) and x1.dtype == torch.float32 and y1.dtype == torch.int64
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert sorted(y1.tolist()) == list(range(12))  # every image exactly once
    x64, _ = image_batch(s, 5, seed=3, dtype=torch.float64)
    assert x64.dtype == torch.float64


def test_image_batch_without_augmentation_is_the_normalised_image():
    s = _small_set()
    x, y = image_batch(s, 6, seed=0, augment=False)
    for xi, yi in zip(x, y):
        assert np.array_equal(_denormalise(xi, s), s.images[yi].transpose(2, 0, 1))


def test_image_batch_augmentation_is_flip_and_padded_crop():
    s = _small_set()
    pad = D.crop_padding(16)
    assert pad == 2 and D.crop_padding(32) == 4
    x, y = image_batch(s, 12, seed=1)
    seen_flip = seen_shift = False
    for xi, yi in zip(x, y):
        got = _denormalise(xi, s).transpose(1, 2, 0)
        img = s.images[yi]
        matches = []
        for flip in (False, True):
            src = img[:, ::-1] if flip else img
            padded = np.pad(src, ((pad, pad), (pad, pad), (0, 0)))
            for i in range(2 * pad + 1):
                for j in range(2 * pad + 1):
                    if np.array_equal(padded[i : i + 16, j : j + 16], got):
                        matches.append((flip, i, j))
        assert matches, "augmented sample is not a flip + padded crop of its image"
        seen_flip |= any(m[0] for m in matches)
        seen_shift |= any(m[1:] != (pad, pad) for m in matches)
    assert seen_flip and seen_shift


def test_patch_batches_cut_normalised_channel_windows():
    s = _small_set()
    batches = patch_batches(s, n_batches=3, batch_size=12, size=3, seed=0)
    again = patch_batches(s, n_batches=3, batch_size=12, size=3, seed=0)
    other = patch_batches(s, n_batches=3, batch_size=12, size=3, seed=1)
    assert len(batches) == 3 and all(b.shape == (12, 1, 3, 3) for b in batches)
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    assert not all(torch.equal(a, b) for a, b in zip(batches, other))
    # Every normalised 3x3 window of every image channel, labelled by its image.
    win = (
        np.lib.stride_tricks.sliding_window_view(s.images, (3, 3), axis=(1, 2)).astype(np.float32)
        / 255
    )
    mean = np.asarray(s.mean, np.float32)[:, None, None]
    std = np.asarray(s.std, np.float32)[:, None, None]
    cand = ((win - mean) / std).reshape(len(s), -1, 9)  # (image, window x channel, 9)
    for batch in batches:
        owners = []
        for p in batch.numpy().reshape(-1, 9):
            hit = np.abs(cand - p).max(axis=2) < 1e-6
            assert hit.any(), "patch is not a normalised window of any image channel"
            owners.append(set(np.flatnonzero(hit.any(axis=1))))
        # batch_size == len(set): each image appears once per batch (shuffled, drop_last loader).
        assert set.union(*owners) == set(range(len(s)))


def test_batch_argument_errors():
    s = _small_set()
    with pytest.raises(InputError, match=r"^batch_size must be a positive integer; got 0\.$"):
        image_batch(s, 0, seed=0)
    with pytest.raises(InputError, match=r"^seed must be a non-negative integer; got -1\.$"):
        image_batch(s, 2, seed=-1)
    with pytest.raises(
        InputError, match=r"^batch_size 13 exceeds the 12 images of tiny train \(test arrays\)"
    ):
        image_batch(s, 13, seed=0)
    with pytest.raises(InputError, match=r"^patch size 17 exceeds the 16px images of tiny\.$"):
        patch_batches(s, batch_size=2, size=17)
    with pytest.raises(InputError, match=r"^dtype must be a torch floating-point dtype"):
        image_batch(s, 2, seed=0, dtype=torch.int64)


def test_synthetic_is_labelled_and_gaussian():
    s = load_images("synthetic", source="ImageNet16-120")
    desc = s.describe()
    assert desc["synthetic"] is True and desc["dataset"] == "synthetic" and desc["checksum"] is None
    assert "synthetic" in desc["source"] and "NOT real images" in desc["source"]
    x, y = image_batch(s, 64, seed=0)
    assert x.shape == (64, 3, 16, 16) and y.max() < 120
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05
    assert torch.equal(x, image_batch(s, 64, seed=0)[0])
    p = patch_batches(s, n_batches=2, batch_size=100, seed=0)
    assert [t.shape for t in p] == [(100, 1, 3, 3)] * 2
    with pytest.raises(TypeError, match="no pixels"):
        s.take(np.arange(2))
    with pytest.raises(
        InputError,
        match=r"^unknown synthetic source 'cifar'\. .*Available: ImageNet16-120, cifar10, ",
    ):
        load_images("synthetic", source="cifar")
