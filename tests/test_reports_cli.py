"""`harness correlate` and `harness report` end to end, on an official-format table built here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from harness.bench import TABLE_COLUMNS
from cli import cli
from harness.exports import write_export
from tests.fakes import arch_strs, quality_table

REPO = Path(__file__).resolve().parents[1]
METRIC = "cifar10-valid/x-valid@200"
CELLS = 400


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A full NB201 accuracy table in the shared table's format and a 400-cell results export."""
    root = tmp_path_factory.mktemp("reports_cli")
    rng = np.random.default_rng(0)
    archs = arch_strs()
    quality = rng.normal(size=len(archs))
    noise = [2 + k % 3 for k in range(len(TABLE_COLUMNS))]
    quality_table(quality, rng, noise=noise).to_csv(root / "nb201_accuracy.csv", index=False)

    idx = np.sort(rng.choice(len(archs), CELLS, replace=False))
    q = quality[idx]
    proxies = {
        ("params", "bench", True, "p0"): q + rng.normal(0, 1, CELLS),
        ("ntk_cond", "tenas", False, "t0"): np.exp(-q + rng.normal(0, 1, CELLS)),
        ("linear_regions", "tenas", True, "t1"): np.round(3 * q + rng.normal(0, 2, CELLS)),  # ties
        ("constant", "bench", True, "p1"): np.ones(CELLS),
    }
    rows = []
    for (proxy, profile, hib, digest), values in proxies.items():
        status = np.full(CELLS, "ok", dtype=object)
        if proxy == "ntk_cond":
            status[:7] = "nan"
            status[7:9] = "error"
        rows.append(
            pd.DataFrame(
                {
                    "space": "nb201",
                    "index": idx,
                    "arch_str": [archs[i] for i in idx],
                    "proxy": proxy,
                    "profile": profile,
                    "dataset": "cifar10",
                    "value": np.where(status == "ok", values, np.nan),
                    "status": status,
                    "message": "",
                    "seconds": 0.01,
                    "repeats": 3,
                    "higher_is_better": hib,
                    "config_hash": digest,
                    "filled_from": "",
                }
            )
        )
    results = root / "sweep.csv"
    pd.concat(rows).to_csv(results, index=False)
    configs = {
        d: {"profile": {"name": p}, "proxy": n, "note": "see https://example.org"}
        for (n, p, _, d) in proxies
    }
    (root / "sweep.configs.json").write_text(json.dumps(configs))
    search = root / "search" / "seed0"
    search.mkdir(parents=True)
    rounds = [{"round": r, "kappa": 1000.0 / (r + 1), "regions": 300.0 - 40 * r} for r in range(4)]
    (search / "result.json").write_text(json.dumps({"rounds": rounds}))
    return {
        "root": root,
        "table": root / "nb201_accuracy.csv",
        "results": results,
        "search": root / "search",
    }


