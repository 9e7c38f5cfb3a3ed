"""Running at scale: a Ray worker killed mid-sweep loses nothing."""

from __future__ import annotations

import sqlite3
import textwrap

import pytest
from click.testing import CliRunner

from harness.cli import cli
from proxies import plugins
from proxies.registry import PROXIES


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    monkeypatch.setattr(PROXIES, "_items", dict(PROXIES._items))
    monkeypatch.setattr(plugins, "_LOADED", {})


def _values(store) -> dict:
    with sqlite3.connect(store) as conn:
        return {(c, p, r): (v, s) for c, p, r, v, s in
                conn.execute("SELECT cell, proxy, repeat, value, status FROM results")}


@pytest.mark.slow
def test_a_killed_ray_worker_is_restarted_and_its_cell_retried(tmp_path):
    """A proxy that SIGKILLs its own worker process the first time it runs (a node lost mid-sweep):
    Ray restarts the worker, the cell is scored again, and the store equals a local run's."""
    pytest.importorskip("ray")
    marker = tmp_path / "killed"
    plugin = tmp_path / "killer.py"
    plugin.write_text(textwrap.dedent(f"""
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
    """))
    cells = "0-7"
    common = ["run-proxies", "--plugin", str(plugin), "--proxies", "params_or_die,params", "--profile",
              "bench", "--indices", cells, "--quiet"]
    ray_store, local_store = tmp_path / "ray.sqlite", tmp_path / "local.sqlite"
    result = CliRunner().invoke(cli, [*common, "--backend", "ray", "--workers", "2", "--out", str(ray_store)])
    assert result.exit_code == 0, result.output
    assert marker.read_text().isdigit()  # a worker was killed
    local = CliRunner().invoke(cli, [*common, "--out", str(local_store)])
    assert local.exit_code == 0, local.output
    got, want = _values(ray_store), _values(local_store)
    assert got == want and len(got) == 16
    assert all(status == "ok" for _, status in got.values())
