"""`harness report`: leaderboards (CSV, Markdown), figures (PNG, SVG) and one self-contained HTML page."""

from __future__ import annotations

import datetime

import click

from cli.results_options import results_options


@click.command("report")
@results_options
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder: leaderboard.csv, leaderboard.md, figures/*.png|svg, index.html, and "
    "repeats.csv when a proxy has two or more repeats.",
)
@click.option(
    "--search-results",
    "search_results",
    multiple=True,
    type=click.Path(),
    metavar="PATH",
    help="Search result.json file, or a folder searched recursively for them (repeatable); "
    "adds the TE-NAS pruning-trajectory figure.",
)
def command(opts, out_dir, search_results):
    """Write leaderboards, figures and a self-contained HTML report.

    Proxies are ranked by direction-corrected Kendall tau per benchmark metric key (default:
    cifar10-valid/x-valid@200, cifar10/ori-test@200, cifar100/x-test@200,
    ImageNet16-120/x-test@200; --dataset picks those of one dataset). leaderboard.csv and
    leaderboard.md are byte-identical for identical inputs; index.html alone shows the
    generation time. Proxies with two or more repeats (stores and --per-repeat exports keep
    them) also get the Kendall tau between repeats, their ranking noise (repeats.csv). Every file
    is written whole or not at all (temporary file, then rename).
    """
    from harness.atomic import check_writable_dir
    from harness.errors import InputError
    from reports.build import REPORT_METRICS, write_report
    from reports.io import load_repeat_rows, resolve_metrics

    combos = opts.combos()
    keys = resolve_metrics(opts.dataset, opts.metrics, report_keys=REPORT_METRICS)
    check_writable_dir(out_dir, "the report")  # before any work
    frame, configs, benchmark, paths = opts.load()
    repeat_rows = load_repeat_rows(paths, accept_partial=opts.accept_partial)
    repeat_rows = repeat_rows[
        repeat_rows["index"].isin(frame["index"])
    ]  # frame holds the --indices cells
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        written = write_report(
            frame,
            configs,
            benchmark.frame,
            out_dir,
            metrics=keys,
            bench_info=benchmark.describe(),
            sources=[str(p) for p in paths],
            search_paths=search_results,
            indices=opts.indices,
            unique=opts.unique,
            bootstrap=opts.bootstrap,
            seed=opts.seed,
            undefined=opts.undefined,
            combine=combos,
            generated=stamp,
            repeat_rows=repeat_rows,
            selection=opts.selection(),
        )
    except OSError as err:  # e.g. the folder turned read-only, the disk is full
        raise InputError(
            f"cannot write the report to {str(out_dir)!r}: {err.strerror or err}"
            f"{f' ({err.filename})' if err.filename else ''}."
        ) from None
    for name in ("csv", "md", "html", "repeats"):
        if name in written:
            click.echo(str(written[name]))
    click.echo(
        f"{written['figures']}/ ({len(list(written['figures'].glob('*.png')))} figures, PNG + SVG)"
    )
