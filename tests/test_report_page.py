"""The report page a researcher opens first: headline order, sortable tables, no machine paths in
the page or in any committed artifact, and (with Chromium) what the first screen really shows."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.figures import figure_tau_heatmap, figure_tenas_panels, save_figure
from reports.html import FigureEntry, headline_table, render_html, short_metric
from reports.leaderboard import LEADERBOARD_COLUMNS, build_leaderboard
from reports.search_runs import load_search_runs

REPO = Path(__file__).resolve().parents[1]
KEYS = ["cifar10-valid/x-valid@200", "cifar10/ori-test@200", "cifar100/x-test@200"]
#: An absolute path on some machine: a root folder of home, scratch or temporary files. The
#: look-behind keeps URLs (``https://host/home/``), relative paths and base64 (``+/tmp/``) out.
MACHINE_PATH = re.compile(
    rb"(?<![\w.~/+=-])/(?:work|home|tmp|root|Users|mnt|scratch|data|private/var|var/folders)/"
    rb"|\b[A-Za-z]:\\\\?(?:Users|Documents and Settings)\\"
)
#: What every match of `MACHINE_PATH` holds: a fast substring test first (the exports are large).
_ROOTS = (
    b"/work/",
    b"/home/",
    b"/tmp/",
    b"/root/",
    b"/Users/",
    b"/mnt/",
    b"/scratch/",
    b"/data/",
    b"/private/var/",
    b"/var/folders/",
    b":\\",
)
#: Committed artifacts: generated results, documentation, examples.
ARTIFACTS = ("results/", "docs/", "examples/", "README.md")


def _corr(labels: list[str], taus: np.ndarray) -> pd.DataFrame:
    """A correlation table with every leaderboard column, tau_dc from `taus` (labels x keys)."""
    rows = []
    for i, label in enumerate(labels):
        for j, key in enumerate(KEYS):
            row = dict.fromkeys(set(LEADERBOARD_COLUMNS) - {"rank", "kind"}, 0.5)
            row |= {
                "metric": key,
                "label": label,
                "proxy": label.split("/")[0],
                "profile": "bench",
                "dataset": "cifar10",
                "direction": "higher",
                "kendall_tau_dc": taus[i, j],
                "kendall_tau": taus[i, j],
                "kendall_tau_lo": taus[i, j] - 0.01,
                "kendall_tau_hi": taus[i, j] + 0.01,
                "seconds_per_cell": 0.01 * (i + 1),
                "n": 100,
                "n_excluded": 0,
                "coverage": 1.0,
                "note": "",
                "config_hash": "c0",
                "unique": False,
                "undefined": "worst",
            }
            rows.append(row)
    return pd.DataFrame(rows)


def _page(tmp_path: Path, n_labels: int = 28, **overrides) -> tuple[str, pd.DataFrame]:
    """A page as `harness report` writes it, on `n_labels` synthetic proxies with real figures."""
    rng = np.random.default_rng(0)
    labels = [f"proxy_{i:02d}/bench" for i in range(n_labels)]
    taus = np.clip(
        rng.uniform(-0.2, 0.8, (n_labels, 1)) + rng.normal(0, 0.03, (n_labels, 3)), -1, 1
    )
    taus[3, :] = np.nan  # a constant proxy: unranked, listed last
    corr = _corr(labels, taus)
    board = build_leaderboard(corr, KEYS)
    board["kind"] = "proxy"
    board.loc[board["label"] == labels[5], "kind"] = "a-priori ensemble"
    figs = tmp_path / "figures"
    cells = pd.DataFrame({"value": rng.lognormal(5, 1, 200), "accuracy": rng.uniform(10, 70, 200)})
    heat = save_figure(figure_tau_heatmap(corr, KEYS), figs, "tau_heatmap")["png"]
    panels = figure_tenas_panels(cells, cells, KEYS[2], "tenas", (-0.5, 0.5))
    panel = save_figure(panels, figs, "tenas_panels")["png"]
    kwargs = dict(
        title="Training-free proxy report (NAS-Bench-201)",
        generated="2025-01-01 00:00 UTC",
        intro=["How to read it."],
        coverage=pd.DataFrame({"label": labels, "cells": range(n_labels)}),
        leaderboard=board,
        figures=[
            FigureEntry("tau heat map", heat, key=True),
            FigureEntry("kappa/R panels", panel, key=True),
            FigureEntry("another figure", panel),
        ],
        configs={"c0": {"profile": {"name": "bench"}}},
        config_labels={"c0": labels},
        bench_info={"kind": "table", "path": "embedded:nb201/nb201_accuracy.csv.gz"},
        sources=["results/nb201/results.csv.gz", "/elsewhere/on/a/machine/extra.csv"],
        search_sources=["/elsewhere/on/a/machine/seed0/result.json"],
    )
    return render_html(**(kwargs | overrides)), board


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[str, pd.DataFrame, Path]:
    """The synthetic page (built once: saving the figures takes a second), its board, its folder."""
    folder = tmp_path_factory.mktemp("report_page")
    page, board = _page(folder)
    return page, board, folder


def _headline_rows(page: str) -> list[list[str]]:
    block = page[page.index('id="leaderboard"') : page.index('id="key-figures"')]
    body = block[block.index("<tbody>") : block.index("</tbody>")]
    return [re.findall(r"<td[^>]*>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body)]


def test_headline_comes_first_then_the_details(built):
    page = built[0]
    anchors = [
        'id="leaderboard"',
        'id="key-figures"',
        'alt="tau heat map"',
        'alt="kappa/R panels"',
        'id="about"',
        'id="per-key"',
        'id="figures"',
        'alt="another figure"',
        'id="coverage"',
        'id="inputs"',
        'id="configurations"',
    ]
    where = [page.index(a) for a in anchors]
    assert where == sorted(where), [a for a, w in zip(anchors, where)]
    nav = page[page.index("<nav>") : page.index("</nav>")]
    assert all(f'href="#{a}"' in nav for a in ("leaderboard", "per-key", "coverage", "inputs"))
    assert 'href="#repeats"' not in nav  # no repeats table, no link to it


def test_headline_table_is_the_leaderboard_best_first(built):
    page, board, _ = built
    rows = _headline_rows(page)
    first = board[board["metric"] == KEYS[0]]
    assert [r[1] for r in rows] == list(first["label"])  # every label, best first on key 0
    taus = [float(r[3]) for r in rows if r[3] != "–"]
    assert taus == sorted(taus, reverse=True) and len(taus) == len(rows) - 1
    assert rows[-1][0] == "–" and rows[-1][3] == "–"  # the undefined one: unranked, last
    assert [r[0] for r in rows[:-1]] == [str(i) for i in range(1, len(rows))]
    ensemble = next(r for r in rows if r[1] == "proxy_05/bench")
    assert ensemble[2] == "a-priori" and next(r for r in rows if r[1] == "proxy_00/bench")[2] == ""
    # one bold (best) cell per key, holding that key's largest tau
    block = page[page.index('id="leaderboard"') : page.index('id="key-figures"')]
    best = re.findall(r"<td class=best>([^<]*)</td>", block)
    tops = [board.loc[board["metric"] == k, "kendall_tau_dc"].max() for k in KEYS]
    assert sorted(best) == sorted(f"{t:.3f}" for t in tops)
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", block)
    assert heads[3:6] == ["τ\u00a0C10 valid", "τ\u00a0C10 test", "τ\u00a0C100 test"]


def test_tables_are_sortable_and_readable_without_script(built):
    page = built[0]
    tables = re.findall(r"<table\b[^>]*>", page)
    assert tables and all('class="sortable"' in t for t in tables)
    # the page's one script is inline and last; every table is complete HTML before it
    assert page.count("<script") == 1 and page.index("<script>") > page.rindex("</table>")
    assert 'aria-sort="descending"' in page.split('id="key-figures"')[0]  # the order shown
    assert "<th data-desc" in page or " data-desc" in page


def test_short_metric_names():
    assert [short_metric(k) for k in KEYS] == ["C10 valid", "C10 test", "C100 test"]
    assert short_metric("ImageNet16-120/x-valid@12") == "IN16 valid @12"
    assert short_metric("mybench/acc") == "mybench acc"


def test_headline_shows_full_keys_when_short_names_collide():
    board = build_leaderboard(_corr(["a/x"], np.array([[0.1, 0.2, 0.3]])), KEYS)
    board = pd.concat([board, board.assign(metric="cifar10/x-valid@200")])
    board = board[board["metric"].isin([KEYS[0], "cifar10/x-valid@200"])]
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", headline_table(board))
    # both would read "C10 valid": the keys are shown whole
    assert heads[-4:-2] == ["τ\u00a0cifar10-valid/x-valid@200", "τ\u00a0cifar10/x-valid@200"]


def test_page_shows_no_absolute_input_path(built):
    page = built[0]
    assert "/elsewhere/" not in page
    assert "<code>extra.csv</code>" in page and "<code>result.json</code>" in page
    assert "<code>results/nb201/results.csv.gz</code>" in page


def test_machine_path_pattern():
    for bad in ("/work/main/x.csv", " /home/me/a", "(/tmp/az.sqlite)", "`/root/.cache`"):
        assert MACHINE_PATH.search(bad.encode()) and any(r in bad.encode() for r in _ROOTS), bad
    for fine in (
        "results/nb201/x.csv",
        "https://example.org/home/page",
        "~/.cache/harness",
        "embedded:nb201/nb201_accuracy.csv.gz",
        "iVBORw0K+/tmp/Ab",  # base64
        "../shared/data",
    ):
        assert not MACHINE_PATH.search(fine.encode()), fine


def _tracked(prefixes: tuple[str, ...]) -> list[str]:
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: no list of committed files")
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", *prefixes],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    return [p for p in out.decode().split("\0") if p]


def test_committed_artifacts_hold_no_machine_path():
    """Results, docs, README and examples name files relative to the repository or by the data
    source's name (``embedded:``, ``$HARNESS_DATA_DIR:``), never as /work/..., /home/..., /tmp/...."""
    files = _tracked(ARTIFACTS)
    assert any(f.startswith("results/") for f in files)
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        data = path.read_bytes()
        if name.endswith(".gz"):
            data = gzip.decompress(data)
        if not any(root in data for root in _ROOTS):
            continue
        for m in MACHINE_PATH.finditer(data):
            line = data.count(b"\n", 0, m.start()) + 1
            found.append(f"{name}:{line}: {data[m.start() : m.start() + 60]!r}")
    assert not found, "absolute machine paths in committed files:\n" + "\n".join(found[:20])


