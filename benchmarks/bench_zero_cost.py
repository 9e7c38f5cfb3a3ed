"""Time the zero-cost baselines per cell, each alone and all in one scorer call (shared passes).

Proxies that are functions of one common pass (snip, grad_norm, plain and fisher of the loss
gradients; jacob_cov and epe_nas of the input Jacobian; zico and zico_per_batch of the half-batch
gradients) get it computed once when scored together. This prints, for the same cells, inputs and
seeds: median seconds per cell of every proxy scored alone, the wall-clock per cell of the whole
set scored alone one by one vs together, the ratio, a check that every value is identical, and
the projection for the whole space (15,625 cells, or its 6,466 isomorphism classes).

    .venv/bin/python benchmarks/bench_zero_cost.py --cells 8
    .venv/bin/python benchmarks/bench_zero_cost.py --cells 8 --proxies snip,grad_norm,plain --json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import proxies as proxy_registry
from harness.data import load_images
from sweep.profiles import get_profile
from sweep.scoring import CellScorer
from harness.spaces.nb201 import NUM_CELLS, Nb201Arch, num_unique


def default_proxies() -> list[str]:
    """Every per-cell proxy the bench profile scores (not the TE-NAS pair, benchmarked elsewhere)."""
    skip = {"ntk_cond", "linear_regions"}
    return [
        n for n in proxy_registry.list_proxies() if n not in skip and proxy_registry.get_proxy(n).fn
    ]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8, help="cells, a seeded sample of the space")
    parser.add_argument(
        "--proxies", default=None, help="comma-separated (default: every zero-cost proxy)"
    )
    parser.add_argument("--profile", default="bench")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.proxies.split(",") if args.proxies else default_proxies()
    profile = get_profile(args.profile, repeats=1)
    images = load_images(args.dataset, "train", args.data_dir)
    cells = random.Random(args.seed).sample(range(NUM_CELLS), args.cells)
    together_scorer = CellScorer(profile, names, images, args.device)
    alone_scorers = {n: CellScorer(profile, [n], images, args.device) for n in names}

    alone = {n: [] for n in names}
    alone_wall, together_wall, mismatches = [], [], []
    for cell in cells:
        arch = Nb201Arch.from_index(cell)
        start = time.perf_counter()
        solo = {n: alone_scorers[n].score(arch, [(n, 0)])[0] for n in names}
        alone_wall.append(time.perf_counter() - start)
        start = time.perf_counter()
        joint = together_scorer.score(arch, [(n, 0) for n in names])
        together_wall.append(time.perf_counter() - start)
        for row in joint:
            alone[row.proxy].append(solo[row.proxy].seconds)
            if (row.value, row.status) != (solo[row.proxy].value, solo[row.proxy].status):
                mismatches.append((cell, row.proxy, row.value, solo[row.proxy].value))

    per_alone, per_together = statistics.median(alone_wall), statistics.median(together_wall)
    result = {
        "profile": args.profile,
        "device": args.device,
        "threads": args.threads,
        "cells": cells,
        "seconds_per_cell": {n: statistics.median(v) for n, v in alone.items()},
        "seconds_per_cell_alone": per_alone,
        "seconds_per_cell_together": per_together,
        "speedup": per_alone / per_together,
        "mismatches": len(mismatches),
        "projected_hours_all_cells": per_together * NUM_CELLS / 3600,
        "projected_hours_unique": per_together * num_unique() / 3600,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.profile} profile, {args.device}, {args.threads} thread(s), {len(cells)} cells: {cells}"
        )
        for n, v in sorted(result["seconds_per_cell"].items(), key=lambda kv: -kv[1]):
            shared = proxy_registry.get_proxy(n).shared_pass
            print(f"  {n:16s} {v:7.3f} s/cell alone" + (f"   (shares {shared})" if shared else ""))
        print(f"all {len(names)} proxies, one by one : {per_alone:7.2f} s/cell")
        print(
            f"all {len(names)} proxies, together   : {per_together:7.2f} s/cell  "
            f"({result['speedup']:.2f}x, values identical: {not mismatches})"
        )
        print(
            f"projection, one worker: {result['projected_hours_all_cells']:.1f} h for all {NUM_CELLS} cells, "
            f"{result['projected_hours_unique']:.1f} h for the {num_unique()} isomorphism classes"
        )
    if mismatches:
        print(f"MISMATCH: {mismatches[:5]}", file=sys.stderr)
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
