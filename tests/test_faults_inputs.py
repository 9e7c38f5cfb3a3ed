"""Fault battery, bad input: options validated before any work (exit 2, nothing created), failed
keys retried, corrupt data files and exports one line naming the file, malformed --indices, and
unusual profile/proxy combinations explained."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError
from sweep.profiles import get_profile
from tests.fakes import ramp_table

from tests.fault_helpers import export_store, invoke, make_store, one_line_error, rows_of


# ---- 2. options validated before any work; failed keys retried -------------------------------
@pytest.mark.parametrize(
    "args, needle",
    [
        (["--proxies", "ntk_cond", "--ntk-engine", "foo"], "unknown --ntk-engine 'foo'"),
        (
            ["--proxies", "params", "--threads", "-1"],
            "--threads must be a positive integer; got -1",
        ),
        (["--proxies", "params", "--threads", "0"], "--threads must be a positive integer; got 0"),
        (
            ["--proxies", "params", "--cpus-per-task", "0"],
            "--cpus-per-task must be a positive integer",
        ),
        (["--proxies", "params", "--gpus-per-task", "-1"], "--gpus-per-task must be >= 0"),
        (["--proxies", "params", "--workers", "-3"], "--workers must be a positive integer"),
        (["--proxies", "params", "--indices", ""], "--indices '' is empty"),
        (["--proxies", "params", "--indices", " "], "is empty"),
        (["--proxies", "params", "--indices", "0,,3"], "empty item"),
        (["--proxies", "params", "--indices", "0,"], "empty item"),
        (["--proxies", "params", "--indices", ","], "empty item"),
    ],
)
def test_run_proxies_bad_options_exit_2_and_create_nothing(tmp_path, args, needle):
    out = tmp_path / "s.sqlite"
    one_line_error(
        invoke("run-proxies", "--indices", "0", "--dataset", "synthetic", "--out", out, *args),
        needle,
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--summary", "--init-channels", "0"],
            "--init-channels must be a positive integer; got 0",
        ),
        (["--summary", "--layers", "0"], "--layers must be a positive integer; got 0"),
        (["--summary", "--layers", "-1"], "--layers must be a positive integer"),
        (["--summary", "--image-size", "0"], "--image-size must be a positive integer"),
        (["--init-channels", "0", "--epochs", "1"], "--init-channels must be a positive integer"),
    ],
)
def test_train_bad_sizes_exit_2(args, needle):
    one_line_error(invoke("train", *args), needle)


_FLAKY = {"fail": True}


@pytest.fixture
def flaky_proxy():
    """A proxy that fails while _FLAKY["fail"] is set, registered for one test only."""
    from proxies.registry import PROXIES, register_proxy

    @register_proxy("test_flaky", higher_is_better=True, inputs="shape")
    def _flaky(model, inputs, labels=None):
        """Fails while FAIL is set (test only)."""
        if _FLAKY["fail"]:
            raise RuntimeError("transient failure")
        return 1.0

    try:
        yield "test_flaky"
    finally:
        PROXIES._items.pop("test_flaky", None)  # the registry has no public removal: tests only


def test_failed_keys_are_retried_by_a_rerun_never_counted_done(tmp_path, flaky_proxy):
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(
        (flaky_proxy,), get_profile("tenas", repeats=1), "synthetic", data_source="cifar10"
    )
    out = tmp_path / "f.sqlite"
    _FLAKY["fail"] = True
    first = run_sweep(spec, SweepOptions([0, 1], quiet=True), str(out))
    assert first.failed_cells == 2 and set(rows_of(out)["status"]) == {"error"}
    kept = run_sweep(spec, SweepOptions([0, 1], quiet=True, retry_errors=False), str(out))
    assert kept.scored == 0  # --keep-errors leaves them
    _FLAKY["fail"] = False
    second = run_sweep(spec, SweepOptions([0, 1], quiet=True), str(out))
    assert (second.skipped, second.scored) == (0, 2)
    assert set(rows_of(out)["status"]) == {"ok"}
    assert run_sweep(spec, SweepOptions([0, 1], quiet=True), str(out)).skipped == 2


# ---- 6. corrupt inputs: one line naming the file, exit 2, nothing created ---------------------
def _good_npz(path: Path, n: int = 80, **overrides) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "images": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        "labels": rng.integers(0, 10, n).astype(np.int64),
    }
    arrays.update(overrides)
    np.savez_compressed(path, **arrays)


def _npz_faults(path: Path) -> dict:
    """name -> function that writes a damaged images/cifar10_train_4000.npz at `path`."""

    def truncated():
        _good_npz(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def garbled():
        _good_npz(path)
        data = bytearray(path.read_bytes())
        for i in range(200, len(data) - 200, 97):
            data[i] ^= 0x5A
        path.write_bytes(bytes(data))

    def crc():
        _good_npz(path)
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
        data = bytearray(path.read_bytes())
        start = infos[0].header_offset + 30 + len(infos[0].filename) + len(infos[0].extra)
        data[start + infos[0].compress_size // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    return {
        "empty": lambda: path.write_bytes(b""),
        "truncated": truncated,
        "garbled": garbled,
        "bad-crc": crc,
        "not-a-zip": lambda: path.write_bytes(b"PK\x03\x04" + b"\0" * 100),
        "pickle": lambda: path.write_bytes(b"\x80\x04\x95" + b"x" * 50),
        "npy": lambda: np.save(open(path, "wb"), np.zeros(3)),
        "wrong-keys": lambda: np.savez(
            path, pixels=np.zeros((2, 32, 32, 3), np.uint8), labels=np.zeros(2)
        ),
        "wrong-shape": lambda: _good_npz(path, images=np.zeros((80, 28, 28, 3), np.uint8)),
        "float-pixels": lambda: _good_npz(path, images=np.zeros((80, 32, 32, 3), np.float32)),
        "too-few-labels": lambda: _good_npz(path, labels=np.zeros(79, np.int64)),
        "float-labels": lambda: _good_npz(path, labels=np.zeros(80, np.float64)),
        "label-10": lambda: _good_npz(path, labels=np.full(80, 10, np.int64)),
        "label-negative": lambda: _good_npz(path, labels=np.full(80, -1, np.int64)),
    }


FAULTS = sorted(_npz_faults(Path("x")))


@pytest.mark.parametrize("fault", FAULTS)
def test_corrupt_npz_is_one_line_naming_the_file(tmp_path, fault):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    npz = data / "images" / "cifar10_train_4000.npz"
    _npz_faults(npz)[fault]()
    out = tmp_path / "s.sqlite"
    line = one_line_error(
        invoke(
            "run-proxies",
            "--proxies",
            "params",
            "--indices",
            "0",
            "--data-dir",
            data,
            "--data-source",
            "npz",
            "--out",
            out,
        ),
        "cifar10_train_4000.npz",
    )
    assert "Traceback" not in line
    assert not out.exists()


@pytest.mark.parametrize(
    "fault", ["offsets-beyond", "offsets-short", "labels-range", "split-values", "keys"]
)
def test_corrupt_jpeg_bytes_file_is_one_line(tmp_path, fault):
    from harness.data import load_images

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    path = data / "images" / "cifar10_all_60000_jpegbytes.npz"
    n = 4
    arrays = {
        "jpeg_bytes": np.zeros(100, np.uint8),
        "offsets": np.arange(0, 125, 25)[: n + 1],
        "labels": np.zeros(n, np.int64),
        "split": np.zeros(n, np.int64),
    }
    if fault == "offsets-beyond":
        arrays["offsets"] = np.array([0, 25, 50, 75, 400])
    elif fault == "offsets-short":
        arrays["offsets"] = np.array([0, 25, 50])
    elif fault == "labels-range":
        arrays["labels"] = np.array([0, 1, 2, 99])
    elif fault == "split-values":
        arrays["split"] = np.array([0, 1, 2, 0])
    else:
        arrays.pop("split")
    np.savez(path, **arrays)
    with pytest.raises(InputError, match="cifar10_all_60000_jpegbytes.npz"):
        load_images("cifar10", "train", data, source="jpegbytes")


def test_truncated_csv_gz_in_correlate_and_import(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    export = tmp_path / "x.csv.gz"
    export_store(store, export)
    export.write_bytes(export.read_bytes()[:-200])
    for accept in ([], ["--accept-partial"]):
        line = one_line_error(
            invoke("correlate", "--results", export, "--bootstrap", "0", *accept), "x.csv.gz"
        )
        assert "Aborted" not in line
        one_line_error(
            invoke("import", "--results", export, "--out", tmp_path / "n.sqlite", *accept),
            "x.csv.gz",
        )
        assert not (tmp_path / "n.sqlite").exists()


@pytest.mark.parametrize(
    "content", [b"", b"\x1f\x8b\x08garbage", b"space,index\n1,2,3,4\n\xff\xfe"]
)
def test_garbage_exports_are_one_line(tmp_path, content):
    path = tmp_path / "x.csv.gz"
    path.write_bytes(content)
    one_line_error(invoke("correlate", "--results", path, "--accept-partial"), "x.csv.gz")
    one_line_error(
        invoke("import", "--results", path, "--out", tmp_path / "n.sqlite", "--accept-partial"),
        "x.csv.gz",
    )
    assert not (tmp_path / "n.sqlite").exists()


@pytest.mark.parametrize("value", [1e9, -5.0, float("inf")])
def test_benchmark_with_absurd_accuracies_is_refused(tmp_path, value):
    table = ramp_table()
    table.loc[17, "cifar10_valid_acc"] = value
    bench = tmp_path / "nb201_accuracy.csv"
    table.to_csv(bench, index=False)
    store = make_store(tmp_path / "s.sqlite", cells=5)
    one_line_error(
        invoke("correlate", "--results", store, "--bench", bench, "--bootstrap", "0"),
        "nb201_accuracy.csv",
        "outside 0-100",
    )


# ---- 8. --indices: empty or malformed lists are errors ------------------------------------------
@pytest.mark.parametrize("spec", ["", "  ", "0,,3", "0,", ",3"])
def test_correlate_and_report_reject_empty_index_lists(tmp_path, spec):
    store = make_store(tmp_path / "s.sqlite", cells=5)
    one_line_error(invoke("correlate", "--results", store, "--indices", spec), "--indices")
    one_line_error(
        invoke("report", "--results", store, "--indices", spec, "--out", tmp_path / "r"),
        "--indices",
    )


# ---- 12. unusual profile/proxy combinations get one line ---------------------------------------
def test_unusual_combinations_say_what_they_cost_or_mean(tmp_path, caplog):
    from sweep.profiles import combination_notes

    assert combination_notes("tenas", ["ntk_cond", "linear_regions"]) == []
    assert combination_notes("bench", ["naswot", "synflow", "linear_regions"]) == []
    (cost,) = combination_notes("bench", ["ntk_cond", "params"])
    assert "105 s per cell" in cost and "--profile tenas" in cost
    (meaning,) = combination_notes("tenas", ["naswot", "ntk_cond"])
    assert meaning.startswith("naswot with --profile tenas") and "not comparable" in meaning

    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(
        ("params",), get_profile("tenas", repeats=1), "synthetic", data_source="cifar10"
    )
    with caplog.at_level(logging.WARNING, logger="sweep.runner"):
        run_sweep(spec, SweepOptions([0], quiet=True), str(tmp_path / "s.sqlite"))
    notes = [r.getMessage() for r in caplog.records if "note:" in r.getMessage()]
    assert len(notes) == 1 and "params with --profile tenas" in notes[0], notes
