"""What a new user gets: the wheel carries the embedded data, the README's main job runs with no
data folder configured, and where the images come from does not change a run's identity."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli
from harness.paths import EMBEDDED_DIR
from tests.conftest import REPO, SHARED_DATA

EMBEDDED = [
    "harness/sample_data/images/cifar10_train_4000.npz",
    "harness/sample_data/nb201/nb201_accuracy.csv.gz",
    "harness/sample_data/SHA256SUMS",
    "harness/sample_data/README.md",
    "harness/selected_ensemble.json",  # so that `selected` is nameable in any install
]


def test_the_wheel_carries_the_embedded_data(tmp_path):
    """Build the wheel from the tracked files (as a clone has them) and look inside."""
    tracked = subprocess.run(
        [
            "git",
            "ls-files",
            "pyproject.toml",
            "README.md",
            "harness",
            "proxies",
            "search",
            "reports/*.py",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    src = tmp_path / "src"
    for name in tracked:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("tenas_harness-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert set(EMBEDDED) <= names
        npz = z.read("harness/sample_data/images/cifar10_train_4000.npz")
    assert npz == (EMBEDDED_DIR / "images" / "cifar10_train_4000.npz").read_bytes()
    assert not [n for n in names if n.startswith(("results/nb201/", "results/search/"))]


def _fresh_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DATA_DIR"}
    env["HARNESS_CACHE"] = str(tmp_path / "empty-cache")
    return env


def test_main_job_runs_on_a_fresh_machine_and_reproduces_the_published_values(
    tmp_path, monkeypatch
):
    """The README's main job on one cell, in an empty folder, no data folder configured: the
    embedded images serve, and the values are the committed ones (R exactly; kappa of the cells that
    are their class's representative in the published sweep, to the engines' agreement)."""
    harness = [sys.executable, "-m", "cli"]
    run = subprocess.run(
        [
            *harness,
            "run-proxies",
            "--space",
            "nb201",
            "--proxies",
            "tenas,naswot,params",
            "--profile",
            "tenas",
            "--sample",
            "1",
            "--out",
            "x.sqlite",
            "--quiet",
        ],
        cwd=tmp_path,
        env=_fresh_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    # correlate in this process (a second interpreter would add its start-up, not a check), with
    # the same environment: no data folder, an empty cache
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    monkeypatch.setenv("HARNESS_CACHE", _fresh_env(tmp_path)["HARNESS_CACHE"])
    monkeypatch.chdir(tmp_path)
    corr = CliRunner().invoke(
        cli, ["correlate", "--results", "x.sqlite", "--dataset", "all", "--bootstrap", "0"]
    )
    assert corr.exit_code == 0, corr.output
    assert corr.stdout.startswith("benchmark: table embedded:nb201/nb201_accuracy.csv.gz\n")
    with sqlite3.connect(tmp_path / "x.sqlite") as conn:
        (config,) = conn.execute("SELECT config FROM configs").fetchone()
        mine = pd.read_sql("SELECT cell AS 'index', proxy, repeat, value FROM results", conn)
    assert json.loads(config)["data"]["origin"] == "embedded"
    published = pd.read_csv(
        REPO / "results" / "nb201" / "results.csv.gz",
        usecols=["index", "proxy", "profile", "repeat", "value", "filled_from"],
    )
    published = published[published["profile"] == "tenas"]
    both = mine.merge(published, on=["index", "proxy", "repeat"], suffixes=("", "_pub"))
    regions = both[both["proxy"] == "linear_regions"]
    assert len(regions) == 3 and (regions["value"] == regions["value_pub"]).all()
    kappa = both[(both["proxy"] == "ntk_cond") & both["filled_from"].isna()].dropna(
        subset=["value"]
    )
    assert (abs(kappa["value"] / kappa["value_pub"] - 1) < 1e-4).all()


def _store_hash(store) -> set[str]:
    with sqlite3.connect(store) as conn:
        return {h for (h,) in conn.execute("SELECT config_hash FROM configs")}


@pytest.mark.parametrize("where", ["copy", pytest.param("shared", marks=pytest.mark.data)])
def test_the_config_hash_follows_the_images_not_their_folder(tmp_path, monkeypatch, where):
    """The same images from the package, from a copy elsewhere or from the shared folder: one
    configuration, so a store resumes across them."""
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    store = tmp_path / "s.sqlite"
    args = [
        "run-proxies",
        "--proxies",
        "params",
        "--profile",
        "bench",
        "--indices",
        "0",
        "--out",
        str(store),
        "--quiet",
    ]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    if where == "copy":
        root = tmp_path / "elsewhere"
        (root / "images").mkdir(parents=True)
        shutil.copy2(EMBEDDED_DIR / "images" / "cifar10_train_4000.npz", root / "images")
    else:
        root = SHARED_DATA
    second = CliRunner().invoke(cli, [*args, "--data-dir", str(root)])
    assert second.exit_code == 0, second.output
    assert "1 already done" in second.output
    assert len(_store_hash(store)) == 1


@pytest.mark.data
def test_the_embedded_data_match_the_shared_originals():
    assert (EMBEDDED_DIR / "images" / "cifar10_train_4000.npz").read_bytes() == (
        SHARED_DATA / "images" / "cifar10_train_4000.npz"
    ).read_bytes()
    embedded = pd.read_csv(
        EMBEDDED_DIR / "nb201" / "nb201_accuracy.csv.gz", dtype=str, keep_default_na=False
    )
    shared = pd.read_csv(
        SHARED_DATA / "nb201" / "nb201_accuracy.csv", dtype=str, keep_default_na=False
    )
    assert embedded.equals(shared[embedded.columns])  # the same strings, column for column
