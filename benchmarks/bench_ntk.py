"""Time NTK engines against the per-sample oracle on the same cells, inputs and weights.

Prints, per engine: median seconds per cell, speed-up over the oracle (ratio of medians, and the
median of per-cell ratios), cells/s, the largest relative κ difference from the oracle, peak
memory, and the projected time for all 15,625 NB201 cells (x repeats). Engines and the oracle
run interleaved cell by cell, so a shared machine's load hits them alike.

It also places the engines against the machine's limit (skip with ``--no-roofline``): the
matmul/conv FLOPs of one exact κ (counted with ``torch.utils.flop_counter`` on an untimed oracle
pass per cell: one forward and B backward passes, the work any engine of B vector-Jacobian
products does) and the device's fp32 matrix-multiply rate measured in the same run give each
engine's achieved GFLOP/s, its fraction of that rate, and the speed-up over the oracle an engine
would reach running at the matmul rate (an upper bound: convolutions with 3-12 channels run far
below it).

    .venv/bin/python benchmarks/bench_ntk.py --profile tenas --cells 8 --engine compiled,graph
    .venv/bin/python benchmarks/bench_ntk.py --cells 8 --engine compiled --workers 2 --threads 1 --json
    .venv/bin/python benchmarks/bench_ntk.py --path sweep --cells 20 --engine compiled

``--workers W`` adds a throughput run: W processes x ``--threads`` threads score the cells with
the first engine (no oracle) after a warm-up cell each; cells/s counts steady state only.
``--path sweep`` times ``harness run-proxies`` (the runner: scorer, network build, store)
end to end against the bare proxy, so overheads outside the proxy show up.
``--breakdown`` splits the time of the ``graph`` / ``compiled`` engines between their kernel
families (convolution grad-input, weight GEMMs, BN backward, the two poolings) and the rest
(graph walk, small rules, im2col, Gram matrix, eigenvalues): where an engine's time goes, so the
next optimisation aims at the right step.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.data import image_batch, load_images
from sweep.profiles import get_profile
from harness.spaces.nb201 import NUM_CELLS, Nb201Arch
from harness.spaces.nb201_net import build_network
from proxies.ntk_engine import engine_kernels
from proxies.ntk import NTK_ENGINES, condition_number, empirical_ntk

#: Cells always included first: the best CIFAR-10 cell, the ResNet-like cell, and cell 0/1.
ANCHOR_CELLS = (6111, 11472, 0, 1)


# ----------------------------------------------------------------------------- measuring
def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set size since the last reset (VmHWM), else since the process started."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: torch.device) -> None:
    """Wait for the device's queued kernels, so wall-clock times cover them (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    engine: str, net: torch.nn.Module, x: torch.Tensor, chunk: int | None, device: torch.device
):
    """(κ, seconds, peak memory MB) of one engine on a fresh copy of `net`."""
    model = copy.deepcopy(net)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        reset_peak_rss()
    start = time.perf_counter()
    kappa = condition_number(empirical_ntk(model, x, engine=engine, chunk=chunk))
    sync(device)
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mb()
    )
    return kappa, seconds, peak


def matmul_gflops(device: torch.device, size: int = 1024, seconds: float = 1.0) -> float:
    """The device's fp32 matrix-multiply rate (GFLOP/s) at the current thread count: the
    ceiling for convolution and matmul arithmetic."""
    a = torch.randn(size, size, device=device)
    b = a @ a  # warm-up
    sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        b = a @ b.clamp_(-1, 1)
        count += 1
    sync(device)
    return count * 2 * size**3 / (time.perf_counter() - start) / 1e9


