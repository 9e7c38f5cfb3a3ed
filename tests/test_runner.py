"""run-proxies end to end: resumability (SIGKILL, Ctrl-C), shards, unique, Ray, failures, CLI errors."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli
from sweep.profiles import get_profile
from sweep.runner import SweepOptions, SweepSpec, run_sweep
from harness.selection import parse_indices, parse_shard, representatives, select_cells, shard
from harness.store import read_results

CHEAP = ("linear_regions", "params")


def _sweep(out, cells, proxies=CHEAP, **options):
    spec = SweepSpec(tuple(proxies), get_profile("tenas", repeats=1), "cifar10")
    return run_sweep(spec, SweepOptions(list(cells), quiet=True, **options), str(out))


def _rows(path) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        return pd.read_sql_query(
            "SELECT cell, proxy, repeat, value, status, filled_from FROM results "
            "ORDER BY cell, proxy, repeat",
            conn,
        )


def _cli_args(out, cells="0-29", proxies="linear_regions,naswot"):
    return [
        sys.executable,
        "-m",
        "cli",
        "run-proxies",
        "--proxies",
        proxies,
        "--profile",
        "tenas",
        "--repeats",
        "1",
        "--indices",
        cells,
        "--out",
        str(out),
        "--quiet",
        "--threads",
        "1",
    ]


def _wait_for_rows(path, n, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return
        try:
            with sqlite3.connect(path, timeout=1) as conn:
                if conn.execute("SELECT COUNT(DISTINCT cell) FROM results").fetchone()[0] >= n:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.05)


def test_sigkill_midway_then_rerun_equals_uninterrupted(tmp_path):
    killed, clean = tmp_path / "killed.sqlite", tmp_path / "clean.sqlite"
    proc = subprocess.Popen(_cli_args(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_rows(killed, 5, proc)
    assert proc.poll() is None, "the sweep finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _rows(killed)
    assert 0 < partial["cell"].nunique() < 30
    # Every cell present is complete: both proxies, never a partial cell.
    assert (partial.groupby("cell")["proxy"].nunique() == 2).all()
    subprocess.run(
        _cli_args(killed), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    subprocess.run(
        _cli_args(clean), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    resumed, reference = _rows(killed), _rows(clean)
    assert len(resumed) == 60 and not resumed.duplicated(["cell", "proxy", "repeat"]).any()
    pd.testing.assert_frame_equal(resumed, reference)


@pytest.mark.parametrize(
    ("signum", "workers"),
    [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGTERM, 2)],
    ids=["ctrl-c", "sigterm", "sigterm-2-workers"],
)
def test_interrupt_stops_cleanly_and_keeps_finished_cells(tmp_path, signum, workers):
    """Ctrl-C, and the SIGTERM a job scheduler sends, stop the sweep with its run recorded."""
    out = tmp_path / "int.sqlite"
    # Long enough (600 cells) that the signal always lands mid-sweep; it stops after a few cells.
    # A shell starting the tests in the background ignores SIGINT, and children inherit that: give
    # the sweep the default disposition a terminal's Ctrl-C meets.
    proc = subprocess.Popen(
        _cli_args(out, cells="0-599") + ["--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_rows(out, 3, proc)
    assert proc.poll() is None
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "INTERRUPTED" in stdout
    assert "Traceback" not in stderr
    rows = _rows(out)
    assert (rows.groupby("cell")["proxy"].nunique() == 2).all()
    with sqlite3.connect(out) as conn:
        summary = json.loads(conn.execute("SELECT summary FROM runs").fetchone()[0])
    assert summary["interrupted"] and summary["scored"] == rows["cell"].nunique()


def test_rerun_skips_finished_keys(tmp_path):
    out = tmp_path / "r.sqlite"
    first = _sweep(out, range(6))
    second = _sweep(out, range(8))
    assert (first.scored, second.scored, second.skipped) == (6, 2, 6)
    assert len(_rows(out)) == 16


def test_shards_cover_the_selection_exactly_once(tmp_path):
    cells = select_cells(parse_indices("0-19,6111"))
    parts = [shard(cells, i, 3) for i in (1, 2, 3)]
    assert sorted(c for part in parts for c in part) == cells and all(parts)
    out = tmp_path / "s.sqlite"
    for i in (1, 2, 3):
        _sweep(out, cells[:9], shard=(i, 3))
    rows = _rows(out)
    assert sorted(rows["cell"].unique()) == cells[:9]
    assert not rows.duplicated(["cell", "proxy", "repeat"]).any()


def test_parse_errors_name_the_bad_value():
    with pytest.raises(ValueError, match=r"invalid --shard '0/3'"):
        parse_shard("0/3")
    with pytest.raises(ValueError, match=r"invalid --indices item 'x'"):
        parse_indices("1,x")
    with pytest.raises(ValueError, match=r"NB201 index 15625 is out of range"):
        parse_indices("15620-15625")
    assert parse_indices("3-5,1") == [1, 3, 4, 5]


def test_unique_scores_representatives_and_fills_members(tmp_path):
    cells = list(range(300))
    groups = representatives(cells)
    assert sum(len(m) for m in groups.values()) == 300 and len(groups) < 300
    out = tmp_path / "u.sqlite"
    summary = _sweep(out, cells, proxies=("params",), unique=True)
    assert summary.scored == len(groups) and summary.filled == 300 - len(groups)
    rows = _rows(out).set_index("cell")
    for rep, members in groups.items():
        for m in members[1:]:
            assert (
                rows.loc[m, "value"] == rows.loc[rep, "value"] and rows.loc[m, "filled_from"] == rep
            )
    # A full run of the same configuration then computes the filled cells itself.
    full = _sweep(out, cells, proxies=("params",))
    assert full.config_hash == summary.config_hash and full.scored == 300 - len(groups)
    assert _rows(out)["filled_from"].isna().all()


def test_unique_fills_classes_already_scored_on_other_cells_instead_of_rescoring(tmp_path):
    out = tmp_path / "u.sqlite"
    first = _sweep(out, range(300), proxies=("params",), unique=True)
    later = list(range(300, 600))
    groups = representatives(later)
    scored_before = set(representatives(range(300)))
    known = {
        rep
        for rep, members in groups.items()
        if any(_class_of(c) in {_class_of(r) for r in scored_before} for c in members)
    }
    assert 0 < len(known) < len(groups)
    second = _sweep(out, later, proxies=("params",), unique=True)
    assert second.config_hash == first.config_hash
    assert second.scored == len(groups) - len(known)  # only classes new to the store are scored
    assert second.filled_from_store == sum(len(groups[rep]) for rep in known)
    rows = _rows(out).set_index("cell")
    assert set(rows.index) == set(range(600))
    for rep in known:
        for m in groups[rep]:
            donor = int(rows.loc[m, "filled_from"])
            assert donor < 300 and _class_of(donor) == _class_of(m)
            assert rows.loc[m, "value"] == rows.loc[donor, "value"]
            assert pd.isna(rows.loc[donor, "filled_from"])  # filled from a computed row, not a copy
    assert _sweep(out, later, proxies=("params",), unique=True).to_score == 0


def _class_of(cell: int) -> str:
    from harness.spaces.nb201 import unique_keys

    return unique_keys()[cell]


def test_failing_proxy_is_recorded_and_the_sweep_goes_on(tmp_path):
    from proxies.registry import PROXIES, register_proxy

    if "test_fails_on_avg_pool" not in PROXIES:

        @register_proxy("test_fails_on_avg_pool", higher_is_better=True, inputs="shape")
        def _fails(model, inputs, labels=None):
            """Raises for cells with a 3x3 average pooling edge (test only)."""
            if any(getattr(m, "kernel_size", None) == 3 for m in model.modules()):
                raise RuntimeError("boom")
            return 1.0

    out = tmp_path / "f.sqlite"
    summary = _sweep(out, range(10), proxies=("test_fails_on_avg_pool", "params"))
    rows = _rows(out)
    failed = rows[rows["status"] == "error"]
    assert summary.scored == 10 and 0 < summary.failed_cells == failed["cell"].nunique() < 10
    assert (rows[rows["proxy"] == "params"]["status"] == "ok").all()
    messages = read_results(out).query("status == 'error'")["message"]
    assert messages.str.contains("RuntimeError: boom").all()


@pytest.mark.slow
def test_ray_backend_matches_local(tmp_path):
    pytest.importorskip("ray")
    local, remote = tmp_path / "local.sqlite", tmp_path / "ray.sqlite"
    _sweep(local, range(20))
    _sweep(remote, range(20), backend="ray", workers=2)
    pd.testing.assert_frame_equal(_rows(local), _rows(remote))


def test_local_worker_processes_match_inline(tmp_path):
    inline, pooled = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _sweep(inline, range(6))
    _sweep(pooled, range(6), workers=2)
    pd.testing.assert_frame_equal(_rows(inline), _rows(pooled))


def test_export_tidy_table(tmp_path):
    out = tmp_path / "e.sqlite"
    _sweep(out, range(4))
    csv = tmp_path / "x.csv.gz"
    result = CliRunner().invoke(cli, ["export", "--results", str(out), "--out", str(csv)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(csv)
    for column in (
        "space",
        "index",
        "arch_str",
        "proxy",
        "profile",
        "value",
        "status",
        "seconds",
        "repeats",
        "config_hash",
        "higher_is_better",
    ):
        assert column in frame.columns
    assert len(frame) == 8 and set(frame["status"]) == {"ok"}
    assert (tmp_path / "x.configs.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--proxies", "nope"], "unknown proxy 'nope'"),
        (["--proxies", "params", "--profile", "fast"], "unknown profile 'fast'"),
        (["--proxies", "params", "--space", "nb101"], "supports --space nb201"),
        (["--proxies", "params", "--space", "darts"], "'darts' has none"),
        (["--proxies", "params", "--shard", "2"], "invalid --shard '2'"),
        (["--proxies", "params", "--indices", "5-2"], "invalid --indices range '5-2'"),
        (
            ["--proxies", "params", "--arch", "|nor_conv_3x3~0|+|none~0|"],
            "invalid NB201 arch string",
        ),
        (["--proxies", "params", "--device", "tpu"], "invalid --device 'tpu'"),
        (["--proxies", "params", "--data-dir", "/nonexistent/dir"], "/nonexistent/dir"),
        (
            ["--proxies", "params", "--out", "/proc/none/x.sqlite"],
            "cannot use '/proc/none/x.sqlite'",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, tmp_path):
    full = ["run-proxies", *args]
    if "--out" not in args:
        full += ["--out", str(tmp_path / "x.sqlite")]
    result = CliRunner().invoke(cli, full)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_more_repeats_extend_the_same_configuration(tmp_path):
    out = tmp_path / "rep.sqlite"
    spec = SweepSpec(("linear_regions",), get_profile("tenas", repeats=1), "cifar10")
    first = run_sweep(spec, SweepOptions([1, 2], quiet=True), str(out))
    spec3 = SweepSpec(
        ("linear_regions",), get_profile("tenas", repeats=3, ntk_engine="oracle"), "cifar10"
    )
    second = run_sweep(spec3, SweepOptions([1, 2], quiet=True), str(out))
    assert first.config_hash == second.config_hash and second.scored == 2
    rows = _rows(out)
    assert sorted(rows["repeat"].unique()) == [0, 1, 2] and len(rows) == 6
    other = SweepSpec(("linear_regions",), get_profile("tenas", repeats=1, batch_size=8), "cifar10")
    assert (
        run_sweep(other, SweepOptions([1], quiet=True), str(out)).config_hash != first.config_hash
    )


def test_export_per_repeat_then_import_continues_the_sweep(tmp_path):
    first = tmp_path / "first.sqlite"
    _sweep(first, range(5))
    table = tmp_path / "part.csv.gz"
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["export", "--results", str(first), "--per-repeat", "--out", str(table)]
        ).exit_code
        == 0
    )
    resumed = tmp_path / "resumed.sqlite"
    result = runner.invoke(cli, ["import", "--results", str(table), "--out", str(resumed)])
    assert result.exit_code == 0, result.output
    summary = _sweep(resumed, range(8))
    assert (summary.skipped, summary.scored) == (5, 3)
    clean = tmp_path / "clean.sqlite"
    _sweep(clean, range(8))
    pd.testing.assert_frame_equal(_rows(resumed), _rows(clean))
    aggregated = tmp_path / "agg.csv"
    runner.invoke(cli, ["export", "--results", str(first), "--out", str(aggregated)])
    bad = runner.invoke(
        cli, ["import", "--results", str(aggregated), "--out", str(tmp_path / "x.sqlite")]
    )
    assert bad.exit_code == 2 and "needs `harness export --per-repeat`" in bad.output


def test_proxies_sharing_a_pass_score_as_they_would_alone(monkeypatch):
    from harness.data import load_images
    from sweep.scoring import CellScorer
    from harness.spaces.nb201 import Nb201Arch
    from proxies import get_proxy, list_proxies
    from proxies.zero_cost import SHARED_PASSES

    images = load_images("cifar10", "train", source="npz", limit=64)
    profile = get_profile("tenas", batch_size=16, repeats=2)
    arch = Nb201Arch.from_index(6111)
    calls = []
    for kind, build in list(SHARED_PASSES.items()):
        monkeypatch.setitem(
            SHARED_PASSES, kind, lambda *a, kind=kind, build=build: calls.append(kind) or build(*a)
        )
    names = [
        n for n in list_proxies() if get_proxy(n).shared_pass is not None
    ]  # every sharing proxy
    assert {get_proxy(n).shared_pass for n in names} == set(SHARED_PASSES)
    together = CellScorer(profile, names, images).score(
        arch, [(n, r) for n in names for r in (0, 1)]
    )
    assert sorted(calls) == sorted(
        list(SHARED_PASSES) * 2
    )  # each pass once per repeat, not per proxy
    calls.clear()
    for row in together:
        alone = CellScorer(profile, [row.proxy], images).score(arch, [(row.proxy, row.repeat)])[0]
        assert (row.status, row.value) == ("ok", alone.value)
    assert len(calls) == 2 * len(names)  # alone, each proxy pays for its own pass
    # The gradient proxies differ between proxies and repeats (AZ-NAS draws its own seeded inputs
    # and weights, so its repeats agree by design: docs/az_nas.md).
    zero_cost = [r.value for r in together if not r.proxy.startswith("az_")]
    assert len(set(zero_cost)) == len(zero_cost) == 16


def test_a_single_worker_sweep_loads_the_images_once(tmp_path, monkeypatch):
    import sweep.runner as runner

    calls = []
    real = runner.load_images
    monkeypatch.setattr(runner, "load_images", lambda *a, **k: calls.append(a) or real(*a, **k))
    _sweep(tmp_path / "s.sqlite", [0, 1], proxies=("params",))
    assert len(calls) == 1


def test_a_space_without_a_cell_list_is_one_clear_error(tmp_path):
    from harness.errors import InputError

    spec = SweepSpec(("params",), get_profile("bench"), space="darts")
    with pytest.raises(InputError, match="run-proxies supports --space nb201 .*'darts' has none"):
        run_sweep(spec, SweepOptions([0], quiet=True), str(tmp_path / "x.sqlite"))
    assert not (tmp_path / "x.sqlite").exists()


def test_any_registered_enumerable_space_is_swept_from_its_spec(tmp_path, monkeypatch):
    """The sweep takes cells, isomorphism classes, networks and presets from the registry: a new
    space (here NB201's first 40 cells under another name) needs no change to the sweep."""
    import dataclasses

    from harness.spaces.registry import SPACES, get_space

    small = dataclasses.replace(get_space("nb201"), name="nb201_first40", num_cells=40)
    monkeypatch.setitem(SPACES._items, small.name, small)
    spec = SweepSpec(("params",), get_profile("bench"), space=small.name)
    out = tmp_path / "s.sqlite"
    summary = run_sweep(spec, SweepOptions(list(range(40)), unique=True, quiet=True), str(out))
    assert summary.scored == len(representatives(range(40))) < 40
    with sqlite3.connect(out) as conn:
        rows = conn.execute("SELECT DISTINCT space, cell, arch_str FROM results").fetchall()
        (config,) = conn.execute("SELECT config FROM configs").fetchone()
    assert {space for space, _, _ in rows} == {"nb201_first40"} and len(rows) == 40
    assert json.loads(config)["space"] == "nb201_first40"
    assert json.loads(config)["networks"]["bench"]["C"] == 16
    nb201_only = SweepSpec(("params",), get_profile("bench"), space="nb201")
    run_sweep(nb201_only, SweepOptions(list(range(40)), quiet=True), str(tmp_path / "n.sqlite"))

    def values(path):
        return read_results(path).set_index("index").sort_index()[["arch_str", "value"]]

    mine, nb201 = values(out), values(tmp_path / "n.sqlite")
    scored = sorted(representatives(range(40)))  # the others hold their representative's value
    assert mine["arch_str"].equals(nb201["arch_str"])
    assert mine.loc[scored].equals(nb201.loc[scored])
