"""`harness ensemble`: list ensembles and aggregations; choose an ensemble honestly (`select`)."""

from __future__ import annotations

import json

import click

#: Where `select` writes by default (the committed selection that `--ensemble selected` reads).
DEFAULT_OUT = "results/nb201/ensembles"


@click.group("ensemble")
def command() -> None:
    """Ensembles of proxies: list them, or select one on half of the cells."""


@command.command("list")
def list_command() -> None:
    """Print the built-in ensembles and the rank aggregations."""
    from harness.ensembles import ENSEMBLES, load_selection
    from harness.ranking import AGGREGATIONS

    click.echo("ensembles:")
    for ens in [*ENSEMBLES, load_selection()]:
        click.echo(f"  {ens.name:10} {ens.kind:9} {ens.aggregation:16} {', '.join(ens.members)}")
    click.echo("aggregations:")
    for agg in AGGREGATIONS:
        better = "higher" if agg.higher_is_better else "lower"
        click.echo(f"  {agg.name:16} {better:6} {agg.description}")


@command.command("select")
@click.option(
    "--results",
    "results",
    multiple=True,
    metavar="FILE",
    help="Results file(s) as for `harness report` (repeatable; more may follow as arguments). "
    "Default: results/nb201/results.csv.gz and results/nb201/az_nas.csv.gz.",
)
@click.option("--bench", type=click.Path(), default=None, help="Benchmark source, as for report.")
@click.option("--data-dir", type=click.Path(), default=None, help="Data folder, as for report.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option(
    "--metric",
    default="cifar10-valid/x-valid@200",
    show_default=True,
    metavar="KEY",
    help="The one benchmark metric key members are chosen on (selection half only).",
)
@click.option(
    "--max-size",
    type=int,
    default=3,
    show_default=True,
    help="Search every subset of 2..N proxies (3: 2,300 subsets of 24 proxies x 4 "
    "aggregations, about 75 s on one core; 4 adds 10,626 subsets, about 5 minutes).",
)
@click.option(
    "--aggregation",
    "aggregations",
    multiple=True,
    metavar="NAME",
    help="Aggregations searched (repeatable). Default: all but mean_rank (which orders cells "
    "exactly as rank_sum does).",
)
@click.option("--exclude", multiple=True, metavar="PROXY", help="Leave this proxy out of the pool.")
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=500,
    show_default=True,
    help="Bootstrap resamples of the held-out cells for the 95% intervals.",
)
@click.option(
    "--out",
    "out_dir",
    default=DEFAULT_OUT,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for selection.json and selection.md (written atomically).",
)
@click.option("--accept-partial", is_flag=True, help="Read incomplete exports (as for report).")
@click.argument("more_results", nargs=-1, type=click.Path(), metavar="[FILE]...")
def select_command(
    results,
    bench,
    data_dir,
    seed,
    metric,
    max_size,
    aggregations,
    exclude,
    bootstrap,
    out_dir,
    accept_partial,
    more_results,
) -> None:
    """Choose an ensemble's members on a seeded half of the cells; report on the other half.

    Whole isomorphism classes go to one half (values are copied across a class). Every subset
    of 2..--max-size proxies, with every aggregation, is ranked by Kendall tau with --metric on
    the selection half; the best is the selected ensemble. Every report key is then computed on
    the held-out half only, with bootstrap intervals, beside the selection half's figures, for
    it, the a-priori ensembles (tenas, az_nas, all) and the best single proxies. Writes
    selection.json (the full configuration, the split's seed and index hash, the figures) and
    selection.md; `--ensemble selected` then scores the committed choice.
    """
    from pathlib import Path

    from cli.results_options import ResultsOptions
    from harness import __version__
    from harness.atomic import check_writable_dir, write_text
    from harness.paths import display_path
    from reports.ensemble_select import SelectConfig, select_ensemble, selection_markdown

    paths = (*results, *more_results) or (
        "results/nb201/results.csv.gz",
        "results/nb201/az_nas.csv.gz",
    )
    config = SelectConfig(
        seed=seed,
        metric=metric,
        max_size=max_size,
        bootstrap=bootstrap,
        exclude=tuple(exclude),
        **({"aggregations": tuple(aggregations)} if aggregations else {}),
    )
    config.check()
    check_writable_dir(out_dir, "the selection")
    opts = ResultsOptions(
        results=tuple(paths),
        dataset=None,
        metrics=(),
        bench=bench,
        data_dir=data_dir,
        indices=None,
        unique=False,
        bootstrap=bootstrap,
        seed=seed,
        undefined="worst",
        combine=None,
        ensemble=(),
        ensembles=None,
        accept_partial=accept_partial,
    )
    frame, _, benchmark, _ = opts.load()
    record = select_ensemble(frame, benchmark.frame, config)
    info = benchmark.describe()
    record["inputs"] = {
        "results": [display_path(p) for p in paths],
        "benchmark": {k: info[k] for k in ("kind", "path", "sha256") if k in info},
        "harness_version": __version__,
    }
    out = Path(out_dir)
    write_text(out / "selection.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
    write_text(out / "selection.md", selection_markdown(record))
    chosen = record["selected"]
    click.echo(
        f"selected: {', '.join(chosen['ensemble']['members'])} ({chosen['ensemble']['aggregation']}); "
        f"selection-half tau {chosen['selection_tau']:.3f}; {chosen['seconds_per_cell']:.3g} s/cell"
    )
    for fig in record["figures"]:
        if fig["entry"] == "selected" and fig["half"] == "heldout":
            lo, hi = fig["kendall_tau_lo"], fig["kendall_tau_hi"]
            ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None else ""
            tau = "undefined" if fig["kendall_tau"] is None else f"{fig['kendall_tau']:.3f}"
            click.echo(f"  held-out {fig['metric']}: tau {tau}{ci}")
    click.echo(str(out / "selection.json"))
    click.echo(str(out / "selection.md"))