CHROMIUM = shutil.which("chromium") or (Path("/usr/bin/chromium").exists() and "/usr/bin/chromium")
CHECK = REPO / "scripts" / "check_html_chromium.py"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM,
    reason="Chromium is not installed (apt-get install -y chromium); "
    "scripts/check_html_chromium.py needs it to load the page",
)


def _check(page: Path, *args) -> tuple[int, dict]:
    run = subprocess.run(
        [sys.executable, str(CHECK), str(page), "--json", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run.returncode, json.loads(run.stdout)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@needs_chromium
def test_first_screen_shows_the_leaderboard_and_key_figures(built, tmp_path):
    page = built[0]
    (tmp_path / "index.html").write_text(page)
    shot = tmp_path / "first_screen.png"
    rc, found = _check(tmp_path / "index.html", "--screenshot", str(shot))
    assert rc == 0 and found["ok"], found["problems"]
    assert _png_size(shot) == (1400, 900)
    table, figures = found["first_screen"]
    assert len(table["boxes"]) == 1 and len(figures["boxes"]) == 2
    assert all(b["inside"] for b in table["boxes"] + figures["boxes"])
    # every table sorts; a click reorders each
    n_tables = page.count("<table ")
    assert found["sorting"]["tables"] == n_tables >= 4
    assert found["sorting"]["reordered"] == n_tables

    # The same page with the headline pushed below the fold and without its script fails.
    broken = page.replace(
        '<div class="headline">', '<div style="height:1200px"></div><div class="headline">'
    )
    broken = re.sub(r"<script>.*?</script>", "", broken, flags=re.DOTALL)
    (tmp_path / "broken.html").write_text(broken)
    rc, found = _check(tmp_path / "broken.html")
    assert rc == 1 and not found["ok"]
    outside = [p for p in found["problems"] if p.startswith("first screen:")]
    assert len(outside) == 3  # the table and both key figures
    assert any("no aria-sort after a click" in p for p in found["problems"])


def test_search_run_sources_are_not_absolute_paths(tmp_path):
    rounds = [{"round": r, "kappa": 10.0 / (r + 1), "regions": 5.0 + r} for r in range(2)]
    (tmp_path / "tenas" / "seed0").mkdir(parents=True)
    (tmp_path / "tenas" / "seed0" / "result.json").write_text(json.dumps({"rounds": rounds}))
    (tmp_path / "random" / "seed0").mkdir(parents=True)
    (tmp_path / "random" / "seed0" / "result.json").write_text(json.dumps({"arch_str": "x"}))
    runs = load_search_runs([tmp_path])
    assert set(runs["source"]) == {"tenas/seed0/result.json"}
    assert runs.attrs["skipped"] == [
        "random/seed0/result.json: has no 'rounds' list; expected rounds with round, kappa, regions"
    ]
