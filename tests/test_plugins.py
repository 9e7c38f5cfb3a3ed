"""A researcher's own proxy: plugin files, modules and entry points, end to end through the CLI."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli
from harness.errors import InputError
from harness.exports import configs_sidecar, write_export
from proxies import plugins
from proxies.registry import PROXIES
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "my_proxy.py"
SHIPPED = ("naswot", "ntk_cond", "linear_regions")


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    """Each test starts from the built-in proxies and forgets the plugins it loaded."""
    monkeypatch.setattr(PROXIES, "_items", dict(PROXIES._items))
    monkeypatch.setattr(plugins, "_LOADED", {})


def _write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_a_plugin_file_registers_its_proxy_once(tmp_path):
    (plugin,) = plugins.load_plugins([str(EXAMPLE)])
    assert plugin.name == "my_proxy.py" and plugin.proxies == ("logit_var",)
    assert len(plugin.sha256) == 64 and plugin.target == str(EXAMPLE.resolve())
    assert PROXIES.get("logit_var").higher_is_better
    assert plugins.load_plugins([str(EXAMPLE)]) == [plugin]  # a second load is a no-op


def test_a_plugin_module_on_the_path(tmp_path, monkeypatch):
    _write(
        tmp_path / "lab_proxies.py",
        """
        from proxies import register_proxy

        @register_proxy("lab_width", higher_is_better=True, inputs="shape")
        def width(model, inputs, labels=None):
            '''Number of parameters of the first layer.'''
            return float(next(model.parameters()).numel())
    """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (plugin,) = plugins.load_plugins(["lab_proxies"])
    assert (plugin.name, plugin.sha256, plugin.proxies) == ("lab_proxies", None, ("lab_width",))


def test_entry_point_plugins_are_loaded(tmp_path, monkeypatch):
    _write(
        tmp_path / "ep_proxies.py",
        """
        from proxies import register_proxy

        @register_proxy("ep_score", higher_is_better=False, inputs="shape")
        def score(model, inputs, labels=None):
            '''A proxy an installed package provides.'''
            return 1.0
    """,
    )
    info = tmp_path / "ep_proxies-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-proxies\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[harness.proxies]\nep = ep_proxies\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(cli, ["proxies", "ep_*"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[:2] == ["ep_score", "lower"]


@pytest.mark.parametrize(
    "body, message",
    [
        ("raise RuntimeError('boom')\n", "plugin 'bad.py' failed to import: RuntimeError: boom"),
        (
            "import no_such_package_xyz\n",
            "plugin 'bad.py' cannot be imported: No module named 'no_such_package_xyz'.",
        ),
        (
            "from proxies import register_proxy\n\n@register_proxy('naswot', higher_is_better=True)\n"
            "def f(model, inputs, labels=None):\n    return 0.0\n",
            "plugin 'bad.py': proxy 'naswot' is registered twice; a built-in proxy or another plugin has "
            "that name, rename yours.",
        ),
    ],
)
def test_a_broken_plugin_is_one_line_and_exit_2(tmp_path, monkeypatch, body, message):
    (tmp_path / "bad.py").write_text(body)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        InputError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"
    ):
        plugins.load_plugins(["bad.py"])
    result = CliRunner().invoke(cli, ["proxies", "--plugin", "bad.py"])
    assert (result.exit_code, result.output) == (2, f"Error: {message}\n")


def test_missing_plugin_file_or_module(tmp_path):
    result = CliRunner().invoke(cli, ["proxies", "--plugin", str(tmp_path / "nope.py")])
    assert result.exit_code == 2 and "no such file" in result.output
    result = CliRunner().invoke(cli, ["proxies", "--plugin", "no_such_module_xyz"])
    assert (
        result.output
        == "Error: plugin 'no_such_module_xyz' cannot be imported: No module named 'no_such_module_xyz'.\n"
    )


def _published_slice(path, cells):
    """The committed sweep's rows of naswot, ntk_cond and linear_regions on `cells`, exported with
    their configurations: the shipped proxies without drawing the figures of all twenty."""
    published = REPO / "results" / "nb201" / "results.csv.gz"
    rows = pd.read_csv(published, keep_default_na=False, na_values=[""])
    rows = rows[rows["index"].isin(cells) & rows["proxy"].isin(SHIPPED)]
    configs = json.loads(configs_sidecar(published).read_text())
    configs = {h: c for h, c in configs.items() if h in set(rows["config_hash"])}
    write_export(rows, path, configs)
    return path


def test_plugin_proxy_is_scored_in_workers_and_reported_beside_the_shipped_ones(tmp_path):
    """The README's three commands on four cells: run-proxies (2 worker processes, which import the
    plugin themselves), correlate, and report joined with the published results."""
    store = tmp_path / "mine.sqlite"
    run = CliRunner().invoke(
        cli,
        [
            "run-proxies",
            "--space",
            "nb201",
            "--plugin",
            str(EXAMPLE),
            "--proxies",
            "logit_var",
            "--profile",
            "bench",
            "--indices",
            "0-3",
            "--workers",
            "2",
            "--threads",
            "1",
            "--out",
            str(store),
            "--quiet",
        ],
    )
    assert run.exit_code == 0, run.output
    with sqlite3.connect(store) as conn:
        rows = conn.execute(
            "SELECT cell, status FROM results WHERE proxy = 'logit_var' ORDER BY cell"
        ).fetchall()
        (environment,) = conn.execute("SELECT environment FROM runs").fetchone()
    assert rows == [(0, "ok"), (1, "ok"), (2, "ok"), (3, "ok")]
    assert '"plugins": [{"name": "my_proxy.py"' in environment
    corr = CliRunner().invoke(
        cli, ["correlate", "--plugin", str(EXAMPLE), "--results", str(store), "--bootstrap", "0"]
    )
    assert corr.exit_code == 0, corr.output
    assert "logit_var/bench" in corr.stdout
    out = tmp_path / "report"
    report = CliRunner().invoke(
        cli,
        [
            "report",
            "--plugin",
            str(EXAMPLE),
            "--results",
            str(store),
            "--results",
            str(_published_slice(tmp_path / "published.csv", range(4))),
            "--indices",
            "0-3",
            "--bootstrap",
            "0",
            "--dataset",
            "cifar10",
            "--out",
            str(out),
        ],
    )
    assert report.exit_code == 0, report.output
    board = pd.read_csv(out / "leaderboard.csv")
    labels = set(board["label"])
    assert {"logit_var/bench", "naswot/bench", "ntk_cond/tenas", "tenas/tenas"} <= labels
    assert "logit_var" in (out / "index.html").read_text()
