"""`harness data download`: fetch the official CIFAR archives into the user cache (stdlib only).

A download is resumable (an interrupted transfer leaves ``downloads/<archive>.part``, and the next
call asks the server for the rest with an HTTP Range request), verified against the MD5 the field
uses (torchvision's), and extracted atomically: into a hidden folder of the cache, renamed into
place only when every expected file is there, so a dataset folder is never seen half-written.
Datasets without a stable direct URL (ImageNet16-120, ImageNet, the NB201 / NATS-Bench files) are
not downloaded; `MANUAL` says where to get them and where to put them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from harness.errors import HarnessError, InputError, unknown_name
from harness.paths import cache_dir

_CHUNK = 1 << 20
_TIMEOUT_S = 60


@dataclass(frozen=True)
class ArchiveSpec:
    """An official dataset archive: where it lives, its checksum and what it unpacks to."""

    name: str
    url: str
    md5: str
    folder: str  # the top folder the archive unpacks to, which the readers look for
    files: tuple[str, ...]  # inside `folder`; all must be there after extraction

    @property
    def archive(self) -> str:
        return self.url.rsplit("/", 1)[-1]


# URLs and MD5s as torchvision.datasets.CIFAR10 / CIFAR100 give them.
ARCHIVES: dict[str, ArchiveSpec] = {
    "cifar10": ArchiveSpec(
        "cifar10",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        (*(f"data_batch_{k}" for k in range(1, 6)), "test_batch", "batches.meta"),
    ),
    "cifar100": ArchiveSpec(
        "cifar100",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        ("train", "test", "meta"),
    ),
}

#: What to do for the data that cannot be downloaded from a stable URL.
MANUAL: dict[str, str] = {
    "ImageNet16-120": (
        "ImageNet16-120 has no stable direct URL. Get the down-sampled ImageNet 16x16 pickles "
        "(train_data_batch_1..10, val_data) from the NAS-Bench-201 authors' release (the "
        "AutoDL-Projects README links them, 'ImageNet16') and put them in {cache}/ImageNet16/ "
        "(or any folder you pass as --data-dir)."
    ),
    "imagenet": (
        "ImageNet is not downloadable without an account. Download ILSVRC-2012 from "
        "image-net.org and lay it out as an ImageFolder tree: {cache}/imagenet/train/<class>/*.JPEG "
        "and {cache}/imagenet/val/<class>/*.JPEG (or pass --data-dir)."
    ),
    "nb201-pth": (
        "The NAS-Bench-201 file (NAS-Bench-201-v1_1-096897.pth, 4.7 GB, or v1_0-e61699) is on the "
        "authors' Google Drive (linked from the NAS-Bench-201 README); read it with "
        "--bench PATH/NAS-Bench-201-v1_1-096897.pth (package nas-bench-201). The table embedded "
        "in this package holds the same 200-epoch means for the metric keys the harness uses."
    ),
    "nats-tss": (
        "The NATS-Bench topology archive (NATS-tss-v1_0-3ffb9-simple.tar) is on the authors' "
        "Google Drive (linked from the NATS-Bench README); unpack it and pass the folder as "
        "--bench PATH/NATS-tss-v1_0-3ffb9-simple (package nats_bench)."
    ),
}

NAMES: tuple[str, ...] = (*ARCHIVES, *MANUAL)


class DownloadError(HarnessError):
    """A transfer that broke off (exit code 1): run the command again to resume it."""


def where_to_get(name: str, cache: Path | None = None) -> str:
    """The instructions for a dataset or benchmark file that is not downloaded automatically."""
    if name not in MANUAL:
        raise unknown_name("manual download", name, MANUAL)
    return MANUAL[name].format(cache=cache or cache_dir())


def download(
    name: str,
    *,
    url: str | None = None,
    cache: Path | None = None,
    progress: bool | None = None,
    echo: Callable[[str], None] = lambda _: None,
) -> Path:
    """Download, verify and extract one archive of `ARCHIVES` into the cache; return its folder.

    Args:
        name: ``cifar10`` or ``cifar100``.
        url: a mirror of the official archive (the same MD5 is required).
        cache: the cache folder (default `harness.paths.cache_dir()`).
        progress: show a tqdm bar on stderr; None shows it only on a terminal.
        echo: receives one line per step (for the CLI).

    Raises:
        InputError: unknown name, a name that is not downloadable (the message says where to get
            it), an HTTP error status, an unreachable host, or a checksum mismatch (the bad file
            is deleted).
        DownloadError: the transfer broke off; the partial file is kept for the next call.
    """
    if name in MANUAL:
        raise InputError(where_to_get(name, cache))
    if name not in ARCHIVES:
        raise unknown_name("dataset to download", name, NAMES)
    spec = ARCHIVES[name]
    cache = Path(cache) if cache is not None else cache_dir()
    target = cache / spec.folder
    if _complete(target, spec):
        echo(f"{name}: already in {target}")
        return target
    if target.exists():
        raise InputError(
            f"{target} exists but lacks some of {', '.join(spec.files)}; remove it and run again."
        )
    partial = cache / "downloads" / f"{spec.archive}.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    source = url or spec.url
    try:
        _fetch(source, partial, progress)
        digest = _md5(partial)
        if digest != spec.md5:
            partial.unlink()
            raise InputError(
                f"checksum mismatch for {source}: MD5 {digest}, expected {spec.md5}; the file was "
                f"deleted (a corrupt transfer or another file at that URL). Run again, or pass --url "
                f"of another mirror."
            )
    except InputError:
        _remove_if_empty(partial.parent)
        raise
    echo(f"{name}: {spec.archive} verified (MD5 {digest})")
    _extract(partial, cache, spec)
    partial.unlink()
    _remove_if_empty(partial.parent)
    echo(f"{name}: extracted to {target}")
    return target


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty, or gone
        pass


def _complete(folder: Path, spec: ArchiveSpec) -> bool:
    return folder.is_dir() and all((folder / f).is_file() for f in spec.files)


def _fetch(url: str, partial: Path, progress: bool | None) -> None:
    """Append the rest of `url` to `partial` (Range request when some bytes are already there)."""
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the partial file is whole
            return
        raise InputError(f"download of {url} failed: HTTP {err.code} {err.reason}.") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise InputError(f"cannot download {url}: {reason}.") from None
    with response:
        if have and response.status != 206:  # the server ignored the Range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        bar = tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=partial.name.removesuffix(".part"),
            file=sys.stderr,
            disable=None if progress is None else not progress,
        )
        try:
            with open(partial, "ab" if have else "wb") as out, bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
        except (OSError, HTTPException) as err:
            raise DownloadError(
                f"download of {url} broke off after {partial.stat().st_size} bytes ({err}); run the "
                f"same command again to resume it."
            ) from None
    got = partial.stat().st_size
    if total is not None and got < total:
        raise DownloadError(
            f"download of {url} broke off after {got} of {total} bytes; run the same command "
            f"again to resume it."
        )


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _extract(archive: Path, cache: Path, spec: ArchiveSpec) -> None:
    """Unpack into a hidden folder of the cache, check the files, then rename the dataset folder
    into place (one atomic rename: readers see all of it or nothing)."""
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(staging, filter="data")  # no absolute paths, links out, devices
        except (tarfile.TarError, OSError, EOFError) as err:
            raise InputError(f"cannot extract {archive.name}: {err}.") from None
        unpacked = staging / spec.folder
        if not _complete(unpacked, spec):
            missing = [f for f in spec.files if not (unpacked / f).is_file()]
            raise InputError(
                f"{archive.name} does not hold {spec.folder}/ with {', '.join(missing)}; not an "
                f"official {spec.name} archive."
            )
        os.replace(unpacked, cache / spec.folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