def counted_gflop(net: torch.nn.Module, x: torch.Tensor) -> float:
    """Matmul/conv GFLOP of one exact κ, counted on an (untimed) oracle pass."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        empirical_ntk(copy.deepcopy(net), x, engine="oracle")
    return counter.get_total_flops() / 1e9


def rel_diff(a: float, b: float) -> float:
    if math.isnan(a) and math.isnan(b) or (math.isinf(a) and a == b):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(b), 1e-300)


def pick_cells(count: int, seed: int, indices: list[int] | None) -> list[int]:
    if indices:
        return indices
    rng = np.random.default_rng(seed)
    cells = list(ANCHOR_CELLS[:count])
    for cell in rng.permutation(NUM_CELLS):
        if len(cells) >= count:
            break
        if int(cell) not in cells:
            cells.append(int(cell))
    return cells


# ----------------------------------------------------------------------------- setup
class Setup:
    """The profile's NTK network and input batch, as `sweep.scoring.CellScorer` builds them."""

    def __init__(self, args):
        self.profile = get_profile(args.profile, batch_size=args.batch_size)
        self.device = torch.device(args.device)
        images = load_images(args.dataset, "train", args.data_dir, source=args.data_source)
        self.images_desc = f"{images.dataset} {images.split} ({images.source})"
        self.num_classes = images.num_classes
        x, _ = image_batch(
            images, self.profile.batch_size, self.profile.data_seed, augment=self.profile.augment
        )
        self.x = x.to(self.device)

    def network(self, cell: int) -> torch.nn.Module:
        torch.manual_seed(self.profile.weight_seed)
        net = build_network(
            Nb201Arch.from_index(cell),
            self.profile.image_network,
            num_classes=self.num_classes,
            track_running_stats=self.profile.bn_track_running_stats,
        )
        return net.to(self.device)


def warm_up(setup: Setup, engines, chunk) -> dict[str, float]:
    """Run each engine once on a cell with every op type (compiles `compiled`'s kernels)."""
    seconds = {}
    net = setup.network(6111)
    for engine in engines:
        if engine == "oracle":
            continue
        start = time.perf_counter()
        for cell in (6111, 1):  # 6111: conv 3x3/1x1 and skip; 1: pooling
            empirical_ntk(
                copy.deepcopy(setup.network(cell) if cell != 6111 else net), setup.x, engine, chunk
            )
        seconds[engine] = time.perf_counter() - start
    return seconds


#: The kernel methods the graph-walking engines spend their arithmetic in, and their labels.
KERNEL_STEPS = {
    "conv_grad_input": "conv grad-input",
    "conv_grad_weight_rows": "weight GEMMs",
    "batch_norm_backward": "BN backward",
    "box3_backward": "3x3 pool backward",
    "block_pool_backward": "block pool backward",
}


def kernel_breakdown(engine: str, networks, x: torch.Tensor, chunk: int | None = None) -> dict:
    """Seconds per cell of one engine, split between its kernel families and the rest.

    Times every call of the kernel object the engine uses (synchronising CUDA around each, so the
    split is exact but the total runs a little slower than untimed); `networks` are scored in turn.
    """
    device = x.device
    if engine not in ("graph", "compiled"):
        raise ValueError(
            f"no kernel breakdown for engine {engine!r}; it exists for graph and compiled"
        )
    kernels = engine_kernels(engine == "compiled", device)
    spent = collections.Counter()

    def timed(name, method):
        def call(*args, **kwargs):
            sync(device)
            start = time.perf_counter()
            out = method(*args, **kwargs)
            sync(device)
            spent[name] += time.perf_counter() - start
            return out

        return call

    total, count = 0.0, 0
    with contextlib.ExitStack() as stack:
        for name in KERNEL_STEPS:
            stack.enter_context(
                mock.patch.object(kernels, name, timed(name, getattr(kernels, name)))
            )
        for net in networks:
            sync(device)
            start = time.perf_counter()
            condition_number(empirical_ntk(net, x, engine, chunk))
            sync(device)
            total += time.perf_counter() - start
            count += 1
    steps = {label: spent[name] / count for name, label in KERNEL_STEPS.items()}
    steps["other"] = total / count - sum(steps.values())
    return {
        "engine": engine,
        "cells": count,
        "seconds_per_cell": total / count,
        "seconds": steps,
        "fractions": {label: value / (total / count) for label, value in steps.items()},
    }


# ----------------------------------------------------------------------------- same-run comparison
def compare(args, setup: Setup, cells: list[int], engines: list[str]) -> dict:
    warm = warm_up(setup, engines, args.chunk)
    rows = []
    for n, cell in enumerate(cells):
        net = setup.network(cell)
        row = {"cell": cell, "arch": str(Nb201Arch.from_index(cell))}
        order = (["oracle"] if not args.no_oracle else []) + engines
        if n % 2:
            order = order[::-1]  # alternate who goes first
        for engine in order:
            kappa, seconds, peak = measure(engine, net, setup.x, args.chunk, setup.device)
            row[engine] = {"kappa": kappa, "seconds": seconds, "peak_mem_mb": peak}
        if args.roofline:
            row["gflop"] = counted_gflop(net, setup.x)
        rows.append(row)
        if not args.json:
            parts = [f"{e} {row[e]['seconds']:.3f}s" for e in order]
            print(
                f"cell {cell:5d}  " + "  ".join(parts) + f"  κ={row[order[0]]['kappa']:.6g}",
                flush=True,
            )
    return {"rows": rows, "warmup_seconds": warm}


