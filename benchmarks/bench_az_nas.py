"""Time AZ-NAS's four components per cell, each alone and all four together (one shared pass).

Runs `bench_zero_cost.py` on the AZ-NAS components (same cells, inputs and seeds for both ways;
it fails when a value differs between them) and prints seconds per cell. Defaults: 10 cells,
bench profile (C=16, N=5, batch 64), CPU, 1 thread; every `bench_zero_cost.py` option works.

    .venv/bin/python benchmarks/bench_az_nas.py
    .venv/bin/python benchmarks/bench_az_nas.py --cells 10 --threads 2 --json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_zero_cost  # noqa: E402  (the sibling script: one timing loop for every proxy family)

from proxies.az_nas import COMPONENTS  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a.startswith("--proxies") for a in argv):
        argv += ["--proxies", ",".join(COMPONENTS)]
    if not any(a.startswith("--cells") for a in argv):
        argv += ["--cells", "10"]
    return bench_zero_cost.main(argv)


if __name__ == "__main__":
    main()
