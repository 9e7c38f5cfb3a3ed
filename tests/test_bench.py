"""Benchmark lookup: the real shared table, and tiny official NB201 / NATS files built here."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import bench
from harness.bench import DEFAULT_METRIC, load_benchmark, metric_keys
from harness.bench import benchmark as bench_benchmark
from harness.checksums import file_sha256
from harness.errors import DataNotFoundError, InputError
from harness.paths import EMBEDDED_DIR
from harness.spaces import nb201
from tests.fakes import arch_strs, ramp_table

RESNET_CELL = nb201.EXAMPLE_ARCH  # index 11472 per the data README


# ---- the real shared table -------------------------------------------------------------------
@pytest.fixture(scope="module")
def table() -> bench.Benchmark:
    return load_benchmark()  # the embedded table, or $HARNESS_DATA_DIR's


@pytest.mark.parametrize(
    "key, best_index, best",
    [
        ("cifar10/ori-test@200", 6111, 94.3733),
        ("cifar100/x-test@200", 9930, 73.5133),
        ("ImageNet16-120/x-test@200", 857, 47.3111),
        ("cifar10-valid/x-valid@200", 6111, 91.6067),
    ],
)
def test_table_maxima_match_the_data_readme(table, key, best_index, best):
    acc = table.accuracies(key)
    assert acc.idxmax() == best_index
    assert acc.max() == pytest.approx(best, abs=1e-4)
    assert table.accuracy(best_index, key) == pytest.approx(best, abs=1e-4)


def test_table_resnet_cell(table):
    assert table.arch_str(11472) == RESNET_CELL
    got = [table.accuracy(11472, DEFAULT_METRIC[d]) for d in ("cifar100", "ImageNet16-120")]
    assert table.accuracy(11472, "cifar10/ori-test@200") == pytest.approx(93.91, abs=5e-3)
    assert got == pytest.approx([70.89, 44.23], abs=5e-3)


def test_table_arch_strings_equal_the_space_for_every_index(table):
    assert list(table.frame.index) == list(range(nb201.NUM_CELLS))
    assert list(table.frame["arch_str"]) == [str(a) for a in nb201.all_archs()]


def test_table_keys_coverage_and_describe(table):
    info = table.describe()
    assert info["kind"] == "table" and info["cells"] == nb201.NUM_CELLS
    origin, _, inside = info["path"].partition(":")
    root = {
        "embedded": EMBEDDED_DIR,
        "$HARNESS_DATA_DIR": Path(os.environ.get("HARNESS_DATA_DIR", ".")),
    }[origin]
    assert inside in ("nb201/nb201_accuracy.csv", "nb201/nb201_accuracy.csv.gz")
    assert info["sha256"] == file_sha256(root / inside)
    assert set(info["keys"]) == set(bench.TABLE_COLUMNS)
    assert info["coverage"]["cifar100/x-valid@200"] == 289
    assert info["coverage"]["ImageNet16-120/x-valid@200"] == 321
    assert info["coverage"]["cifar100/x-test@200"] == nb201.NUM_CELLS
    assert set(DEFAULT_METRIC.values()) <= set(table.keys)
    valid = table.accuracies("cifar100/x-valid@200")
    assert valid.notna().sum() == 289
    uncovered = int(valid[valid.isna()].index[0])
    with pytest.raises(InputError, match=r"no value for NB201 index .*289 of 15625"):
        table.accuracy(uncovered, "cifar100/x-valid@200")
    # @12 keys come from their own columns: differ from the 200-epoch ones.
    short, full = (table.accuracies(f"cifar10/ori-test@{ep}") for ep in (12, 200))
    assert (short < full).mean() > 0.9


# ---- keys ------------------------------------------------------------------------------------
def test_metric_keys_are_nb201_words_and_table_fields_are_distinct():
    keys = metric_keys()
    assert len(keys) == len(set(keys)) == 2 * 13  # 13 (dataset, split) pairs at 200 and 12 epochs
    assert {"cifar10-valid/x-valid@200", "cifar10/ori-test@12", "ImageNet16-120/x-test@200"} <= set(
        keys
    )
    assert "cifar10/x-valid@200" not in keys  # cifar10 (train on 50k) has no validation split
    assert set(bench.TABLE_COLUMNS) <= set(keys)
    assert len(set(bench.TABLE_COLUMNS.values())) == len(bench.TABLE_COLUMNS)
    assert bench.parse_key("ImageNet16-120/x-test@12") == ("ImageNet16-120", "x-test", 12)
    assert set(DEFAULT_METRIC.values()) <= set(keys)
    with pytest.raises(InputError, match=r"unknown dataset 'cifar1000'"):
        bench.default_metric("cifar1000")


# ---- a synthetic table (same layout as the shared one: tests/fakes.py) -------------------------
def _copy_table(ramp_table_csv: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ramp_table_csv, path)


def test_synthetic_table_maps_each_key_to_its_column(tmp_path, ramp_table_csv):
    path = tmp_path / "nb201_accuracy.csv"
    _copy_table(ramp_table_csv, path)
    b = load_benchmark(tmp_path)  # a folder holding the table works too
    assert b.source.kind == "table" and b.source.path == path.name  # outside the working directory
    for k, key in enumerate(bench.TABLE_COLUMNS):
        if key != "cifar100/x-valid@200":
            assert b.accuracy(1234, key) == pytest.approx(k + 1.234)
    assert b.describe()["coverage"]["cifar100/x-valid@200"] == math.ceil(nb201.NUM_CELLS / 5)


def test_data_dir_argument_and_env_var(tmp_path, monkeypatch, ramp_table_csv):
    _copy_table(ramp_table_csv, tmp_path / "nb201" / "nb201_accuracy.csv")
    assert load_benchmark(data_dir=tmp_path).source.path == "--data-dir:nb201/nb201_accuracy.csv"
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    assert load_benchmark().source.path == "$HARNESS_DATA_DIR:nb201/nb201_accuracy.csv"
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError, match=r"HARNESS_DATA_DIR='.*nowhere' is not a directory"):
        load_benchmark()
    with pytest.raises(DataNotFoundError, match=r"--data-dir '.*nowhere' is not a directory"):
        load_benchmark(data_dir=tmp_path / "nowhere")
    with pytest.raises(
        DataNotFoundError,
        match=r"^NB201 table nb201/nb201_accuracy.csv\[.gz\] not found in --data-dir ",
    ):
        load_benchmark(data_dir=tmp_path / "nb201")


def test_default_table_is_the_cached_then_the_embedded_one(tmp_path, monkeypatch, ramp_table_csv):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    embedded = load_benchmark()
    assert embedded.source.path == "embedded:nb201/nb201_accuracy.csv.gz"
    assert embedded.source.sha256 == file_sha256(EMBEDDED_DIR / "nb201" / "nb201_accuracy.csv.gz")
    _copy_table(ramp_table_csv, tmp_path / "nb201" / "nb201_accuracy.csv")
    assert load_benchmark().source.path == "cache:nb201/nb201_accuracy.csv"


def test_explicit_benchmark_file_is_shown_without_machine_paths(
    tmp_path, monkeypatch, ramp_table_csv
):
    _copy_table(ramp_table_csv, tmp_path / "t.csv")
    assert (
        load_benchmark(tmp_path / "t.csv").source.path == "t.csv"
    )  # outside the working directory
    monkeypatch.chdir(tmp_path.parent)
    assert load_benchmark(tmp_path / "t.csv").source.path == f"{tmp_path.name}/t.csv"


def test_table_with_swapped_arch_strings_is_rejected(tmp_path):
    archs = list(arch_strs())
    archs[3], archs[7] = archs[7], archs[3]
    ramp_table(archs).to_csv(tmp_path / "t.csv", index=False)
    msg = r"does not follow the NB201 index order: index 3 is .*\(2 of 15625 indices differ\)"
    with pytest.raises(InputError, match=msg):
        load_benchmark(tmp_path / "t.csv")


def test_table_with_wrong_length_or_columns_is_rejected(tmp_path):
    ramp_table(arch_strs()[:100]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match=r"lists 100 architectures; an NB201 benchmark has 15625"):
        load_benchmark(tmp_path / "short.csv")
    pd.DataFrame({"index": [0], "arch_str": [str(nb201.Nb201Arch.from_index(0))]}).to_csv(
        tmp_path / "cols.csv", index=False
    )
    msg = r"not an NB201 accuracy table: missing columns cifar10_valid_acc"
    with pytest.raises(InputError, match=msg):
        load_benchmark(tmp_path / "cols.csv")


def test_unknown_key_lists_the_available_keys(ramp_table_csv):
    b = load_benchmark(ramp_table_csv)
    with pytest.raises(InputError) as err:
        b.accuracy(0, "cifar10/x-valid@200")
    msg = str(err.value)
    assert msg.startswith("unknown benchmark metric 'cifar10/x-valid@200'.")
    assert "Available: " in msg and all(k in msg for k in bench.TABLE_COLUMNS)
    with pytest.raises(InputError, match=r"Did you mean 'cifar100/x-test@200'"):
        b.accuracies("cifar100/xtest@200")
    # A real NB201 key that this source lacks says so, rather than "unknown".
    with pytest.raises(InputError, match=r"'cifar100/ori-test@200' is not in the table source"):
        b.accuracies("cifar100/ori-test@200")


@pytest.mark.parametrize("index", [-1, 15625, 3.0, True, "5"])
def test_index_out_of_range_uses_the_space_message(ramp_table_csv, index):
    b = load_benchmark(ramp_table_csv)
    with pytest.raises(InputError) as err:
        b.accuracy(index, "cifar10/ori-test@200")
    with pytest.raises(InputError) as want:
        nb201.check_index(index)
    assert str(err.value) == str(want.value)
    assert b.accuracy(np.int64(5), "cifar10/ori-test@200") == b.accuracy(5, "cifar10/ori-test@200")


def test_missing_and_unrecognised_sources(tmp_path):
    msg = r"not found: .*NAS-Bench-201-v1_1-096897\.pth.*expected"
    with pytest.raises(DataNotFoundError, match=msg):
        load_benchmark(tmp_path / "NAS-Bench-201-v1_1-096897.pth")
    msg = r"holds neither nb201_accuracy\.csv nor meta\.pickle\.pbz2"
    with pytest.raises(DataNotFoundError, match=msg):
        load_benchmark(tmp_path)
    (tmp_path / "bench.json").write_text("{}")
    with pytest.raises(InputError, match=r"cannot tell which NB201 benchmark format"):
        load_benchmark(tmp_path / "bench.json")


@pytest.mark.parametrize(
    "name, message",
    [
        ("nb201_accuracy.csv", r"nb201_accuracy\.csv"),
        ("NAS-Bench-201-v1_0-e61699.pth", r"cannot read .* as a NAS-Bench-201 file"),
        ("NATS-tss-v1_0-3ffb9.pickle.pbz2", r"cannot read .* as a NATS-Bench TSS benchmark"),
    ],
)
def test_corrupt_files_raise_input_error(tmp_path, name, message):
    garbage = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (tmp_path / name).write_bytes(garbage)
    with pytest.raises(InputError, match=message):
        load_benchmark(tmp_path / name)


def test_corrupt_nats_directory_meta(tmp_path):
    (tmp_path / "meta.pickle.pbz2").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(InputError, match=r"cannot read .* as a NATS-Bench TSS benchmark"):
        load_benchmark(tmp_path)


def test_module_and_table_reader_do_not_import_torch(ramp_table_csv):
    code = (
        "import sys; from harness.bench import load_benchmark; "
        f"b = load_benchmark({str(ramp_table_csv)!r}); b.accuracy(0, 'cifar10/ori-test@200'); "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


# ---- tiny official files -----------------------------------------------------------------------
# Cells in the tiny files; 15624 gets only the 12-epoch cifar10-valid run (as NB201 v1_0 did).
TINY = (0, 1, 6111, 11472)
PARTIAL = 15624
SEEDS = {
    "cifar10-valid": (777, 888),
    "cifar10": (777,),
    "cifar100": (777, 888, 999),
    "ImageNet16-120": (888,),
}
_DS_OFF = {"cifar10-valid": 0.0, "cifar10": 10.0, "cifar100": 20.0, "ImageNet16-120": 30.0}
_SPLIT_OFF = {"train": 0.5, "x-valid": 1.5, "x-test": 2.5, "ori-test": 3.5}


def _acc(index: int, hp: int, dataset: str, split: str, seed: int) -> float:
    """A distinct accuracy for every (cell, schedule, dataset, split, seed)."""
    offset = (hp == 12) * 40.0 + _DS_OFF[dataset] + _SPLIT_OFF[split]
    return 5.0 + index * 1e-3 + offset + seed / 1000


def _expected(index: int, key: str) -> float:
    dataset, split, hp = bench.parse_key(key)
    return float(np.mean([_acc(index, hp, dataset, split, s) for s in SEEDS[dataset]]))


def _arch_results(classes, index: int, hp: int, datasets) -> object:
    """ArchResults for one cell and schedule, built with the package's own classes."""
    ArchResults, ResultsCount = classes
    arch_str = str(nb201.Nb201Arch.from_index(index))
    res = ArchResults(index, arch_str)
    for dataset in datasets:
        splits = [s for s in bench.SPLITS[dataset] if s != "train"]
        for seed in SEEDS[dataset]:
            # Earlier epochs hold other numbers: the reader must take the last epoch.
            last = {s: _acc(index, hp, dataset, s, seed) for s in [*splits, "train"]}
            train = {e: (last["train"] if e == hp - 1 else 1.0) for e in range(hp)}
            config = {
                "name": "infer.tiny",
                "C": 16,
                "N": 5,
                "arch_str": arch_str,
                "class_num": 10,
                "channel": 16,
                "num_cells": 5,
            }
            rc = ResultsCount(
                dataset,
                None,
                train,
                {e: 0.1 for e in range(hp)},
                0.5,
                10.0,
                config,
                seed,
                hp,
                [0.01],
            )
            accs = {
                f"{s}@{e}": (last[s] if e == hp - 1 else 2.0) for s in splits for e in range(hp)
            }
            rc.update_eval(accs, {k: 0.2 for k in accs}, {k: 0.3 for k in accs})
            res.update(dataset, seed, rc)
    return res


