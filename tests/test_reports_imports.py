"""reports never imports torch, proxies or search (design rule: reports run on machines without torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULES = [
    "reports",
    "reports.io",
    "reports.correlation",
    "reports.topk",
    "reports.combine",
    "reports.labels",
    "reports.leaderboard",
    "reports.plots",
    "reports.figures",
    "reports.html",
    "reports.search_runs",
    "reports.build",
]


def test_reports_leave_torch_proxies_and_search_unimported():
    code = (
        "import importlib, sys\n"
        f"for m in {MODULES!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'proxies', 'search'))\n"
        "print(','.join(bad))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", f"imported: {run.stdout.strip()}"


def test_cli_dataset_choices_match_reports():
    from cli.correlate import DATASET_CHOICES as cli_choices
    from reports.io import DATASET_CHOICES

    assert cli_choices == DATASET_CHOICES