def invoke(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def _one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and fragment in lines[0], result.stderr


# ---- correlate -------------------------------------------------------------------------
def test_correlate_json_tau_equals_scipy_on_the_hand_joined_csv(inputs):
    result = invoke(
        "correlate",
        "--results",
        inputs["results"],
        "--bench",
        inputs["table"],
        "--dataset",
        "cifar10",
        "--bootstrap",
        "50",
        "--undefined",
        "exclude",
        "--json",
    )
    assert result.exit_code == 0, result.output
    records = {r["label"]: r for r in json.loads(result.stdout)}
    assert set(records) == {
        "params/bench",
        "ntk_cond/tenas",
        "linear_regions/tenas",
        "constant/bench",
        "tenas/tenas",
    }
    # The check a reader would do by hand: join the export with the table and call scipy.
    res = pd.read_csv(inputs["results"], keep_default_na=False, na_values=[""])
    table = pd.read_csv(inputs["table"])[["index", TABLE_COLUMNS[METRIC]]]
    for proxy in ("params", "ntk_cond", "linear_regions"):
        joined = res[(res["proxy"] == proxy) & (res["status"] == "ok")].merge(table, on="index")
        tau = stats.kendalltau(joined["value"], joined[TABLE_COLUMNS[METRIC]]).statistic
        rho = stats.spearmanr(joined["value"], joined[TABLE_COLUMNS[METRIC]]).statistic
        rec = next(r for r in records.values() if r["proxy"] == proxy)
        assert rec["metric"] == METRIC and rec["n"] == len(joined)
        assert rec["kendall_tau"] == pytest.approx(tau, abs=1e-12)
        assert rec["spearman_rho"] == pytest.approx(rho, abs=1e-12)
        assert rec["kendall_tau_lo"] <= rec["kendall_tau"] <= rec["kendall_tau_hi"]
    assert records["ntk_cond/tenas"]["n_excluded"] == 9 and records["ntk_cond/tenas"]["n_nan"] == 7
    assert (
        records["ntk_cond/tenas"]["kendall_tau"] < 0 < records["ntk_cond/tenas"]["kendall_tau_dc"]
    )
    assert records["constant/bench"]["kendall_tau"] is None  # NaN -> null
    assert records["tenas/tenas"]["n"] == CELLS - 9


def test_correlate_ranks_undefined_scores_worst_by_default(inputs):
    """TE-NAS maps a NaN kappa to 1e5: NaN goes to the worst end, +-inf to their own ends."""
    result = invoke(
        "correlate",
        "--results",
        inputs["results"],
        "--bench",
        inputs["table"],
        "--bootstrap",
        "0",
        "--json",
    )
    assert result.exit_code == 0, result.output
    rec = next(r for r in json.loads(result.stdout) if r["label"] == "ntk_cond/tenas")
    res = pd.read_csv(inputs["results"], keep_default_na=False, na_values=[""])
    rows = res[(res["proxy"] == "ntk_cond") & (res["status"] != "error")].copy()
    undefined = rows["status"].isin(["nan", "inf"])
    assert undefined.sum() >= 7
    rows["value"] = rows["value"].fillna(np.inf)  # lower is better: NaN is the worst, +inf
    joined = rows.merge(pd.read_csv(inputs["table"])[["index", TABLE_COLUMNS[METRIC]]], on="index")
    tau = stats.kendalltau(joined["value"], joined[TABLE_COLUMNS[METRIC]]).statistic
    assert rec["n"] == len(joined) and rec["kendall_tau"] == pytest.approx(tau, abs=1e-12)
    assert rec["n_nan_as_worst"] + rec["n_inf_as_worst"] == undefined.sum()
    assert rec["n_nan"] == 7  # still reported by their real status
    assert "placed at the ends" in rec["note"]


def test_correlate_rejects_an_unknown_undefined_policy(inputs):
    result = invoke(
        "correlate",
        "--results",
        inputs["results"],
        "--bench",
        inputs["table"],
        "--undefined",
        "zero",
    )
    assert result.exit_code == 2 and "'zero'" in result.output and "worst" in result.output


def test_correlate_table_and_all_datasets(inputs):
    result = invoke(
        "correlate",
        "--results",
        inputs["results"],
        "--bench",
        inputs["table"],
        "--dataset",
        "all",
        "--bootstrap",
        "0",
        "--combine",
        "params,linear_regions",
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for key in ("cifar10-valid/x-valid@200", "cifar100/x-test@200", "ImageNet16-120/x-test@200"):
        assert re.search(rf"\n{re.escape(key)}:\n *# +proxy ", out)  # one compact block per key
    # no one profile holds both: the rank sum is taken across the two profiles
    assert re.search(r"\n *\d+  params\+linear_regions  ", out)  # labelled without a profile
    assert max(map(len, out.splitlines())) <= 100  # fits a terminal
    assert out.rstrip().endswith("  400  constant") and re.search(r"rho +n  note\n", out)
    wide = invoke(
        "correlate",
        "--results",
        inputs["results"],
        "--bench",
        inputs["table"],
        "--wide",
        "--bootstrap",
        "0",
    )
    assert wide.exit_code == 0, wide.output
    assert "constant proxy: correlations undefined" in wide.stdout and "P@10%" in wide.stdout


def test_correlate_input_errors_exit_2_with_one_line(inputs, tmp_path):
    base = ["--bench", inputs["table"], "--bootstrap", "0"]
    _one_line_error(invoke("correlate", "--results", tmp_path / "nope.csv", *base), "nope.csv")
    _one_line_error(
        invoke(
            "correlate", "--results", inputs["results"], "--metric", "cifar10/x-valid@200", *base
        ),
        "cifar10/x-valid@200",
    )
    _one_line_error(invoke("correlate", *base), "--results")
    _one_line_error(
        invoke("correlate", "--results", inputs["results"], "--combine", "params", *base),
        "--combine",
    )
    _one_line_error(
        invoke("correlate", "--results", inputs["results"], "--bench", tmp_path / "b.csv"), "b.csv"
    )
    empty = tmp_path / "empty.csv"
    write_export(pd.read_csv(inputs["results"]).iloc[0:0], empty, {})
    _one_line_error(invoke("correlate", "--results", empty, *base), "no result rows")


# ---- report ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report(inputs) -> Path:
    out = inputs["root"] / "report"
    # Two metric keys keep the test fast; the four default keys are checked in test_reports_io.
    result = invoke(
        "report",
        "--results",
        inputs["results"],
        "--bench",
        inputs["table"],
        "--out",
        out,
        "--dataset",
        "cifar10",
        "--bootstrap",
        "20",
        "--search-results",
        inputs["search"],
    )
    assert result.exit_code == 0, result.output
    return out


def test_report_writes_every_file(report):
    for name in ("leaderboard.csv", "leaderboard.md", "index.html"):
        assert (report / name).stat().st_size > 0
    stems = {p.stem for p in (report / "figures").glob("*.png")}
    assert stems == {p.stem for p in (report / "figures").glob("*.svg")}
    assert {
        "tau_heatmap",
        "proxy_spearman",
        "distributions",
        "pruning_trajectory",
        "tenas_panels_tenas",
        "scatter_params-bench",
        "scatter_ntk_cond-tenas",
        "scatter_tenas-tenas",
    } <= stems
    board = pd.read_csv(report / "leaderboard.csv", keep_default_na=False, na_values=[""])
    keys = ["cifar10-valid/x-valid@200", "cifar10/ori-test@200"]
    assert list(dict.fromkeys(board["metric"])) == keys
    for _, g in board.groupby("metric"):
        ranked = g.dropna(subset=["rank"])
        assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
        assert ranked["kendall_tau_dc"].is_monotonic_decreasing
        assert g["rank"].isna().sum() == 1  # the constant proxy: unranked, still listed
    assert (board["coverage"] == CELLS / 15625).all()
    md = (report / "leaderboard.md").read_text()
    assert all(f"## {k}" in md for k in keys) and "constant proxy" in md


def test_index_html_is_self_contained(report):
    page = (report / "index.html").read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page, flags=re.IGNORECASE)
    assert not [r for r in refs if r.lower().startswith(("http:", "https:", "//"))]
    assert "<link" not in page.lower()
    scripts = re.findall(r"<script\b[^>]*>", page, flags=re.IGNORECASE)
    assert scripts == ["<script>"]  # one inline script (table sorting), nothing loaded
    imgs = re.findall(r"<img\b[^>]*>", page)
    assert len(imgs) == len(list((report / "figures").glob("*.png")))
    assert all(re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', tag) for tag in imgs)
    for text in (
        "cifar10/ori-test@200",
        "sha256",
        "Coverage",
        "t0",
        "&quot;proxy&quot;: &quot;ntk_cond&quot;",
    ):
        assert text in page


@pytest.mark.slow  # two full reports; the fast checks are in test_reports_stats / test_reports_figures
def test_report_is_deterministic(inputs, tmp_path):
    small = tmp_path / "two_proxies.csv"
    res = pd.read_csv(inputs["results"], keep_default_na=False, na_values=[""])
    write_export(res[res["proxy"].isin(["params", "ntk_cond"])], small, {})
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = invoke(
            "report",
            "--results",
            small,
            "--bench",
            inputs["table"],
            "--out",
            out,
            "--dataset",
            "cifar100",
            "--bootstrap",
            "20",
            "--search-results",
            inputs["search"],
        )
        assert result.exit_code == 0, result.output
        outs.append(out)
    a, b = outs
    files = [
        "leaderboard.csv",
        "leaderboard.md",
        *(f"figures/{p.name}" for p in sorted((a / "figures").iterdir())),
    ]
    assert any(f.endswith(".svg") for f in files)
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert "cifar10-valid" not in (a / "leaderboard.csv").read_text()  # --dataset cifar100 only


def test_report_bad_search_results_exit_2(inputs, tmp_path):
    bad = tmp_path / "result.json"
    bad.write_text("{}")
    result = invoke(
        "report",
        "--results",
        inputs["results"],
        "--bench",
        inputs["table"],
        "--out",
        tmp_path / "o",
        "--search-results",
        bad,
    )
    _one_line_error(result, "rounds")
    assert not (tmp_path / "o" / "leaderboard.csv").exists()


CHROMIUM = shutil.which("chromium") or (Path("/usr/bin/chromium").exists() and "/usr/bin/chromium")


@pytest.mark.skipif(
    not CHROMIUM,
    reason="Chromium is not installed (apt-get install -y chromium); "
    "scripts/check_html_chromium.py needs it to load the page",
)
def test_index_html_loads_in_headless_chromium_without_failed_requests(report, tmp_path):
    script = REPO / "scripts" / "check_html_chromium.py"
    run = subprocess.run(
        [sys.executable, str(script), str(report / "index.html"), "--json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = json.loads(run.stdout)
    assert run.returncode == 0 and found["ok"], run.stdout + run.stderr
    assert (
        found["images"] == len(list((report / "figures").glob("*.png")))
        and not found["broken_images"]
    )
    # The checker itself catches a broken page.
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="missing.png"><img src="http://127.0.0.1:9/x.png"></body></html>'
    )
    run = subprocess.run(
        [sys.executable, str(script), str(bad), "--json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = json.loads(run.stdout)
    assert run.returncode == 1 and len(found["failed"]) == 2 and len(found["broken_images"]) == 2


def test_correlate_indices_keep_only_those_cells(inputs):
    res = pd.read_csv(inputs["results"], keep_default_na=False, na_values=[""])
    cells = sorted(res.loc[res["proxy"] == "params", "index"].unique())
    spec = f"{cells[0]}-{cells[9]}"
    wanted = res[(res["proxy"] == "params") & res["index"].between(cells[0], cells[9])]
    result = invoke(
        "correlate",
        "--results",
        inputs["results"],
        "--bench",
        inputs["table"],
        "--indices",
        spec,
        "--bootstrap",
        "0",
        "--json",
    )
    assert result.exit_code == 0, result.output
    rec = next(r for r in json.loads(result.stdout) if r["label"] == "params/bench")
    assert rec["n"] + rec["n_excluded"] == len(wanted) == 10
    bad = invoke(
        "correlate", "--results", inputs["results"], "--bench", inputs["table"], "--indices", "3-1"
    )
    assert bad.exit_code == 2 and "'3-1'" in bad.output