def summarise(result: dict, engines: list[str], args, setup: Setup) -> dict:
    rows = result["rows"]
    repeats = setup.profile.repeats
    summary = {}
    oracle_times = [r["oracle"]["seconds"] for r in rows] if not args.no_oracle else []
    oracle_median = statistics.median(oracle_times) if oracle_times else None
    for engine in (["oracle"] if oracle_times else []) + engines:
        times = [r[engine]["seconds"] for r in rows]
        med = statistics.median(times)
        entry = {
            "seconds_per_cell_median": med,
            "seconds_per_cell_mean": statistics.fmean(times),
            "cells_per_second": 1.0 / med,
            "peak_mem_mb": max(r[engine]["peak_mem_mb"] for r in rows),
            "projected_hours_all_cells": NUM_CELLS * med / 3600,
            "projected_hours_all_cells_x_repeats": NUM_CELLS * med * repeats / 3600,
        }
        if oracle_times and engine != "oracle":
            entry["speedup_of_medians"] = oracle_median / med
            entry["speedup_median_per_cell"] = statistics.median(
                r["oracle"]["seconds"] / r[engine]["seconds"] for r in rows
            )
            entry["max_rel_diff_kappa"] = max(
                rel_diff(r[engine]["kappa"], r["oracle"]["kappa"]) for r in rows
            )
        if engine in result["warmup_seconds"]:
            entry["warmup_seconds"] = result["warmup_seconds"][engine]
        if "matmul_gflops" in result:
            entry["achieved_gflops"] = statistics.median(
                r["gflop"] / r[engine]["seconds"] for r in rows
            )
            entry["fraction_of_matmul_rate"] = entry["achieved_gflops"] / result["matmul_gflops"]
        summary[engine] = entry
    return summary


def roofline(result: dict) -> dict:
    """Work of one κ and the fastest an engine of that work could be on this device."""
    rows, rate = result["rows"], result["matmul_gflops"]
    out = {
        "matmul_gflops": rate,
        "gflop_per_cell_median": statistics.median(r["gflop"] for r in rows),
        "seconds_per_cell_at_matmul_rate": statistics.median(r["gflop"] / rate for r in rows),
    }
    if "oracle" in rows[0]:
        out["speedup_ceiling_over_oracle"] = statistics.median(
            r["oracle"]["seconds"] / (r["gflop"] / rate) for r in rows
        )
    return out


# ----------------------------------------------------------------------------- throughput (workers)
def _worker(payload):
    args, cells, engine = payload
    torch.set_num_threads(args.threads)
    setup = Setup(args)
    start = time.perf_counter()
    empirical_ntk(setup.network(cells[0]), setup.x, engine, args.chunk)  # warm-up, not counted
    warm = time.perf_counter() - start
    reset_peak_rss()
    times = []
    for cell in cells:
        net = setup.network(cell)
        t0 = time.perf_counter()
        condition_number(empirical_ntk(net, setup.x, engine, args.chunk))
        times.append(time.perf_counter() - t0)
    return {"times": times, "warmup": warm, "peak_mem_mb": peak_rss_mb()}


def throughput(args, cells: list[int], engine: str) -> dict:
    import multiprocessing as mp

    shares = [cells[k :: args.workers] for k in range(args.workers)]
    shares = [s for s in shares if s]
    with mp.get_context("spawn").Pool(len(shares)) as pool:
        outs = pool.map(_worker, [(args, s, engine) for s in shares])
    busiest = max(sum(o["times"]) for o in outs)
    return {
        "engine": engine,
        "workers": len(shares),
        "threads_per_worker": args.threads,
        "cells": len(cells),
        "cells_per_second": len(cells) / busiest,
        "seconds_per_cell_per_worker_median": statistics.median(
            t for o in outs for t in o["times"]
        ),
        "warmup_seconds_max": max(o["warmup"] for o in outs),
        "peak_mem_mb_per_worker": max(o["peak_mem_mb"] for o in outs),
    }


