"""`harness run-proxies`: score the cells of an enumerable search space (NB201) with registered
proxies into a resumable store."""

from __future__ import annotations

import shlex
import sys

import click

from cli.plugin_option import plugin_option
from harness.errors import InputError
from sweep.profiles import MEANT_FOR, PROFILES, get_profile
from sweep.runner import BACKENDS, SweepOptions, SweepSpec, run_sweep
from harness.selection import parse_indices, parse_shard, select_cells
from harness.spaces.registry import get_sweepable_space, sweepable_spaces

DATASET_CHOICES = ("cifar10", "cifar100", "ImageNet16-120", "synthetic")


@click.command("run-proxies")
@click.option(
    "--space",
    default="nb201",
    show_default=True,
    help=f"Search space with an enumerable cell list: {', '.join(sweepable_spaces())}.",
)
@click.option(
    "--proxies",
    "proxy_list",
    required=True,
    help="Comma-separated proxy names (see `harness proxies`); `tenas` adds ntk_cond and linear_regions.",
)
@click.option(
    "--profile",
    default="tenas",
    show_default=True,
    help="Proxy configuration: "
    + "; ".join(f"{p} (for {MEANT_FOR[p]})" for p in PROFILES)
    + ". Other combinations run, with a note on what they cost or mean.",
)
@click.option(
    "--dataset",
    default="cifar10",
    show_default=True,
    help=f"Images the proxies see and classes of the head: {', '.join(DATASET_CHOICES)}.",
)
@click.option(
    "--data-dir",
    default=None,
    help="Data folder (default: $HARNESS_DATA_DIR, else the user cache, then the embedded sample).",
)
@click.option(
    "--data-source",
    default=None,
    help="Form of the dataset to read (e.g. npz, batches, jpegbytes).",
)
@click.option(
    "--indices",
    default=None,
    help="Cells to score: indices, ranges and arch strings, e.g. '0-99,6111'.",
)
@click.option("--arch", "archs", multiple=True, help="An NB201 arch string to score (repeatable).")
@click.option("--limit", type=int, default=None, help="Score only the first N selected cells.")
@click.option(
    "--sample", type=int, default=None, help="Score a seeded random sample of N selected cells."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option(
    "--unique",
    is_flag=True,
    help="Score one cell per isomorphism class and copy its values to the others.",
)
@click.option(
    "--shard",
    "shard_spec",
    default="1/1",
    show_default=True,
    help="Score part i of n (job arrays): i/n.",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes (local) or Ray actors.",
)
@click.option(
    "--threads", type=int, default=None, help="Torch threads per worker (default: cores / workers)."
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--backend", type=click.Choice(BACKENDS), default="local", show_default=True)
@click.option(
    "--address",
    default=None,
    help="Ray cluster address (auto or host:port); default: start a local one.",
)
@click.option(
    "--cpus-per-task", type=int, default=1, show_default=True, help="Ray: CPUs per actor."
)
@click.option(
    "--gpus-per-task", type=float, default=0.0, show_default=True, help="Ray: GPUs per actor."
)
@click.option(
    "--repeats", type=int, default=None, help="Repeats per cell (default: the profile's)."
)
@click.option(
    "--batch-size", type=int, default=None, help="Image batch size (default: the profile's)."
)
@click.option("--ntk-engine", default=None, help="NTK engine (default: the profile's).")
@click.option(
    "--out", default="runs/nb201.sqlite", show_default=True, help="Results store (SQLite)."
)
@click.option(
    "--retry-errors/--keep-errors",
    default=True,
    show_default=True,
    help="Score again the (cell, proxy, repeat) keys stored as errors (the default: a failed key is "
    "never counted as done), or keep them as they are.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@plugin_option(expose=True)
def command(
    space,
    proxy_list,
    profile,
    dataset,
    data_dir,
    data_source,
    indices,
    archs,
    limit,
    sample,
    seed,
    unique,
    shard_spec,
    workers,
    threads,
    device,
    backend,
    address,
    cpus_per_task,
    gpus_per_task,
    repeats,
    batch_size,
    ntk_engine,
    out,
    retry_errors,
    quiet,
    as_json,
    plugins,
):
    """Score NB201 cells with registered proxies into a resumable, shardable results store."""
    import proxies as registry

    get_sweepable_space(space, "run-proxies")
    if dataset not in DATASET_CHOICES:
        raise InputError(f"unknown --dataset {dataset!r}; accepted: {', '.join(DATASET_CHOICES)}.")
    names = [p.strip() for p in proxy_list.split(",") if p.strip()]
    if not names:
        raise InputError("--proxies is empty; give comma-separated names from `harness proxies`.")
    for name in names:
        registry.get_proxy(name)
    prof = get_profile(profile, repeats=repeats, batch_size=batch_size, ntk_engine=ntk_engine)
    if dataset == "synthetic":
        dataset, data_source = "synthetic", data_source or "cifar10"
    selected = parse_indices(indices, space) if indices is not None else None
    cells = select_cells(selected, archs, sample, seed, limit, space=space)
    spec = SweepSpec(
        tuple(names), prof, dataset, data_dir, data_source, device, space=space, plugins=plugins
    )
    options = SweepOptions(
        cells,
        unique,
        parse_shard(shard_spec),
        workers,
        threads,
        backend,
        address,
        cpus_per_task,
        gpus_per_task,
        retry_errors,
        quiet,
        command=" ".join(shlex.quote(a) for a in ["harness", *sys.argv[1:]]),
    )
    summary = run_sweep(spec, options, out)
    click.echo(summary.report(as_json))
    if summary.interrupted:
        sys.exit(130)
