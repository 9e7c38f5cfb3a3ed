"""Project-level invariants: import directions, README/CI agreement, generated docs up to date."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import REPO, load_script

IMPORT_RULES = [
    # (module imported, prefixes that must stay out of sys.modules)
    (
        "proxies",
        ("harness.bench", "harness.data", "harness.spaces", "harness.store", "search", "reports"),
    ),
    ("harness.store", ("torch", "proxies", "search")),
    ("harness.bench", ("torch", "proxies", "search")),
    ("harness.spaces.nb201", ("torch",)),
    ("harness.registry", ("torch", "numpy", "pandas")),
    ("search.tenas", ("reports",)),
]


@pytest.mark.parametrize("module, forbidden", IMPORT_RULES)
def test_imports_point_one_way(module, forbidden):
    code = (
        f"import sys, {module}\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({forbidden!r}))\n"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, (
        f"import {module} pulled in {result.stdout.strip()} {result.stderr[-300:]}"
    )


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci_line = [
        line
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.startswith("python3 -m venv")
    ]
    assert len(ci_line) == 1 and ci_line[0] in readme and "pytest" in ci_line[0]


def test_generated_proxy_docs_are_up_to_date():
    result = CliRunner().invoke(cli, ["proxies", "--format", "markdown"])
    assert result.exit_code == 0
    assert (REPO / "docs" / "proxies.md").read_text() == result.output, (
        "docs/proxies.md is stale: run `harness proxies --format markdown > docs/proxies.md`"
    )


def test_every_subcommand_has_help():
    runner = CliRunner()
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, name


def test_unknown_proxy_suggests_a_name():
    result = CliRunner().invoke(cli, ["proxies", "ntk_cnd"])
    assert result.exit_code == 2
    assert "unknown proxy 'ntk_cnd'. Did you mean 'ntk_cond'?" in result.output


def test_readme_proxy_table_is_the_committed_leaderboard():
    table = load_script("scripts/readme_proxy_table.py").table
    expected = table(str(REPO / "results" / "nb201" / "leaderboard.csv"))
    assert expected in (REPO / "README.md").read_text(), (
        "README's proxy table is stale: python scripts/readme_proxy_table.py results/nb201/leaderboard.csv"
    )


@pytest.mark.slow
def test_committed_leaderboard_regenerates_byte_for_byte(tmp_path, monkeypatch):
    """`harness report` on the committed CSV, with the --indices its footer records, rewrites
    results/nb201/leaderboard.csv, .md and repeats.csv exactly (the issue's reproducibility promise)."""
    committed = REPO / "results" / "nb201"
    footer = re.search(
        r"^Cells: only --indices (\S+),", (committed / "leaderboard.md").read_text(), re.M
    )
    args = [
        "report",
        "--results",
        "results/nb201/results.csv.gz",
        "--results",
        "results/nb201/az_nas.csv.gz",
        "--ensemble",
        "all",
        "--ensemble",
        "selected",
        "--out",
        str(tmp_path),
    ]
    if footer:
        args += ["--indices", footer.group(1)]
    monkeypatch.chdir(REPO)  # the footer names the results path as given
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)  # the embedded table, as a user's default
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for name in ("leaderboard.csv", "leaderboard.md", "repeats.csv"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


@pytest.mark.slow
def test_committed_exports_import_into_one_store_and_read_back_equal(tmp_path):
    """Both committed per-repeat exports pass `harness import`'s checks (every `inf` row carries
    its sign), merge without conflicts, and `harness export` gives back the same rows."""
    import math

    import pandas as pd

    from harness.exports import read_export

    exports = [REPO / "results" / "nb201" / name for name in ("results.csv.gz", "az_nas.csv.gz")]
    store, back = tmp_path / "all.sqlite", tmp_path / "back.csv.gz"
    runner = CliRunner()
    imported = runner.invoke(cli, ["import", *map(str, exports), "--out", str(store), "--json"])
    assert imported.exit_code == 0, imported.output
    exported = runner.invoke(
        cli, ["export", "--results", str(store), "--per-repeat", "--out", str(back)]
    )
    assert exported.exit_code == 0, exported.output

    key = ["index", "proxy", "config_hash", "repeat"]
    committed = pd.concat([read_export(path)[0] for path in exports], ignore_index=True)
    round_trip = read_export(back)[0]
    merged = committed.merge(round_trip, on=key, suffixes=("", "_back"), validate="one_to_one")
    assert len(merged) == len(committed) == len(round_trip)
    assert (merged["status"] == merged["status_back"]).all()
    infinite = merged[merged["status"] == "inf"]
    assert len(infinite) > 0 and infinite["value"].map(math.isinf).all()
    same = (merged["value"] == merged["value_back"]) | (
        merged["value"].isna() & merged["value_back"].isna()
    )
    assert same.all()