# ----------------------------------------------------------------------------- run-proxies path
def sweep_path(args, setup: Setup, cells: list[int], engine: str) -> dict:
    """`harness run-proxies` on the cells (ntk_cond, one repeat) vs the bare proxy on the same cells."""
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    profile = get_profile(args.profile, batch_size=args.batch_size, repeats=1, ntk_engine=engine)
    empirical_ntk(setup.network(cells[0]), setup.x, engine, args.chunk)  # warm-up (compiles)
    bare = []
    for cell in cells:
        net = setup.network(cell)
        t0 = time.perf_counter()
        condition_number(empirical_ntk(net, setup.x, engine, args.chunk))
        bare.append(time.perf_counter() - t0)
    dataset = args.dataset
    spec = SweepSpec(("ntk_cond",), profile, dataset, args.data_dir, args.data_source, args.device)
    with tempfile.TemporaryDirectory() as tmp:
        options = SweepOptions(
            cells, workers=1, threads=args.threads, quiet=True, command="bench_ntk --path sweep"
        )
        t0 = time.perf_counter()
        summary = run_sweep(spec, options, os.path.join(tmp, "bench.sqlite"))
        wall = time.perf_counter() - t0
    return {
        "engine": engine,
        "cells": len(cells),
        "bare_proxy_seconds_total": sum(bare),
        "bare_proxy_seconds_per_cell": statistics.median(bare),
        "sweep_wall_seconds": wall,
        "sweep_seconds_per_cell": wall / len(cells),
        "overhead_seconds_per_cell": (wall - sum(bare)) / len(cells),
        "sweep_status_counts": summary.status_counts,
    }


