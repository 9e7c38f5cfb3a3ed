"""The results store: statuses, repeat aggregation, schema checks, config hashing."""

from __future__ import annotations

import math

import pytest

from harness.errors import InputError
from sweep.scoring import classify
from harness.store import ResultRow, ResultStore, config_hash, read_results


def test_classify_keeps_infinities_and_drops_nan():
    assert classify(2.5) == (2.5, "ok", None)
    assert classify(-math.inf) == (-math.inf, "inf", "-inf")
    value, status, _ = classify(math.nan)
    assert value is None and status == "nan"


def _store(tmp_path, rows):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as store:
        digest = store.add_config({"profile": {"name": "bench"}, "data": {"dataset": "cifar10"}})
        store.add_proxies([{"name": "p", "direction": "higher"}])
        store.write_rows(digest, "nb201", rows, None)
    return path


def test_repeats_aggregate_to_mean_or_worst_status(tmp_path):
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    rows = [
        ResultRow(1, arch, "p", 0, 1.0, "ok"),
        ResultRow(1, arch, "p", 1, 3.0, "ok"),
        ResultRow(2, arch, "p", 0, 1.0, "ok"),
        ResultRow(2, arch, "p", 1, -math.inf, "inf", "-inf"),
        ResultRow(3, arch, "p", 0, None, "nan"),
        ResultRow(3, arch, "p", 1, -math.inf, "inf"),
        ResultRow(4, arch, "p", 0, None, "error", "RuntimeError: x"),
        ResultRow(4, arch, "p", 1, 2.0, "ok"),
    ]
    frame = read_results(_store(tmp_path, rows)).set_index("index")
    assert (
        frame.loc[1, "value"] == 2.0
        and frame.loc[1, "status"] == "ok"
        and frame.loc[1, "repeats"] == 2
    )
    assert frame.loc[2, "value"] == -math.inf and frame.loc[2, "status"] == "inf"
    assert math.isnan(frame.loc[3, "value"]) and frame.loc[3, "status"] == "nan"
    assert math.isnan(frame.loc[4, "value"]) and frame.loc[4, "status"] == "error"
    assert frame.loc[4, "message"] == "RuntimeError: x"
    per_repeat = read_results(tmp_path / "s.sqlite", per_repeat=True)
    assert len(per_repeat) == 8 and set(per_repeat["repeat"]) == {0, 1}


def test_bad_status_is_rejected_before_anything_is_written(tmp_path):
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(ValueError, match="status must be one of"):
        _store(
            tmp_path,
            [ResultRow(1, arch, "p", 0, 1.0, "ok"), ResultRow(2, arch, "p", 0, 1.0, "weird")],
        )
    assert read_results(tmp_path / "s.sqlite").empty


def test_not_a_store(tmp_path):
    bogus = tmp_path / "x.sqlite"
    bogus.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="cannot use|not a harness results store"):
        ResultStore(bogus)


def test_config_hash_ignores_environment_and_request():
    base = {"profile": {"name": "tenas", "batch_size": 72}, "data": {"checksum": "abc"}}
    same = dict(base, environment={"device": "cuda"}, request={"repeats": 3})
    assert config_hash(base) == config_hash(same)
    assert config_hash(base) != config_hash(dict(base, profile={"name": "tenas", "batch_size": 64}))
