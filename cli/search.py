"""`harness search`: TE-NAS pruning search and baselines on a space, one run per seed; leaderboard.

One path for every space: `--space` and `--algo` are checked against the registries
(`search.spaces.SEARCH_SPACES`, `search.algorithms.ALGORITHMS`), and the help texts read their
defaults from the settings dataclasses and the spaces' official TE-NAS settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.plugin_option import plugin_option
from cli.results_options import ensembles_file_option
from proxies.ntk import NTK_ENGINES
from search.algorithms import ALGORITHMS
from search.baselines import TENAS_PROFILE_PROXIES, BaselineConfig
from search.spaces import SEARCH_SPACES
from search.tenas import INITS, KAPPA_DTYPES, TenasConfig
from search.tenas.indicators import DEFAULT_INDICATORS

_TENAS, _BASELINE = TenasConfig(), BaselineConfig()
ALGO_HELP = " | ".join(ALGORITHMS.names())
#: Command-line flags whose settings field has another name.
_FLAGS = {"trajectory": "--no-trajectory"}


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def _algos_taking(name: str) -> list[str]:
    return [a.name for a in ALGORITHMS if name in a.takes]


def _for(name: str) -> str:
    """The help prefix naming the algorithms that take setting `name`, e.g. ``[tenas]``."""
    return "[" + ", ".join(_algos_taking(name)) + "]"


def _official(name: str) -> str:
    """The official TE-NAS value of `name` per space: ``72 nb201; darts 14 cifar10, 24 imagenet``."""
    parts = []
    for adapter in SEARCH_SPACES:
        values = {
            d: adapter.tenas_defaults[d].get(name, getattr(_TENAS, name)) for d in adapter.datasets
        }
        if len(set(values.values())) == 1:
            parts.append(f"{next(iter(values.values()))} {adapter.name}")
        else:
            parts.append(f"{adapter.name} " + ", ".join(f"{v} {d}" for d, v in values.items()))
    return "; ".join(parts)


def _space_help() -> str:
    limits = [
        f"{a.name}: --algo {' / '.join(names)} only"
        for a in SEARCH_SPACES
        if len(names := [s.name for s in ALGORITHMS if a.name in s.spaces]) < len(ALGORITHMS)
    ]
    return f"Search space: {' | '.join(SEARCH_SPACES.names())}" + (
        f" ({'; '.join(limits)})." if limits else "."
    )


def _dataset_help() -> str:
    per_space = "; ".join(
        f"{' | '.join(a.datasets)} for {a.name} {a.dataset_note}".rstrip() for a in SEARCH_SPACES
    )
    return f"Search dataset, whose TRAINING images feed the proxies: {per_space}."


def _given(algo: str, options: dict) -> dict:
    """The settings fields the command line sets, after rejecting any that `algo` would
    silently ignore."""
    from harness.errors import InputError

    given = {k: v for k, v in options.items() if v is not None and v is not False}
    if given.pop("no_trajectory", False):
        given["trajectory"] = False
    for name in given:
        algos = _algos_taking(name)
        if algo not in algos:
            raise InputError(
                f"{_flag(name)} applies to --algo {' / '.join(algos)} only; got --algo {algo}."
            )
    return given


def _int(name: str, help: str):
    return click.option(_flag(name), name, type=int, default=None, help=help)


def _name(name: str, help: str):
    return click.option(_flag(name), name, default=None, metavar="NAME", help=help)


@click.command("search")
@plugin_option()
@click.option("--algo", default=None, metavar="NAME", help=f"Search algorithm: {ALGO_HELP}.")
@click.option("--space", default="nb201", show_default=True, metavar="NAME", help=_space_help())
@click.option(
    "--dataset", default="cifar10", show_default=True, metavar="NAME", help=_dataset_help()
)
@click.option(
    "--seeds",
    default="0",
    show_default=True,
    metavar="SPEC",
    help="Seeds, e.g. 3, 0-4 or 0,2,7-9; one run each, in order.",
)
# TE-NAS settings (None = the official value).
@_int(
    "batch_size", f"{_for('batch_size')} NTK batch, images (official: {_official('batch_size')})."
)
@_int("repeats", f"{_for('repeats')} repeats averaged per candidate (official {_TENAS.repeats}).")
@_int(
    "lr_samples",
    f"{_for('lr_samples')} crops per linear-region batch (official {_TENAS.lr_samples}).",
)
@_int(
    "lr_batches",
    f"{_for('lr_batches')} linear-region batches per count (official {_TENAS.lr_batches}).",
)
@_int("lr_patch", f"{_for('lr_patch')} crop side, pixels (official {_TENAS.lr_patch}).")
@_int(
    "precision",
    f"{_for('precision')} rounding decimals / sort-key significant figures "
    f"(official {_TENAS.precision}).",
)
@_int(
    "prune_number",
    f"{_for('prune_number')} ops removed per edge per round "
    f"(official: {_official('prune_number')}).",
)
@_name(
    "indicators",
    f"{_for('indicators')} what ranks the removals: registry proxies and/or ensembles, "
    f"NAME[,NAME...] (default: {','.join(DEFAULT_INDICATORS)}, TE-NAS itself). One ensemble "
    "brings its aggregation (built-in, or of --ensembles FILE); a list aggregates by rank_sum. "
    "Only functions of the supernet's "
    "masked forward pass qualify (docs/indicators.md).",
)
@click.option(
    "--fixed-inputs",
    is_flag=True,
    help=f"{_for('fixed_inputs')} TEGNAS fix: one NTK batch, one crop set and per-repeat "
    "networks for every call (default: official fresh batches and networks).",
)
@_name(
    "init",
    f"{_for('init')} {_TENAS.init} (official: its custom init never runs) | "
    f"{INITS[1]} (the intended Kaiming-normal re-init per repeat).",
)
@_name(
    "ntk_engine",
    f"{_for('ntk_engine')} proxies.ntk engine: {' | '.join(NTK_ENGINES)} (default: "
    f"{_TENAS.ntk_engine} for tenas; the profile's engine for the baselines). Every engine gives "
    "the same kernel; only the speed differs (compiled is fastest on CPU for long runs).",
)
@_name(
    "kappa_dtype",
    f"{_for('kappa_dtype')} eigenvalue precision: {_TENAS.kappa_dtype} (official symeig) | "
    f"{' | '.join(d for d in KAPPA_DTYPES if d != _TENAS.kappa_dtype)}.",
)
@click.option(
    "--no-trajectory",
    is_flag=True,
    help=f"{_for('trajectory')} skip measuring κ and R of the supernet after each round.",
)
# Baseline settings.
@_name(
    "proxy",
    f"{_for('proxy')} proxy (see `harness proxies`) or ensemble (`harness ensemble list`, or "
    "one of --ensembles FILE): its members ranked over the cells seen, then aggregated.",
)
@_name(
    "profile",
    f"{_for('profile')} tenas | bench (default: tenas for {'/'.join(TENAS_PROFILE_PROXIES)}, "
    "bench otherwise).",
)
@ensembles_file_option(
    "ensembles_file",
    "nameable in --indicators and --proxy; the record keeps each one's members and aggregation",
)
@_int("n", f"{_for('n')} cells sampled (default {_BASELINE.n}).")
@_int("budget", f"{_for('budget')} fitness queries (default {_BASELINE.budget}).")
@_int("population", f"{_for('population')} population size (default {_BASELINE.population}).")
@_int("sample_size", f"{_for('sample_size')} tournament size (default {_BASELINE.sample_size}).")
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
    ensembles_file,
    **options,
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
    from search.runs import SearchSpec, check_algorithm, resolve_settings

    if ensembles_file is not None:
        from harness.ensembles import load_ensembles, user_ensembles

        if algo not in ("tenas", "best-of-n", "evolution"):
            raise InputError(
                "--ensembles names ensembles for --indicators (--algo tenas) and --proxy "
                f"(--algo best-of-n / evolution); got --algo {algo}."
            )
        click.get_current_context().with_resource(user_ensembles(load_ensembles(ensembles_file)))
    adapter = SEARCH_SPACES.get(space)
    adapter.check_dataset(dataset)
    supported = [a.name for a in ALGORITHMS if space in a.spaces]
    if algo is None and not (leaderboard and adapter.benchmark):
        raise InputError(
            f"--algo is required ({' | '.join(supported)})"
            + (
                ", unless --leaderboard alone rebuilds the leaderboard."
                if adapter.benchmark
                else "."
            )
        )
    if algo is not None:
        check_algorithm(algo, space)
    if not adapter.benchmark and leaderboard:
        raise InputError(
            f"--leaderboard ranks NB201 benchmark accuracies; {adapter.label} has no "
            f"benchmark{adapter.next_step}."
        )
    if not adapter.benchmark and bench is not None:
        spaces = [a.name for a in SEARCH_SPACES if a.benchmark]
        raise InputError(
            f"--bench applies to --space {' / '.join(spaces)} only; {adapter.label} has no benchmark."
        )
    board_dir = leaderboard_dir or Path(out) / space / dataset
    if algo is not None:
        seed_list = records.parse_seeds(seeds)
        settings = resolve_settings(algo, space, dataset, _given(algo, options))
        device = check_device(device)
        check_writable_dir(out, "search runs")  # before any work
        if leaderboard:
            check_writable_dir(board_dir, "the leaderboard")
        specs = [
            SearchSpec(algo, space, dataset, seed, settings, out, tag, device, threads)
            for seed in seed_list
        ]
        results = _run_all(specs, data_dir, source, bench, force, quiet)
        if as_json:
            click.echo(json.dumps([r.record for r in results], indent=2))
        else:
            for r in results:
                line = adapter.summary_line(r.record)
                click.echo(line + (" (already done; not rerun)" if r.skipped else ""))
            if (line := adapter.seeds_line([r.record for r in results])) is not None:
                click.echo(line)
    if leaderboard:
        _write_leaderboard(Path(out) / space / dataset, board_dir, as_json)


def _run_all(specs: list, data_dir, source, bench, force: bool, quiet: bool) -> list:
    """Load data (and the benchmark, for a space that has one) once, failing before any work,
    then run the seeds in order."""
    import torch

    from harness.bench import load_benchmark
    from search.runs import execute, load_search_images

    first = specs[0]
    if first.threads is not None:
        torch.set_num_threads(first.threads)
    images = load_search_images(first.space, first.dataset, data_dir, source)
    benchmark = load_benchmark(source=bench, data_dir=data_dir) if first.adapter.benchmark else None
    echo = None if quiet else (lambda msg: click.echo(msg, err=True))
    progress = False if quiet else None
    return [
        execute(spec, images, benchmark, force=force, progress=progress, on_log=echo)
        for spec in specs
    ]


def _write_leaderboard(root: Path, board_dir, as_json: bool) -> None:
    from harness.atomic import check_writable_dir
    from harness.errors import InputError
    from search.leaderboard import (
        build_search_leaderboard,
        load_results_frame,
        write_search_leaderboard,
    )

    if not root.is_dir():
        raise InputError(f"no search runs under {str(root)!r} to build a leaderboard from.")
    board = build_search_leaderboard(load_results_frame([root]))
    check_writable_dir(board_dir, "the leaderboard")
    written = write_search_leaderboard(board, board_dir)
    if not as_json:
        click.echo(f"leaderboard: {written['csv']} {written['md']}")