# ----------------------------------------------------------------------------- CLI
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--profile",
        default="tenas",
        help="proxy profile: tenas (C=3,N=1, B=72) or bench (C=16,N=5, B=64)",
    )
    ap.add_argument(
        "--batch-size", type=int, default=None, help="images per batch (default: the profile's)"
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    ap.add_argument(
        "--cells",
        type=int,
        default=8,
        help="number of cells (default 8: four anchors + seeded sample)",
    )
    ap.add_argument(
        "--indices", default=None, help="comma-separated cell indices instead of --cells"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the cell sample (default 0)")
    ap.add_argument(
        "--engine",
        default="compiled,graph",
        help=f"comma-separated engines to time against the oracle: {', '.join(e for e in NTK_ENGINES if e != 'oracle')}",
    )
    ap.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="cotangents per batched pass (default: the engine's)",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads (per worker) (default 1)")
    ap.add_argument(
        "--workers", type=int, default=1, help="processes for the throughput run (default 1: none)"
    )
    ap.add_argument(
        "--no-oracle",
        action="store_true",
        help="skip the oracle (no speed-up or agreement figures)",
    )
    ap.add_argument(
        "--path",
        choices=("proxy", "sweep"),
        default="proxy",
        help="proxy: engines vs oracle; sweep: harness run-proxies end to end vs the bare proxy",
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
    ap.add_argument(
        "--no-roofline",
        dest="roofline",
        action="store_false",
        help="skip counting FLOPs and measuring the matmul rate (saves one oracle pass per cell)",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="also split the graph/compiled engines' time between their kernel families",
    )
    ap.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    args = ap.parse_args(argv)
    args.engines = [e.strip() for e in args.engine.split(",") if e.strip()]
    for engine in args.engines:
        if engine not in NTK_ENGINES or engine == "oracle":
            ap.error(
                f"unknown engine {engine!r}; choose from {', '.join(e for e in NTK_ENGINES if e != 'oracle')}"
            )
    if args.threads < 1 or args.workers < 1 or args.cells < 1:
        ap.error("--threads, --workers and --cells must be positive integers")
    args.index_list = [int(i) for i in args.indices.split(",")] if args.indices else None
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    setup = Setup(args)
    cells = pick_cells(args.cells, args.seed, args.index_list)
    report = {
        "profile": args.profile,
        "batch_size": setup.profile.batch_size,
        "device": str(setup.device),
        "device_name": torch.cuda.get_device_name(setup.device)
        if setup.device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": args.threads,
        "cells": cells,
        "images": setup.images_desc,
        "torch": torch.__version__,
        "load_average_start": os.getloadavg(),
        "repeats": setup.profile.repeats,
    }
    if args.path == "sweep":
        report["sweep"] = sweep_path(args, setup, cells, args.engines[0])
    else:
        result = compare(args, setup, cells, args.engines)
        if args.roofline:
            result["matmul_gflops"] = max(matmul_gflops(setup.device) for _ in range(2))
            report["roofline"] = roofline(result)
        report["engines"] = summarise(result, args.engines, args, setup)
        report["per_cell"] = result["rows"]
        first = report["engines"][args.engines[0]]
        report.update(
            {
                "engine": args.engines[0],
                "seconds_per_cell_oracle": report["engines"]
                .get("oracle", {})
                .get("seconds_per_cell_median"),
                "seconds_per_cell_engine": first["seconds_per_cell_median"],
                "speedup": first.get("speedup_of_medians"),
                "max_rel_diff": first.get("max_rel_diff_kappa"),
                "peak_mem_mb": first["peak_mem_mb"],
            }
        )
        if args.breakdown:
            report["breakdown"] = {
                e: kernel_breakdown(e, [setup.network(c) for c in cells], setup.x, args.chunk)
                for e in args.engines
                if e in ("graph", "compiled")
            }
        if args.workers > 1:
            report["throughput"] = throughput(args, cells, args.engines[0])
    report["load_average_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        print_report(report)
    return report


def print_report(report: dict) -> None:
    print(
        f"\nprofile {report['profile']} (batch {report['batch_size']}), device {report['device']} "
        f"({report['device_name']}), threads {report['threads']}, {len(report['cells'])} cells, "
        f"torch {report['torch']}, load {report['load_average_start'][0]:.1f} -> {report['load_average_end'][0]:.1f}"
    )
    if "sweep" in report:
        s = report["sweep"]
        print(
            f"run-proxies path ({s['engine']}): {s['sweep_seconds_per_cell']:.3f} s/cell end to end vs "
            f"{s['bare_proxy_seconds_per_cell']:.3f} s/cell bare proxy; overhead {s['overhead_seconds_per_cell']:.3f} s/cell"
        )
        return
    print(
        f"{'engine':10s} {'s/cell':>8s} {'speedup':>8s} {'per-cell':>8s} {'cells/s':>8s} {'max rel Δκ':>11s} "
        f"{'peak MB':>8s} {'15,625 cells':>13s} {'x repeats':>10s}"
    )
    for name, e in report["engines"].items():
        print(
            f"{name:10s} {e['seconds_per_cell_median']:8.3f} {e.get('speedup_of_medians', 1.0):8.1f} "
            f"{e.get('speedup_median_per_cell', 1.0):8.1f} {e['cells_per_second']:8.2f} "
            f"{e.get('max_rel_diff_kappa', 0.0):11.2e} {e['peak_mem_mb']:8.0f} "
            f"{e['projected_hours_all_cells']:11.1f} h {e['projected_hours_all_cells_x_repeats']:8.1f} h"
        )
    if "roofline" in report:
        r = report["roofline"]
        print(
            f"roofline: {r['gflop_per_cell_median']:.1f} GFLOP (matmul/conv) per κ; fp32 matmul rate "
            f"{r['matmul_gflops']:.0f} GFLOP/s -> at least {r['seconds_per_cell_at_matmul_rate']:.3f} s/cell"
            + (
                f", at most {r['speedup_ceiling_over_oracle']:.1f}x the oracle"
                if "speedup_ceiling_over_oracle" in r
                else ""
            )
        )
        print(
            "achieved: "
            + ", ".join(
                f"{n} {e['achieved_gflops']:.1f} GFLOP/s ({e['fraction_of_matmul_rate']:.0%})"
                for n, e in report["engines"].items()
            )
        )
    for name, b in report.get("breakdown", {}).items():
        print(
            f"breakdown {name} ({b['seconds_per_cell']:.3f} s/cell, timed): "
            + " · ".join(f"{label} {share:.0%}" for label, share in b["fractions"].items())
        )
    if "throughput" in report:
        t = report["throughput"]
        print(
            f"throughput: {t['workers']} workers x {t['threads_per_worker']} threads: {t['cells_per_second']:.2f} "
            f"cells/s ({NUM_CELLS / t['cells_per_second'] / 3600:.1f} h for 15,625 cells, one repeat)"
        )


if __name__ == "__main__":
    main()