def _cells(classes):
    """{index: {hp: ArchResults}} for the tiny files."""
    cells = {i: {hp: _arch_results(classes, i, hp, SEEDS) for hp in (12, 200)} for i in TINY}
    cells[PARTIAL] = {
        12: _arch_results(classes, PARTIAL, 12, ["cifar10-valid"]),
        200: _arch_results(classes, PARTIAL, 200, []),
    }
    return cells


def _meta() -> list[str]:
    return [str(a) for a in nb201.all_archs()]


def _write_nb201_pth(path: Path, meta: list[str] | None = None) -> None:
    import torch
    from nas_201_api import ArchResults, ResultsCount

    cells = _cells((ArchResults, ResultsCount))
    data = {
        "meta_archs": meta or _meta(),
        "arch2infos": {
            i: {"less": c[12].state_dict(), "full": c[200].state_dict()} for i, c in cells.items()
        },
        "evaluated_indexes": set(cells),
    }
    torch.save(data, path)


def _write_nats_dir(path: Path, meta: list[str] | None = None) -> None:
    from nats_bench import ArchResults, ResultsCount, pickle_save

    path.mkdir()
    pickle_save({"meta_archs": meta or _meta()}, str(path / "meta.pickle"))  # + ".pbz2"
    for i, c in _cells((ArchResults, ResultsCount)).items():
        state = {"12": c[12].state_dict(), "200": c[200].state_dict()}
        pickle_save(state, str(path / f"{i:06d}.pickle"))


