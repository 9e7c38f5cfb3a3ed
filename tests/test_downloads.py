"""`harness data download` / `status` against a loopback HTTP server serving archives built here."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pickle
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from click.testing import CliRunner

from harness import downloads
from cli import cli
from harness.data import load_images


def _cifar10_archive(images_per_batch: int = 3) -> bytes:
    """A .tar.gz in the official layout: cifar-10-batches-py/ with pickled channel-planar batches."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        entries = {f"data_batch_{k}": images_per_batch for k in range(1, 6)}
        entries["test_batch"] = images_per_batch
        for name, n in entries.items():
            batch = {
                b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                b"labels": (np.arange(n) % 10).tolist(),
                b"batch_label": name.encode(),
            }
            _add(tar, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps({b"label_names": [b"x"] * 10}))
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


class _Server:
    """Serves `files` on 127.0.0.1 with HTTP Range support; `cut` truncates one response once."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.ranges: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                header = self.headers.get("Range")
                outer.ranges.append(header)
                start = int(header.removeprefix("bytes=").rstrip("-")) if header else 0
                self.send_response(206 if header else 200)
                self.send_header("Content-Length", str(len(body) - start))
                if header:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                stop = outer.cut.pop(self.path, len(body))
                self.wfile.write(body[start:stop])  # a cut response promises more than it sends

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    return tmp_path / "cache"


def _serve_cifar10(server, monkeypatch, archive: bytes, path: str = "/cifar-10-python.tar.gz"):
    server.files[path] = archive
    spec = dataclasses.replace(
        downloads.ARCHIVES["cifar10"], url=server.url(path), md5=hashlib.md5(archive).hexdigest()
    )
    monkeypatch.setitem(downloads.ARCHIVES, "cifar10", spec)
    return spec


def _download(*args):
    return CliRunner().invoke(cli, ["data", "download", *args, "-q"])


def test_good_download_is_verified_extracted_and_read_from_the_cache(server, cache, monkeypatch):
    _serve_cifar10(server, monkeypatch, _cifar10_archive())
    result = _download("cifar10")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(cache / "cifar-10-batches-py")
    assert sorted(p.name for p in cache.iterdir()) == [
        "cifar-10-batches-py"
    ]  # no staging, no .part
    images = load_images("cifar10")
    assert (len(images), images.origin) == (15, "cache")
    status = json.loads(CliRunner().invoke(cli, ["data", "status", "--json"]).stdout)
    cifar10 = next(e for e in status["entries"] if e["name"] == "cifar10")
    assert cifar10["where"] == "cache:cifar-10-batches-py" and cifar10["missing"] == ""
    again = _download("cifar10")  # already there: nothing fetched
    assert again.exit_code == 0 and len(server.ranges) == 1


def test_corrupted_download_leaves_nothing_in_the_cache(server, cache, monkeypatch):
    archive = _cifar10_archive()
    _serve_cifar10(server, monkeypatch, archive)
    corrupt = bytearray(archive)
    corrupt[len(corrupt) // 2] ^= 0xFF
    server.files["/cifar-10-python.tar.gz"] = bytes(corrupt)
    result = _download("cifar10")
    assert result.exit_code == 2
    assert result.output.startswith("Error: checksum mismatch for http://127.0.0.1:")
    assert len(result.output.strip().splitlines()) == 1
    assert not (cache / "cifar-10-batches-py").exists()
    assert list(cache.rglob("*")) == []


def test_interrupted_download_resumes_with_a_range_request(server, cache, monkeypatch):
    archive = _cifar10_archive(images_per_batch=40)
    _serve_cifar10(server, monkeypatch, archive)
    half = len(archive) // 2
    server.cut["/cifar-10-python.tar.gz"] = half
    first = _download("cifar10")
    assert first.exit_code == 1
    assert (
        "broke off after" in first.output and "run the same command again to resume" in first.output
    )
    partial = cache / "downloads" / "cifar-10-python.tar.gz.part"
    assert partial.stat().st_size == half
    assert not (cache / "cifar-10-batches-py").exists()
    second = _download("cifar10")
    assert second.exit_code == 0, second.output
    assert server.ranges == [None, f"bytes={half}-"]
    assert len(load_images("cifar10")) == 6 * 40 - 40  # the five training batches
    assert not partial.exists()


def test_missing_file_is_one_line_and_exit_2(server, cache, monkeypatch):
    _serve_cifar10(server, monkeypatch, _cifar10_archive(), path="/elsewhere.tar.gz")
    monkeypatch.setitem(
        downloads.ARCHIVES,
        "cifar10",
        dataclasses.replace(
            downloads.ARCHIVES["cifar10"], url=server.url("/cifar-10-python.tar.gz")
        ),
    )
    result = _download("cifar10")
    assert result.exit_code == 2
    assert (
        result.output
        == f"Error: download of {server.url('/cifar-10-python.tar.gz')} failed: HTTP 404 Not Found.\n"
    )
    # --url names a mirror; the official checksum still applies.
    mirrored = _download("cifar10", "--url", server.url("/elsewhere.tar.gz"))
    assert mirrored.exit_code == 0, mirrored.output
    assert (cache / "cifar-10-batches-py" / "test_batch").is_file()


@pytest.mark.parametrize("name", ["ImageNet16-120", "imagenet", "nb201-pth", "nats-tss"])
def test_data_without_a_direct_url_says_where_to_get_it(name, cache):
    result = _download(name)
    assert result.exit_code == 2
    assert result.output == f"Error: {downloads.where_to_get(name)}\n"
    where = (
        str(cache / "ImageNet16")
        if name == "ImageNet16-120"
        else str(cache / "imagenet")
        if name == "imagenet"
        else "--bench PATH/"
    )
    assert where in result.output  # where to put it


def test_status_of_a_fresh_machine_lists_the_embedded_sample(cache):
    result = CliRunner().invoke(cli, ["data", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("searched, in order: embedded ")
    row = {line.split()[0]: line for line in lines[2:9]}
    assert row["cifar10"].split()[1:3] == ["yes", "embedded:images/cifar10_train_4000.npz"]
    assert row["nb201-table"].split()[1:3] == ["yes", "embedded:nb201/nb201_accuracy.csv.gz"]
    assert row["cifar100"].split()[1] == "no"
    assert "  cifar100: `harness data download cifar100`" in lines
