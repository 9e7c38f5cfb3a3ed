"""`harness search`: TE-NAS pruning search and baselines on a space, one run per seed; leaderboard."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from cli.plugin_option import plugin_option

ALGO_HELP = "tenas | random | best-of-n | evolution"
DATASET_HELP = "cifar10 | cifar100 | ImageNet16-120"
DARTS_DATASET_HELP = "cifar10 | imagenet"
_TENAS_OPTIONS = (
    "batch_size",
    "repeats",
    "lr_samples",
    "lr_batches",
    "lr_patch",
    "precision",
    "prune_number",
    "init",
    "ntk_engine",
    "kappa_dtype",
)
#: TE-NAS options that the proxy baselines take too (speed only).
_SHARED_OPTIONS = {"ntk_engine": ("tenas", "best-of-n", "evolution")}
_TENAS_FLAGS = ("fixed_inputs", "no_trajectory")
_BASELINE_OPTIONS = {
    "proxy": ("best-of-n", "evolution"),
    "profile": ("best-of-n", "evolution"),
    "n": ("best-of-n",),
    "budget": ("evolution",),
    "population": ("evolution",),
    "sample_size": ("evolution",),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_combination(algo: str, given: dict) -> None:
    """Reject options that the chosen algorithm would silently ignore."""
    from harness.errors import InputError

    for name in _TENAS_OPTIONS:
        algos = _SHARED_OPTIONS.get(name, ("tenas",))
        if given[name] is not None and algo not in algos:
            raise InputError(
                f"{_flag(name)} applies to --algo {' / '.join(algos)} only; got --algo {algo}."
            )
    for name in _TENAS_FLAGS:
        if given[name] and algo != "tenas":
            raise InputError(f"{_flag(name)} applies to --algo tenas only; got --algo {algo}.")
    for name, algos in _BASELINE_OPTIONS.items():
        if given[name] is not None and algo not in algos:
            raise InputError(
                f"{_flag(name)} applies to --algo {' / '.join(algos)} only; got --algo {algo}."
            )


def _settings(algo: str, space: str, dataset: str, given: dict):
    from search.baselines import BaselineConfig
    from search.nb201_adapter import NB201_DEFAULTS
    from search.tenas import TenasConfig

    if algo == "tenas":
        values = {**NB201_DEFAULTS[dataset]} if space == "nb201" else {}
        values.update({k: given[k] for k in _TENAS_OPTIONS if given[k] is not None})
        return TenasConfig(
            **values, fixed_inputs=given["fixed_inputs"], trajectory=not given["no_trajectory"]
        )
    values = {k: given[k] for k in (*_BASELINE_OPTIONS, *_SHARED_OPTIONS) if given[k] is not None}
    return BaselineConfig(**values).resolved(algo)


def _summary_line(record: dict, skipped: bool) -> str:
    acc = record["accuracies"]
    parts = [
        f"seed {record['seed']}: {record['arch_str']} (index {record['index']})",
        "C10 {:.2f} / C100 {:.2f} / IN16 {:.2f}".format(
            acc["cifar10/ori-test@200"],
            acc["cifar100/x-test@200"],
            acc["ImageNet16-120/x-test@200"],
        ),
        f"{record['search_seconds']:.1f} s",
    ]
    return ", ".join(parts) + (" (already done; not rerun)" if skipped else "")


def _mean_std(values: list[float]) -> str:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return f"{mean:.2f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return f"{mean:.2f} ± {std:.2f}"


@click.command("search")
@plugin_option()
@click.option("--algo", default=None, metavar="NAME", help=f"Search algorithm: {ALGO_HELP}.")
@click.option(
    "--space",
    default="nb201",
    show_default=True,
    metavar="NAME",
    help="Search space: nb201 | darts (darts: --algo tenas only).",
)
@click.option(
    "--dataset",
    default="cifar10",
    show_default=True,
    metavar="NAME",
    help=f"Search dataset, whose TRAINING images feed the proxies: {DATASET_HELP} for nb201 (the "
    f"found cell's accuracies are looked up on all three); {DARTS_DATASET_HELP} for darts "
    "(imagenet: an ImageFolder tree <data dir>/imagenet/train/, images resized to 32x32).",
)
@click.option(
    "--seeds",
    default="0",
    show_default=True,
    metavar="SPEC",
    help="Seeds, e.g. 3, 0-4 or 0,2,7-9; one run each, in order.",
)
# TE-NAS settings (None = the official value).
@click.option(
    "--batch-size",
    type=int,
    default=None,
    help="[tenas] NTK batch, images (official: 72 nb201; darts 14 cifar10, 24 imagenet).",
)
@click.option(
    "--repeats", type=int, default=None, help="[tenas] repeats averaged per candidate (official 3)."
)
@click.option(
    "--lr-samples",
    type=int,
    default=None,
    help="[tenas] crops per linear-region batch (official 1000).",
)
@click.option(
    "--lr-batches",
    type=int,
    default=None,
    help="[tenas] linear-region batches per count (official 3).",
)
@click.option("--lr-patch", type=int, default=None, help="[tenas] crop side, pixels (official 3).")
@click.option(
    "--precision",
    type=int,
    default=None,
    help="[tenas] rounding decimals / sort-key significant figures (official 3).",
)
@click.option(
    "--prune-number",
    type=int,
    default=None,
    help="[tenas] ops removed per edge per round (official: 1 nb201; darts 3 cifar10, 2 imagenet).",
)
@click.option(
    "--fixed-inputs",
    is_flag=True,
    help="[tenas] TEGNAS fix: one NTK batch, one crop set and per-repeat networks for every call "
    "(default: official fresh batches and networks).",
)
@click.option(
    "--init",
    default=None,
    metavar="NAME",
    help="[tenas] pytorch-default (official: its custom init never runs) | kaiming (the intended "
    "Kaiming-normal re-init per repeat).",
)
@click.option(
    "--ntk-engine",
    default=None,
    metavar="NAME",
    help="[tenas, best-of-n, evolution] proxies.ntk engine: oracle | batched | graph | compiled "
    "(default: graph for tenas; the profile's engine for the baselines). Every engine gives "
    "the same kernel; only the speed differs (compiled is fastest on CPU for long runs).",
)
@click.option(
    "--kappa-dtype",
    default=None,
    metavar="NAME",
    help="[tenas] eigenvalue precision: float32 (official symeig) | float64.",
)
@click.option(
    "--no-trajectory",
    is_flag=True,
    help="[tenas] skip measuring κ and R of the supernet after each round.",
)
# Baseline settings.
@click.option(
    "--proxy",
    default=None,
    metavar="NAME",
    help="[best-of-n, evolution] proxy (see `harness proxies`), or tenas (rank sum, best-of-n only).",
)
@click.option(
    "--profile",
    default=None,
    metavar="NAME",
    help="[best-of-n, evolution] tenas | bench (default: tenas for tenas/ntk_cond/linear_regions, "
    "bench otherwise).",
)
@click.option("--n", "n", type=int, default=None, help="[best-of-n] cells sampled (default 100).")
@click.option("--budget", type=int, default=None, help="[evolution] fitness queries (default 100).")
@click.option(
    "--population", type=int, default=None, help="[evolution] population size (default 20)."
)
@click.option(
    "--sample-size", type=int, default=None, help="[evolution] tournament size (default 5)."
)
# Common.
@click.option(
    "--data-dir",
    type=click.Path(),
    default=None,
    help="Data folder (default: $HARNESS_DATA_DIR, else the user cache, then the embedded sample).",
)
@click.option(
    "--source",
    default=None,
    metavar="NAME",
    help="Image source of the search dataset (cifar10: batches | npz | jpeg10k | jpegbytes; default: "
    "the official batches if present, else the exact-pixel npz). CIFAR-100 and ImageNet16-120 "
    "need the official files.",
)
@click.option(
    "--bench",
    type=click.Path(),
    default=None,
    help="Benchmark: nb201_accuracy.csv, an official NB201 .pth or NATS-Bench TSS folder "
    "(default: <data dir>/nb201/nb201_accuracy.csv).",
)
@click.option("--device", default="cpu", show_default=True, help="cpu | cuda | cuda:N.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="torch CPU threads (default: torch's own choice).",
)
@click.option(
    "--out",
    default="runs/search",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Root folder; runs go to <out>/<space>/<dataset>/<run name>/seed<k>/.",
)
@click.option("--tag", default=None, help="Suffix of the run folder name, to keep variants apart.")
@click.option(
    "--force", is_flag=True, help="Rerun and overwrite a finished run with other settings."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result records as a JSON list.")
@click.option("--quiet", is_flag=True, help="No progress bars or log lines on stderr.")
@click.option(
    "--leaderboard",
    is_flag=True,
    help="Write leaderboard.csv/.md from every run under <out>/<space>/<dataset> (after the runs; "
    "without --algo, only that).",
)
@click.option(
    "--leaderboard-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the leaderboard goes (default: <out>/<space>/<dataset>).",
)
def command(
    algo,
    space,
    dataset,
    seeds,
    batch_size,
    repeats,
    lr_samples,
    lr_batches,
    lr_patch,
    precision,
    prune_number,
    fixed_inputs,
    init,
    ntk_engine,
    kappa_dtype,
    no_trajectory,
    proxy,
    profile,
    n,
    budget,
    population,
    sample_size,
    data_dir,
    source,
    bench,
    device,
    threads,
    out,
    tag,
    force,
    as_json,
    quiet,
    leaderboard,
    leaderboard_dir,
):
    """Search a space with TE-NAS pruning or a baseline; one run per seed.

    Each run writes result.json (found cell, its accuracies on CIFAR-10, CIFAR-100 and
    ImageNet16-120, search seconds, settings, quirk options and, for TE-NAS, the per-round
    record), config.json and log.txt. A finished run with the same settings is not rerun.
    """
    from harness.atomic import check_writable_dir
    from harness.devices import check_device
    from harness.errors import InputError
    from search import records
    from search.runs import ALGOS, DATASETS, check_choice, check_space

    given = dict(
        batch_size=batch_size,
        repeats=repeats,
        lr_samples=lr_samples,
        lr_batches=lr_batches,
        lr_patch=lr_patch,
        precision=precision,
        prune_number=prune_number,
        init=init,
        ntk_engine=ntk_engine,
        kappa_dtype=kappa_dtype,
        fixed_inputs=fixed_inputs,
        no_trajectory=no_trajectory,
        proxy=proxy,
        profile=profile,
        n=n,
        budget=budget,
        population=population,
        sample_size=sample_size,
    )
    if space == "darts":
        _darts_command(
            algo,
            dataset,
            seeds,
            given,
            data_dir,
            source,
            bench,
            device,
            threads,
            out,
            tag,
            force,
            as_json,
            quiet,
            leaderboard,
        )
        return
    check_space(space)
    check_choice("dataset", dataset, DATASETS)
    if algo is None and not leaderboard:
        raise InputError(
            f"--algo is required ({ALGO_HELP}), unless --leaderboard alone rebuilds the leaderboard."
        )
    results = []
    if algo is not None:
        check_choice("algorithm", algo, ALGOS)
        seed_list = records.parse_seeds(seeds)
        _check_combination(algo, given)
        settings = _settings(algo, space, dataset, given)
        check_writable_dir(out, "search runs")  # before any work
        if leaderboard:
            check_writable_dir(leaderboard_dir or Path(out) / space / dataset, "the leaderboard")
        results = _run_all(
            algo,
            space,
            dataset,
            seed_list,
            settings,
            data_dir,
            source,
            bench,
            check_device(device),
            threads,
            out,
            tag,
            force,
            quiet,
        )
        if as_json:
            click.echo(json.dumps([r.record for r in results], indent=2))
        else:
            for r in results:
                click.echo(_summary_line(r.record, r.skipped))
            if len(results) > 1:
                accs = [
                    [r.record["accuracies"][k] for r in results] for k in records.ACCURACY_KEYS[:3]
                ]
                secs = sum(r.record["search_seconds"] for r in results) / len(results)
                click.echo(
                    f"{results[0].record['method']}, {len(results)} seeds: C10 {_mean_std(accs[0])} / "
                    f"C100 {_mean_std(accs[1])} / IN16 {_mean_std(accs[2])}, mean {secs:.1f} s"
                )
    if leaderboard:
        from search.leaderboard import (
            build_search_leaderboard,
            load_results_frame,
            write_search_leaderboard,
        )

        root = Path(out) / space / dataset
        if not root.is_dir():
            raise InputError(f"no search runs under {str(root)!r} to build a leaderboard from.")
        board = build_search_leaderboard(load_results_frame([root]))
        check_writable_dir(leaderboard_dir or root, "the leaderboard")
        written = write_search_leaderboard(board, leaderboard_dir or root)
        if not as_json:
            click.echo(f"leaderboard: {written['csv']} {written['md']}")


def _run_all(
    algo,
    space,
    dataset,
    seed_list,
    settings,
    data_dir,
    source,
    bench,
    device,
    threads,
    out,
    tag,
    force,
    quiet,
):
    """Load data and benchmark once (failing before any work), then run the seeds in order."""
    import torch

    from harness.bench import load_benchmark
    from search.runs import SearchSpec, execute, load_search_images

    if threads is not None:
        torch.set_num_threads(threads)
    images = load_search_images(dataset, data_dir, source)
    benchmark = load_benchmark(source=bench, data_dir=data_dir)
    echo = None if quiet else (lambda msg: click.echo(msg, err=True))
    results = []
    for seed in seed_list:
        spec = SearchSpec(
            algo, space, dataset, seed, settings, out=out, tag=tag, device=device, threads=threads
        )
        results.append(
            execute(
                spec, images, benchmark, force=force, progress=False if quiet else None, on_log=echo
            )
        )
    return results


# ---------------------------------------------------------------------------- DARTS space


def _darts_command(
    algo,
    dataset,
    seeds,
    given,
    data_dir,
    source,
    bench,
    device,
    threads,
    out,
    tag,
    force,
    as_json,
    quiet,
    leaderboard,
):
    """`harness search --space darts`: TE-NAS op pruning (official DARTS settings per dataset), then
    the edge pruning to two inputs per node; one genotype per seed."""
    import torch

    from harness.atomic import check_writable_dir
    from harness.devices import check_device
    from harness.errors import InputError
    from search import records
    from search.darts_adapter import check_dataset
    from search.darts_runs import DartsSearchSpec, darts_config, execute, load_search_images
    from search.runs import ALGOS, check_choice

    if algo is None:
        raise InputError("--algo is required; --space darts supports --algo tenas.")
    check_choice("algorithm", algo, ALGOS)
    if algo != "tenas":
        raise InputError(
            f"--space darts supports --algo tenas only; got --algo {algo} (the baselines score "
            f"NB201 cells against its benchmark)."
        )
    check_dataset(dataset)
    if leaderboard:
        raise InputError(
            "--leaderboard ranks NB201 benchmark accuracies; DARTS has no benchmark "
            "(train the found genotype with `harness train --genotype <result.json>`)."
        )
    if bench is not None:
        raise InputError("--bench applies to --space nb201 only; DARTS has no benchmark.")
    seed_list = records.parse_seeds(seeds)
    _check_combination(algo, given)
    overrides = {k: given[k] for k in _TENAS_OPTIONS if given[k] is not None}
    settings = darts_config(
        dataset,
        **overrides,
        fixed_inputs=given["fixed_inputs"],
        trajectory=not given["no_trajectory"],
    )
    device = check_device(device)
    check_writable_dir(out, "search runs")  # before any work
    if threads is not None:
        torch.set_num_threads(threads)
    images = load_search_images(dataset, data_dir, source)
    echo = None if quiet else (lambda msg: click.echo(msg, err=True))
    results = []
    for seed in seed_list:
        spec = DartsSearchSpec(
            dataset, seed, settings, out=out, tag=tag, device=device, threads=threads
        )
        results.append(
            execute(spec, images, force=force, progress=False if quiet else None, on_log=echo)
        )
    if as_json:
        click.echo(json.dumps([r.record for r in results], indent=2))
        return
    for r in results:
        click.echo(_darts_summary_line(r.record, r.skipped))


def _darts_summary_line(record: dict, skipped: bool) -> str:
    cifar, imagenet = record["sizes"]["cifar10"], record["sizes"]["imagenet"]
    line = (
        f"seed {record['seed']}: {record['genotype']}; CIFAR-10 network {cifar['params'] / 1e6:.2f} M params; "
        f"ImageNet network {imagenet['params'] / 1e6:.2f} M params, {imagenet['macs'] / 1e6:.0f} M MACs; "
        f"search {record['search_seconds']:.1f} s ({record['search_days']:.4f} days on "
        f"{record['device_name']})"
    )
    return line + (" (already done; not rerun)" if skipped else "")