def _write_nats_file(path: Path) -> None:
    from nats_bench import ArchResults, ResultsCount, pickle_save

    cells = _cells((ArchResults, ResultsCount))
    data = {
        "meta_archs": _meta(),
        "evaluated_indexes": set(cells),
        "arch2infos": {
            i: {"12": c[12].state_dict(), "200": c[200].state_dict()} for i, c in cells.items()
        },
    }
    pickle_save(data, str(path).removesuffix(".pbz2"))


def _check_tiny(b: bench.Benchmark, kind: str) -> None:
    assert b.source.kind == kind
    assert len(b.frame) == nb201.NUM_CELLS
    assert b.frame.at[11472, "arch_str"] == RESNET_CELL
    # Every NB201 (dataset, split) at both schedules is there, and each value is its own mean.
    assert b.keys == metric_keys()
    for i in TINY:
        for key in metric_keys():
            assert b.accuracy(i, key) == pytest.approx(_expected(i, key), abs=1e-9), (i, key)
    assert b.accuracy(PARTIAL, "cifar10-valid/x-valid@12") == pytest.approx(
        _expected(PARTIAL, "cifar10-valid/x-valid@12")
    )
    assert math.isnan(b.accuracies("cifar10-valid/x-valid@200")[PARTIAL])
    cov = b.describe()["coverage"]
    assert cov["cifar10-valid/x-valid@12"] == len(TINY) + 1
    assert cov["cifar100/x-test@200"] == len(TINY)
    assert b.accuracies("cifar10/ori-test@200").notna().sum() == len(TINY)


