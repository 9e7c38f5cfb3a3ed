"""Time `linear_regions` per cell and project the whole NB201 space (tenas profile, x repeats).

For each cell and repeat: the thin network is built as the sweep builds it, the proxy runs
(3 forwards of 1000 patches with ReLU hooks, then the exact packed-word count), and on the
first repeat the count is checked against two references: numpy's row-unique of packbits
(the previous implementation) and TE-NAS's Hamming-distance count. Prints medians, cells/s
and the projection; ``--path sweep`` times ``harness run-proxies`` end to end instead.

    .venv/bin/python benchmarks/bench_linear_regions.py --cells 50
    .venv/bin/python benchmarks/bench_linear_regions.py --cells 50 --workers 2 --json
    .venv/bin/python benchmarks/bench_linear_regions.py --path sweep --cells 50
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.data import load_images, patch_batches
from sweep.profiles import get_profile
from harness.spaces.nb201 import NUM_CELLS, Nb201Arch
from harness.spaces.nb201_net import build_network
from proxies.linear_regions import activation_patterns, count_unique_rows, linear_regions


def numpy_unique_count(patterns: torch.Tensor) -> int:
    """The previous implementation: numpy packbits, then unique rows."""
    return int(np.unique(np.packbits(patterns.numpy(), axis=1), axis=0).shape[0])


def hamming_count(patterns: torch.Tensor) -> int:
    """TE-NAS's count: each sample adds 1 / (size of its group of identical patterns)."""
    a = patterns.double()
    distance = a @ (1 - a).T + (1 - a) @ a.T
    return round((1.0 / (distance == 0).sum(1).double()).sum().item())


class Setup:
    def __init__(self, args):
        self.profile = get_profile(args.profile)
        images = load_images(args.dataset, "train", args.data_dir, source=args.data_source)
        self.num_classes = images.num_classes
        self.images_desc = f"{images.dataset} {images.split} ({images.source})"
        self.batches = [
            b.to(args.device)
            for b in patch_batches(
                images,
                n_batches=self.profile.patch_batches,
                batch_size=self.profile.patch_batch_size,
                size=self.profile.patch_size,
                seed=self.profile.data_seed,
            )
        ]
        self.device = args.device

    def network(self, cell: int, repeat: int) -> torch.nn.Module:
        torch.manual_seed(self.profile.weight_seed + repeat)
        net = build_network(
            Nb201Arch.from_index(cell),
            self.profile.patch_network,
            num_classes=self.num_classes,
            track_running_stats=self.profile.bn_track_running_stats,
        )
        return net.to(self.device)


def score_cells(setup: Setup, cells, check: bool) -> dict:
    build, proxy, mismatches = [], [], []
    for cell in cells:
        for repeat in range(setup.profile.repeats):
            t0 = time.perf_counter()
            net = setup.network(cell, repeat)
            t1 = time.perf_counter()
            value = linear_regions(net, setup.batches)
            t2 = time.perf_counter()
            build.append(t1 - t0)
            proxy.append(t2 - t1)
            if check and repeat == 0:
                patterns = activation_patterns(net, setup.batches).cpu()
                ref = {
                    numpy_unique_count(patterns),
                    hamming_count(patterns),
                    count_unique_rows(patterns),
                }
                if ref != {int(value)}:
                    mismatches.append({"cell": cell, "value": value, "references": sorted(ref)})
    return {"build": build, "proxy": proxy, "mismatches": mismatches}


