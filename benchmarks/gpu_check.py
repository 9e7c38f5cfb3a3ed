"""One prepared check for a lent GPU (about 5 minutes): exactness on CUDA and cells/s.

1. Agreement: on a few cells (every op type, the ResNet-like cell, a disconnected cell) the NTK
   engines give the per-sample oracle's κ on the device (relative difference < 1e-4; NaN = NaN).
2. ``ntk_cond`` throughput, tenas profile, one repeat: the bare proxy per engine (network built
   on the host and moved, as the sweep does) and the sweep's scorer (`sweep.scoring.CellScorer`);
   and where the first engine's time goes (`bench_ntk.kernel_breakdown`: kernels vs graph walk).
3. ``linear_regions`` throughput (thin nets, 3 x 1000 patches), one repeat and all repeats.
4. The whole ``harness run-proxies`` path for ``ntk_cond``: several worker processes sharing the
   device, store writes included (what "the whole space in minutes" means in practice).

Prints one JSON object and writes it to ``--out`` (default ``$OUT/gpu_check.json`` when ``$OUT``
is set). Real CIFAR-10 images are used when the data folder is present, else synthetic N(0,1)
inputs of the same shape (said in the JSON). TF32 is off for the whole run, as in the engines.

    python3 benchmarks/gpu_check.py                  # on the GPU machine (or: bash benchmarks/gpu_check.sh)
    .venv/bin/python benchmarks/gpu_check.py --device cpu --budget 60   # dry run here
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ntk import kernel_breakdown, rel_diff, sync

from harness.data import load_images
from harness.errors import DataNotFoundError
from sweep.profiles import get_profile
from sweep.scoring import CellScorer
from harness.spaces.nb201 import NUM_CELLS, Nb201Arch
from harness.spaces.nb201_net import build_network
from proxies.ntk import condition_number, empirical_ntk

AGREEMENT_CELLS = {
    "best_cifar10 (6111)": 6111,
    "resnet_like (11472)": 11472,
    "index_0": 0,
    "every_op": "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    "disconnected": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|none~1|none~2|",
}


def agreement_network(arch, num_classes: int, device: torch.device) -> torch.nn.Module:
    """The tenas NTK network of `arch` with seed-0 weights, on `device`."""
    torch.manual_seed(0)
    return build_network(arch, "tenas_ntk", num_classes=num_classes).to(device)


def load(dataset: str, data_dir):
    if dataset != "auto":
        return load_images(dataset, "train", data_dir)
    try:
        return load_images("cifar10", "train", data_dir)
    except DataNotFoundError:
        return load_images("synthetic", "train", source="cifar10")


def agreement(device, x, num_classes, engines, count) -> dict:
    rows, worst = [], 0.0
    for name, arch in list(AGREEMENT_CELLS.items())[:count]:
        net = agreement_network(arch, num_classes, device)
        row = {"cell": name}
        for engine in ("oracle", *engines):
            sync(device)
            t0 = time.perf_counter()
            row[engine] = condition_number(empirical_ntk(copy.deepcopy(net), x, engine))
            sync(device)
            row[f"{engine}_seconds"] = time.perf_counter() - t0
        for engine in engines:
            row[f"{engine}_rel_diff"] = rel_diff(row[engine], row["oracle"])
            worst = max(worst, row[f"{engine}_rel_diff"])
        rows.append(row)
        print(
            f"agreement {name}: "
            + ", ".join(
                f"{e} κ={row[e]:.6g} ({row[e + '_seconds']:.2f}s)" for e in ("oracle", *engines)
            ),
            flush=True,
        )
    return {"rows": rows, "max_rel_diff": worst, "passed": worst < 1e-4}


def ntk_throughput(device, x, num_classes, engine, seconds, chunk=None) -> dict:
    """Bare proxy: build the cell's net on the host, move it, κ; as many cells as fit in `seconds`."""
    profile = get_profile("tenas")
    empirical_ntk(
        build_network(6111, "tenas_ntk", num_classes=num_classes).to(device), x, engine, chunk
    )  # warm-up
    sync(device)
    cells, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds and cells < NUM_CELLS:
        torch.manual_seed(profile.weight_seed)
        net = build_network(
            Nb201Arch.from_index(cells * 7919 % NUM_CELLS), "tenas_ntk", num_classes=num_classes
        )
        condition_number(empirical_ntk(net.to(device), x, engine, chunk))
        cells += 1
    sync(device)
    wall = time.perf_counter() - start
    out = {
        "engine": engine,
        "chunk": chunk,
        "cells": cells,
        "seconds": wall,
        "cells_per_second": cells / wall,
    }
    if device.type == "cuda":
        out["max_memory_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def breakdown(device, x, num_classes, engine, count=3) -> dict:
    """`bench_ntk.kernel_breakdown` on the first `count` agreement cells (after one warm-up)."""
    nets = [
        agreement_network(arch, num_classes, device)
        for arch in list(AGREEMENT_CELLS.values())[:count]
    ]
    empirical_ntk(copy.deepcopy(nets[0]), x, engine)  # warm-up
    return kernel_breakdown(engine, nets, x)


def scorer_throughput(device, images, proxy, engine, seconds, repeats) -> dict:
    """The sweep's own per-cell path: `CellScorer.score` (network build, copy, proxy, timing)."""
    profile = get_profile("tenas", repeats=repeats, ntk_engine=engine)
    scorer = CellScorer(profile, [proxy], images, str(device))
    todo = [(proxy, r) for r in range(repeats)]
    scorer.score(Nb201Arch.from_index(6111), todo)  # warm-up
    sync(device)
    cells, statuses, start = 0, {}, time.perf_counter()
    while time.perf_counter() - start < seconds and cells < NUM_CELLS:
        for result in scorer.score(Nb201Arch.from_index(cells * 7919 % NUM_CELLS), todo):
            statuses[result.status] = statuses.get(result.status, 0) + 1
        cells += 1
    sync(device)
    wall = time.perf_counter() - start
    return {
        "proxy": proxy,
        "engine": engine if proxy == "ntk_cond" else None,
        "repeats": repeats,
        "cells": cells,
        "seconds": wall,
        "cells_per_second": cells / wall,
        "statuses": statuses,
        "projected_minutes_all_cells": NUM_CELLS / (cells / wall) / 60,
    }


def sweep_throughput(device, engine, cells, workers, synthetic, seconds, data_dir=None) -> dict:
    """`harness run-proxies` on the first `cells` cells with `workers` processes on `device`,
    timed from the command's start (process and CUDA start-up included) and by its own summary;
    stopped with SIGTERM (it keeps and reports what it finished) if it runs past `seconds`."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "cli",
            "run-proxies",
            "--proxies",
            "ntk_cond",
            "--profile",
            "tenas",
            "--ntk-engine",
            engine,
            "--repeats",
            "1",
            "--indices",
            f"0-{cells - 1}",
            "--workers",
            str(workers),
            "--threads",
            "1",
            "--device",
            str(device),
            "--out",
            os.path.join(tmp, "sweep.sqlite"),
            "--quiet",
            "--json",
        ]
        if synthetic:
            cmd += ["--dataset", "synthetic"]
        elif data_dir:
            cmd += ["--data-dir", str(data_dir)]
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            stdout, stderr = proc.communicate(timeout=seconds)
        except (
            subprocess.TimeoutExpired
        ):  # stop it like a scheduler would: it records what it finished
            proc.terminate()
            stdout, stderr = proc.communicate(timeout=60)
        wall = time.perf_counter() - start
    if proc.returncode not in (0, 130) or "{" not in stdout:
        raise RuntimeError(f"run-proxies exited {proc.returncode}: {stderr.strip()[-1500:]}")
    summary = json.loads(stdout[stdout.index("{") :])
    scored = summary["scored"]
    return {
        "engine": engine,
        "workers": workers,
        "cells": scored,
        "wall_seconds": wall,
        "sweep_wall_seconds": summary["wall_seconds"],
        "status_counts": summary["status_counts"],
        "stopped_at_time_limit": summary["interrupted"],
        "cells_per_second": scored / summary["wall_seconds"],
        "projected_minutes_all_cells": NUM_CELLS * summary["wall_seconds"] / scored / 60
        if scored
        else None,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda[:N] (default) or cpu for a dry run")
    ap.add_argument(
        "--budget", type=float, default=240.0, help="seconds for the whole check (default 240)"
    )
    ap.add_argument(
        "--engines",
        default="graph,batched",
        help="engines to check and time (default graph,batched)",
    )
    ap.add_argument(
        "--dataset", default="auto", help="cifar10, synthetic or auto (default: cifar10 if present)"
    )
    ap.add_argument(
        "--data-dir",
        default=None,
        help="data folder (default: $HARNESS_DATA_DIR, else the user cache, then the embedded sample)",
    )
    ap.add_argument(
        "--out", default=None, help="JSON path (default: $OUT/gpu_check.json when $OUT is set)"
    )
    ap.add_argument(
        "--agreement-cells",
        type=int,
        default=len(AGREEMENT_CELLS),
        help=f"how many of the {len(AGREEMENT_CELLS)} agreement cells to check (default all)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's; 1 for --device cpu)",
    )
    ap.add_argument(
        "--sweep-workers",
        type=int,
        default=None,
        help="worker processes of the run-proxies section (default 4 on CUDA, 1 on CPU)",
    )
    ap.add_argument(
        "--sweep-cells",
        type=int,
        default=None,
        help="cells of the run-proxies section (default 600 on CUDA, 3 on CPU)",
    )
    args = ap.parse_args(argv)
    start = time.perf_counter()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: CUDA is not available here; use --device cpu for a dry run.")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.threads or device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    out_path = args.out or (
        os.path.join(os.environ["OUT"], "gpu_check.json") if os.environ.get("OUT") else None
    )
    torch.backends.cudnn.allow_tf32 = (
        False  # exact float32, as the engines run it (TF32 changes κ ~1e-3)
    )
    torch.backends.cuda.matmul.allow_tf32 = False
    images = load(args.dataset, args.data_dir)
    profile = get_profile("tenas")
    from harness.data import image_batch

    x, _ = image_batch(images, profile.batch_size, profile.data_seed, augment=profile.augment)
    x = x.to(device)
    summary = {
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor(),
        "images": f"{images.dataset} {images.split} ({images.source})",
        "synthetic": bool(images.synthetic),
        "profile": "tenas",
        "batch_size": profile.batch_size,
        "tf32": False,
    }
    sections = [
        (
            "agreement",
            lambda left: agreement(device, x, images.num_classes, engines, args.agreement_cells),
        ),
        *[
            (
                f"ntk_proxy_{e}",
                lambda left, e=e: ntk_throughput(
                    device, x, images.num_classes, e, min(30.0, left / 4)
                ),
            )
            for e in engines
        ],
        ("ntk_breakdown", lambda left: breakdown(device, x, images.num_classes, engines[0])),
        (
            "ntk_scorer",
            lambda left: scorer_throughput(
                device, images, "ntk_cond", engines[0], min(30.0, left / 3), 1
            ),
        ),
        (
            "linear_regions_scorer_1_repeat",
            lambda left: scorer_throughput(
                device, images, "linear_regions", None, min(20.0, left / 3), 1
            ),
        ),
        (
            "linear_regions_scorer_all_repeats",
            lambda left: scorer_throughput(
                device, images, "linear_regions", None, min(20.0, left / 3), profile.repeats
            ),
        ),
        (
            "ntk_sweep",
            lambda left: sweep_throughput(
                device,
                engines[0],
                args.sweep_cells or (600 if device.type == "cuda" else 3),
                args.sweep_workers or (4 if device.type == "cuda" else 1),
                bool(images.synthetic),
                left - 5,
                args.data_dir,
            ),
        ),
    ]
    for name, run in sections:
        left = args.budget - (time.perf_counter() - start)
        if left < 10:
            summary[name] = {"skipped": f"time budget spent ({args.budget:.0f} s)"}
            continue
        try:
            summary[name] = run(left)
        except Exception as err:  # noqa: BLE001 -- report every section, even after one fails
            summary[name] = {
                "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc()[-2000:],
            }
        print(f"{name}: {json.dumps(summary[name], default=float)[:300]}", flush=True)
    summary["total_seconds"] = time.perf_counter() - start
    text = json.dumps(summary, indent=2, default=float)
    print(text)
    if out_path:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        Path(out_path).write_text(text)
    return summary


if __name__ == "__main__":
    main()