def test_official_nb201_pth_reads_back(tmp_path):
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    _write_nb201_pth(path)
    b = load_benchmark(path)
    _check_tiny(b, "nb201")
    assert b.describe()["sha256"] == file_sha256(path)


def test_progress_bar_goes_to_stderr_when_asked(tmp_path, capsys):
    path = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    _write_nb201_pth(path)
    load_benchmark(path, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and f"reading {path.name}" in err and "5/5" in err
    load_benchmark(path, progress=False)
    assert capsys.readouterr() == ("", "")


def test_nats_tss_directory_reads_back(tmp_path):
    path = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    _write_nats_dir(path)
    b = load_benchmark(path)
    _check_tiny(b, "nats-tss")
    assert b.source.sha256_of == "listing"


def test_nats_tss_single_file_reads_back(tmp_path):
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    _write_nats_file(path)
    _check_tiny(load_benchmark(path), "nats-tss")


def test_official_files_in_another_index_order_are_rejected(tmp_path):
    meta = _meta()
    meta[0], meta[1] = meta[1], meta[0]
    _write_nb201_pth(tmp_path / "x.pth", meta)
    msg = r"x\.pth does not follow the NB201 index order: index 0 is"
    with pytest.raises(InputError, match=msg):
        load_benchmark(tmp_path / "x.pth")
    _write_nats_dir(tmp_path / "nats", meta)
    with pytest.raises(InputError, match=r"nats does not follow the NB201 index order: index 0"):
        load_benchmark(tmp_path / "nats")


def test_nats_cell_file_for_the_wrong_arch_is_rejected(tmp_path):
    path = tmp_path / "nats"
    _write_nats_dir(path)
    (path / "000001.pickle.pbz2").replace(path / "000002.pickle.pbz2")
    with pytest.raises(InputError, match=r"results stored for index 2 are for "):
        load_benchmark(path)


def test_cache_is_reused_only_for_the_same_source(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    src, cache = tmp_path / "b.pth", tmp_path / "cache" / "nb201.parquet"
    _write_nb201_pth(src)
    first = load_benchmark(src, cache_path=cache)
    assert cache.is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("read the source although the cache is valid")

    monkeypatch.setattr(bench_benchmark, "read_nb201_pth", refuse)
    again = load_benchmark(src, cache_path=cache)
    pd.testing.assert_frame_equal(again.frame, first.frame)
    assert again.describe() == first.describe()

    monkeypatch.undo()
    meta = _meta()
    meta[0], meta[1] = meta[1], meta[0]
    _write_nb201_pth(src, meta)  # the source changed: the cache must not hide it
    with pytest.raises(InputError, match=r"index order"):
        load_benchmark(src, cache_path=cache)