def _worker(payload):
    args, cells = payload
    torch.set_num_threads(args.threads)
    setup = Setup(args)
    start = time.perf_counter()
    out = score_cells(setup, cells, check=False)
    out["wall"] = time.perf_counter() - start
    return out


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    setup = Setup(args)
    rng = np.random.default_rng(args.seed)
    cells = [int(c) for c in rng.choice(NUM_CELLS, size=args.cells, replace=False)]
    repeats = setup.profile.repeats
    report = {
        "profile": args.profile,
        "device": args.device,
        "threads": args.threads,
        "cells": len(cells),
        "repeats": repeats,
        "images": setup.images_desc,
        "torch": torch.__version__,
        "patches": f"{setup.profile.patch_batches} x {setup.profile.patch_batch_size} x 1x{setup.profile.patch_size}x{setup.profile.patch_size}",
        "load_average_start": os.getloadavg(),
    }
    if args.path == "sweep":
        from sweep.runner import SweepOptions, SweepSpec, run_sweep

        spec = SweepSpec(
            ("linear_regions",),
            setup.profile,
            args.dataset,
            args.data_dir,
            args.data_source,
            args.device,
        )
        with tempfile.TemporaryDirectory() as tmp:
            options = SweepOptions(
                cells,
                workers=args.workers,
                threads=args.threads,
                quiet=True,
                command="bench_linear_regions --path sweep",
            )
            t0 = time.perf_counter()
            summary = run_sweep(spec, options, os.path.join(tmp, "bench.sqlite"))
            wall = time.perf_counter() - t0
        per_cell = wall / len(cells)
        report.update(
            {
                "path": "sweep",
                "workers": args.workers,
                "sweep_wall_seconds": wall,
                "seconds_per_cell_all_repeats": per_cell,
                "cells_per_second": 1 / per_cell,
                "projected_minutes_all_cells": NUM_CELLS * per_cell / 60,
                "status_counts": summary.status_counts,
            }
        )
    else:
        result = score_cells(setup, cells, check=True)
        per_repeat = [b + p for b, p in zip(result["build"], result["proxy"])]
        per_cell = statistics.median(per_repeat) * repeats
        report.update(
            {
                "path": "proxy",
                "ms_build_median": 1e3 * statistics.median(result["build"]),
                "ms_proxy_median": 1e3 * statistics.median(result["proxy"]),
                "seconds_per_cell_all_repeats": per_cell,
                "cells_per_second": 1 / per_cell,
                "projected_minutes_all_cells": NUM_CELLS * per_cell / 60,
                "agrees_with_references": not result["mismatches"],
                "mismatches": result["mismatches"],
            }
        )
        if args.workers > 1:
            import multiprocessing as mp

            shares = [cells[k :: args.workers] for k in range(args.workers)]
            start = time.perf_counter()
            with mp.get_context("spawn").Pool(args.workers) as pool:
                outs = pool.map(_worker, [(args, s) for s in shares])
            wall = time.perf_counter() - start
            busiest = max(o["wall"] for o in outs)
            report["throughput"] = {
                "workers": args.workers,
                "threads_per_worker": args.threads,
                "cells_per_second": len(cells) / busiest,
                "projected_minutes_all_cells": NUM_CELLS / (len(cells) / busiest) / 60,
                "wall_seconds_including_start": wall,
            }
    report["load_average_end"] = os.getloadavg()
    return report


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--profile",
        default="tenas",
        help="proxy profile (default tenas: thin C=1 net, 3 x 1000 patches, 3 repeats)",
    )
    ap.add_argument(
        "--cells", type=int, default=50, help="number of cells, a seeded sample (default 50)"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the cell sample (default 0)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    ap.add_argument(
        "--workers", type=int, default=1, help="processes for a throughput run (default 1)"
    )
    ap.add_argument(
        "--path",
        choices=("proxy", "sweep"),
        default="proxy",
        help="proxy: build + proxy per cell; sweep: harness run-proxies end to end",
    )
    ap.add_argument("--dataset", default="cifar10", help="image dataset (default cifar10)")
    ap.add_argument(
        "--data-dir",
        default=None,
        help="data folder (default: $HARNESS_DATA_DIR, else the user cache, then the embedded sample)",
    )
    ap.add_argument(
        "--data-source", default=None, help="dataset form, e.g. npz (default: the loader's)"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if min(args.cells, args.threads, args.workers) < 1:
        ap.error("--cells, --threads and --workers must be positive integers")
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"linear_regions, profile {report['profile']} ({report['patches']} patches, {report['repeats']} repeats), "
            f"{report['cells']} cells, device {report['device']}, threads {report['threads']}, "
            f"load {report['load_average_start'][0]:.1f} -> {report['load_average_end'][0]:.1f}"
        )
        if report["path"] == "proxy":
            print(
                f"build {report['ms_build_median']:.1f} ms + proxy {report['ms_proxy_median']:.1f} ms per repeat "
                f"(median); agrees with numpy-unique and TE-NAS Hamming counts: {report['agrees_with_references']}"
            )
        print(
            f"{report['seconds_per_cell_all_repeats'] * 1e3:.1f} ms per cell (all repeats), "
            f"{report['cells_per_second']:.1f} cells/s -> all 15,625 cells in "
            f"{report['projected_minutes_all_cells']:.1f} min"
        )
        if "throughput" in report:
            t = report["throughput"]
            print(
                f"throughput: {t['workers']} workers x {t['threads_per_worker']} threads: {t['cells_per_second']:.1f} "
                f"cells/s -> {t['projected_minutes_all_cells']:.1f} min"
            )
    return report


if __name__ == "__main__":
    main()
