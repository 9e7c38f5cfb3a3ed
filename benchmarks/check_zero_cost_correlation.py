"""Check real behaviour of the zero-cost proxies: Spearman rho with NB201 accuracy on fixed cells.

Scores a fixed sample of NB201 cells on the benchmark network (C=16, N=5, the same weight seed
for every cell) with one fixed batch of real CIFAR-10 training images, then prints, per proxy,
Spearman's rho with ``cifar10-valid/x-valid@200`` (signed, on the raw values; every proxy here
is higher-is-better) and the seconds per cell. Per-cell values go to a CSV that later runs reuse
(``--resume``), so a killed run loses at most one cell.

    .venv/bin/python benchmarks/check_zero_cost_correlation.py --proxies naswot,synflow,snip,params
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import proxies  # noqa: F401  (registers every proxy)
from harness.bench import load_benchmark
from harness.data import image_batch, load_images
from harness.spaces.nb201 import NUM_CELLS
from harness.spaces.nb201_net import build_network
from proxies.registry import compute, get_proxy

METRIC = "cifar10-valid/x-valid@200"
LITERATURE = {"naswot": "0.65-0.8", "synflow": "0.7-0.8", "params": "0.7-0.8", "snip": "~0.6"}


def sample_cells(n: int, seed: int = 0) -> list[int]:
    return sorted(random.Random(seed).sample(range(NUM_CELLS), n))


def score_cells(cells, names, x, y, out: Path, resume: bool) -> pd.DataFrame:
    """Score every (cell, proxy) not yet in `out`, appending one row per cell as it finishes."""
    done = pd.read_csv(out) if resume and out.exists() else pd.DataFrame()
    rows = done.to_dict("records")
    have = {(int(r["index"]), r["proxy"]) for r in rows}
    for k, index in enumerate(cells):
        todo = [n for n in names if (index, n) not in have]
        if not todo:
            continue
        torch.manual_seed(0)
        net = build_network(index, "bench")
        for name in todo:
            labels = y if get_proxy(name).needs_labels else None
            start = time.perf_counter()
            value = compute(name, net, x, labels)
            rows.append(
                dict(index=index, proxy=name, value=value, seconds=time.perf_counter() - start)
            )
        pd.DataFrame(rows).to_csv(out, index=False)
        print(f"[{k + 1}/{len(cells)}] cell {index} done", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def correlation_table(scores: pd.DataFrame, cells, accuracy: pd.Series) -> pd.DataFrame:
    """Spearman rho per proxy: ``spearman`` ranks +-inf as extreme values (a disconnected cell's
    -inf is its lowest score) and drops only nan; ``spearman_finite`` drops all non-finite ones."""
    table = []
    acc = accuracy.reindex(cells)
    for name, group in scores[scores["index"].isin(cells)].groupby("proxy", sort=False):
        values = group.set_index("index")["value"].reindex(cells)
        known, finite = values.notna(), values.map(math.isfinite)
        table.append(
            dict(
                proxy=name,
                direction=get_proxy(name).direction,
                spearman=round(float(spearmanr(values[known], acc[known]).statistic), 3),
                spearman_finite=round(float(spearmanr(values[finite], acc[finite]).statistic), 3),
                n=int(known.sum()),
                n_inf=int((known & ~finite).sum()),
                n_nan=int((~known).sum()),
                sec_per_cell=round(float(group["seconds"].mean()), 3),
                literature=LITERATURE.get(name, ""),
            )
        )
    return pd.DataFrame(table)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--proxies",
        default="naswot,synflow,snip,params",
        help="comma-separated proxy names (default: %(default)s)",
    )
    parser.add_argument(
        "--cells", type=int, default=200, help="number of sampled cells (default 200)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="images in the batch (default 64)"
    )
    parser.add_argument(
        "--no-augment",
        action="store_true",
        help="feed the images without NB201's flip+crop (the references' loaders augment)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/check_zero_cost_correlation.csv"),
        help="per-cell values CSV (default %(default)s)",
    )
    parser.add_argument("--resume", action="store_true", help="reuse the values already in --out")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data folder (default: $HARNESS_DATA_DIR, else the user cache, then the embedded sample)",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.proxies.split(",") if n.strip()]
    for n in names:
        get_proxy(n)  # unknown names fail before any work
    cells = sample_cells(args.cells)
    images = load_images("cifar10", "train", args.data_dir)
    x, y = image_batch(images, args.batch_size, seed=0, augment=not args.no_augment)
    accuracy = load_benchmark(data_dir=args.data_dir).accuracies(METRIC)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    scores = score_cells(cells, names, x, y, args.out, args.resume)
    print(
        f"{len(cells)} NB201 cells (random.Random(0).sample), benchmark net C=16 N=5, "
        f"{args.batch_size} CIFAR-10 train images from {images.source}, torch {torch.__version__}, "
        f"{args.threads} thread(s); Spearman rho vs {METRIC}"
    )
    print(
        correlation_table(scores[scores.proxy.isin(names)], cells, accuracy).to_string(index=False)
    )


if __name__ == "__main__":
    main()
