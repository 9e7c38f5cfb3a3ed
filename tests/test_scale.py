"""Running at scale: job-array shards merge to what one process computes, and a Ray worker killed
mid-sweep loses nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from proxies import plugins
from proxies.registry import PROXIES
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    monkeypatch.setattr(PROXIES, "_items", dict(PROXIES._items))
    monkeypatch.setattr(plugins, "_LOADED", {})


def _values(store) -> dict:
    with sqlite3.connect(store) as conn:
        return {
            (c, p, r): (v, s)
            for c, p, r, v, s in conn.execute(
                "SELECT cell, proxy, repeat, value, status FROM results"
            )
        }


@pytest.mark.slow
def test_a_killed_ray_worker_is_restarted_and_its_cell_retried(tmp_path):
    """A proxy that SIGKILLs its own worker process the first time it runs (a node lost mid-sweep):
    Ray restarts the worker, the cell is scored again, and the store equals a local run's."""
    pytest.importorskip("ray")
    marker = tmp_path / "killed"
    plugin = tmp_path / "killer.py"
    plugin.write_text(
        textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from proxies import register_proxy

        @register_proxy("params_or_die", higher_is_better=True, inputs="shape")
        def params_or_die(model, inputs, labels=None):
            '''Parameter count, after killing this process once.'''
            marker = Path({str(marker)!r})
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return float(sum(p.numel() for p in model.parameters()))
    """)
    )
    cells = "0-7"
    common = [
        "run-proxies",
        "--plugin",
        str(plugin),
        "--proxies",
        "params_or_die,params",
        "--profile",
        "bench",
        "--indices",
        cells,
        "--quiet",
    ]
    ray_store, local_store = tmp_path / "ray.sqlite", tmp_path / "local.sqlite"
    result = CliRunner().invoke(
        cli, [*common, "--backend", "ray", "--workers", "2", "--out", str(ray_store)]
    )
    assert result.exit_code == 0, result.output
    assert marker.read_text().isdigit()  # a worker was killed
    local = CliRunner().invoke(cli, [*common, "--out", str(local_store)])
    assert local.exit_code == 0, local.output
    got, want = _values(ray_store), _values(local_store)
    assert got == want and len(got) == 16
    assert all(status == "ok" for _, status in got.values())


def _env(**extra) -> dict:
    bin_dir = str(Path(sys.executable).parent)  # the venv's `harness`
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **extra}


@pytest.mark.slow
def test_slurm_array_shards_merge_to_the_single_process_run(tmp_path):
    """The array script's body with the scheduler's variables set by hand, three tasks as separate
    processes on their own 'node-local' folders, then the merge script: the merged store holds
    every key of a one-process run of the same cells once, bit for bit."""
    settings = dict(
        PROXIES="params,linear_regions",
        PROFILE="bench",
        CELLS="0-23",
        OUT=str(tmp_path / "shards"),
        SLURM_ARRAY_TASK_COUNT="3",
        SLURM_ARRAY_JOB_ID="77",
        SLURM_CPUS_PER_TASK="1",
    )
    tasks = [
        subprocess.Popen(
            ["bash", str(REPO / "examples" / "slurm" / "sweep_array.sh")],
            cwd=tmp_path,
            env=_env(**settings, SLURM_ARRAY_TASK_ID=str(i), TMPDIR=str(tmp_path / f"node{i}")),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in (1, 2, 3)
    ]
    for task in tasks:
        out, _ = task.communicate(timeout=300)
        assert task.returncode == 0, out
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        f"shard_{i}.sqlite" for i in (1, 2, 3)
    ]
    merged = tmp_path / "all.sqlite"
    merge = subprocess.run(
        ["bash", str(REPO / "examples" / "slurm" / "merge.sh")],
        cwd=tmp_path,
        env=_env(OUT=settings["OUT"], MERGED=str(merged)),
        capture_output=True,
        text=True,
    )
    assert merge.returncode == 0, merge.stderr
    single = tmp_path / "single.sqlite"
    run = CliRunner().invoke(
        cli,
        [
            "run-proxies",
            "--proxies",
            settings["PROXIES"],
            "--profile",
            "bench",
            "--indices",
            settings["CELLS"],
            "--unique",
            "--out",
            str(single),
            "--quiet",
        ],
    )
    assert run.exit_code == 0, run.output
    got, want = _values(merged), _values(single)
    assert got == want and len(want) == 2 * 24 * 1
    with sqlite3.connect(merged) as conn:
        assert conn.execute("SELECT COUNT(*) FROM results").fetchone() == (48,)  # no key doubled


@pytest.mark.slow
def test_xargs_shards_on_one_machine_merge_to_the_single_process_run(tmp_path):
    merged = tmp_path / "all.sqlite"
    run = subprocess.run(
        ["bash", str(REPO / "examples" / "parallel" / "run_shards.sh")],
        cwd=tmp_path,
        env=_env(
            N="3",
            PROXIES="params",
            PROFILE="bench",
            CELLS="0-11",
            OUT=str(tmp_path / "shards"),
            MERGED=str(merged),
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    single = tmp_path / "single.sqlite"
    one = CliRunner().invoke(
        cli,
        [
            "run-proxies",
            "--proxies",
            "params",
            "--profile",
            "bench",
            "--indices",
            "0-11",
            "--unique",
            "--out",
            str(single),
            "--quiet",
        ],
    )
    assert one.exit_code == 0, one.output
    assert _values(merged) == _values(single) and len(_values(single)) == 12
