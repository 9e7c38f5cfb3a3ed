"""`harness correlate`: rank correlations and top-k metrics of proxy scores vs NB201 accuracies."""

from __future__ import annotations

import json
import math

import click

from cli.plugin_option import plugin_option

# Same as reports.io.DATASET_CHOICES (a test checks); kept here so `harness --help` stays light.
DATASET_CHOICES = ("cifar10", "cifar100", "ImageNet16-120", "all")


def results_options(func):
    """Options shared by correlate and report: inputs, benchmark, dataset/metric, population."""
    options = [
        click.option(
            "--results",
            "results",
            multiple=True,
            metavar="FILE",
            help="Results file: a `harness export` table (.csv, .csv.gz, .parquet; its "
            ".configs.json sidecar is read when present) or a .sqlite store. Repeat the "
            "option or list more FILEs after it; all are merged.",
        ),
        click.option(
            "--dataset",
            type=click.Choice(DATASET_CHOICES),
            default=None,
            help="Benchmark dataset(s) to correlate with. correlate uses each one's default key "
            "(cifar10: cifar10-valid/x-valid@200, cifar100 / ImageNet16-120: x-test@200; default "
            "cifar10); report uses its keys of that dataset (default: all four).",
        ),
        click.option(
            "--metric",
            "metrics",
            multiple=True,
            metavar="KEY",
            help="Benchmark metric key in NB201's words, e.g. cifar10/ori-test@200 "
            "(repeatable); overrides --dataset.",
        ),
        click.option(
            "--bench",
            type=click.Path(),
            default=None,
            help="Benchmark source: nb201_accuracy.csv[.gz], an official NB201 .pth or a "
            "NATS-Bench TSS folder. Default: nb201/nb201_accuracy.csv[.gz] of the data folder.",
        ),
        click.option(
            "--data-dir",
            type=click.Path(),
            default=None,
            help="Data folder for the default benchmark (default: $HARNESS_DATA_DIR, else the "
            "user cache, then the table embedded in the package).",
        ),
        click.option(
            "--indices",
            default=None,
            metavar="SPEC",
            help="Only these NB201 cells, e.g. 0-3999 (ranges, indices, arch strings). The "
            "official index order is a random shuffle, so a prefix is a uniform sample, and a "
            "partial --unique sweep covers its prefix exactly (it scores classes in index order).",
        ),
        click.option(
            "--unique",
            is_flag=True,
            help="Keep one cell per NB201 isomorphism class (the lowest index present).",
        ),
        click.option(
            "--bootstrap",
            type=click.IntRange(min=0),
            default=1000,
            show_default=True,
            help="Bootstrap resamples (of cells) for the 95% intervals; 0 skips them.",
        ),
        click.option(
            "--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap."
        ),
        click.option(
            "--undefined",
            type=click.Choice(["worst", "exclude"]),
            default="worst",
            show_default=True,
            help="NaN/inf scores (e.g. kappa of a disconnected cell, a 0/0 kernel): 'worst' "
            "ranks them at the worst end as TE-NAS does (its code maps NaN to 1e5; +inf/-inf keep "
            "their ends); 'exclude' leaves them out. Failed (error) cells are always excluded.",
        ),
        click.option(
            "--combine",
            default=None,
            metavar="A,B[,C]",
            help="Also score the rank sum of these proxies (each ranked by its own "
            "direction); separate several sums with ';'. The TE-NAS sum "
            "ntk_cond+linear_regions is added as 'tenas', and AZ-NAS's log-rank sum of its four "
            "components as 'az_nas', whenever their components are present.",
        ),
        plugin_option(),
        click.argument("more_results", nargs=-1, type=click.Path(), metavar="[FILE]..."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_inputs(results, more_results, bench, data_dir, indices=None, accept_partial=False):
    """Read the results (only the cells of `indices`, an --indices spec, when given) and the
    benchmark (raises InputError on bad input; an incomplete export too, unless `accept_partial`)."""
    from harness.bench import load_benchmark
    from harness.errors import InputError
    from harness.selection import parse_indices
    from reports.io import load_results

    paths = [*results, *more_results]
    if not paths:
        raise InputError(
            "no results given; pass --results FILE (.csv, .csv.gz, .parquet or .sqlite)."
        )
    keep = parse_indices(indices) if indices is not None else None  # "" is an error, not "all"
    frame, configs = load_results(paths, accept_partial=accept_partial)
    if keep is not None:
        frame = frame[frame["index"].isin(keep)].reset_index(drop=True)
        if frame.empty:
            raise InputError(f"--indices {indices!r} keeps none of the result rows.")
    benchmark = load_benchmark(source=bench, data_dir=data_dir)
    return frame, configs, benchmark, paths


#: correlate's and report's --accept-partial (an export's sidecar is its completeness record).
accept_partial_option = click.option(
    "--accept-partial",
    is_flag=True,
    help="Read exported tables whose sidecar (.configs.json, written last, with the table's row count "
    "and SHA-256) is missing or does not match: incomplete exports are refused without it.",
)


# Printed columns of --wide: (record field, header, format).
_WIDE = [
    ("rank", "#", "{}"),
    ("label", "proxy", "{}"),
    ("metric", "metric", "{}"),
    ("direction", "better", "{}"),
    ("n", "n", "{:d}"),
    ("n_excluded", "excl", "{:d}"),
    ("kendall_tau", "tau", "{:+.3f}"),
    ("_tau_ci", "tau 95% CI", "{}"),
    ("kendall_tau_dc", "tau_dc", "{:+.3f}"),
    ("spearman_rho", "rho", "{:+.3f}"),
    ("pearson_r", "pearson", "{:+.3f}"),
    ("precision_at_1pct", "P@1%", "{:.3f}"),
    ("precision_at_5pct", "P@5%", "{:.3f}"),
    ("precision_at_10pct", "P@10%", "{:.3f}"),
    ("best_pick_rank", "best_rank", "{:.1f}"),
    ("top1_acc", "top1_acc", "{:.2f}"),
    ("top10_mean_acc", "top10_acc", "{:.2f}"),
    ("coverage", "coverage", "{:.1%}"),
    ("note", "note", "{}"),
]
# The default table, one block per metric key: what a newcomer reads first, about 90 columns wide.
_COMPACT = [
    ("rank", "#", "{}"),
    ("label", "proxy", "{}"),
    ("direction", "better", "{}"),
    ("kendall_tau", "tau", "{:+.3f}"),
    ("_tau_ci", "tau 95% CI", "{}"),
    ("spearman_rho", "rho", "{:+.3f}"),
    ("n", "n", "{:d}"),
    ("_short_note", "note", "{}"),
]


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if fmt == "{}" and str(value) == "<NA>":
        return "-"
    return fmt.format(value)


_LEFT = {"proxy", "metric", "better", "note"}


def _short_note(rec) -> str:
    """The record's note in a few words: scores ranked worst, failed cells, degenerate cases."""
    parts = []
    placed = rec["n_nan_as_worst"] + rec["n_inf_as_worst"]
    if placed:
        parts.append(f"{placed} NaN/inf ranked worst")
    if rec.get("n_error"):
        parts.append(f"{rec['n_error']} failed")
    if "constant proxy" in rec["note"]:
        parts.append("constant")
    if rec["note"].startswith("only") or "; only" in rec["note"]:
        parts.append("too few cells")
    return ", ".join(parts)


def _aligned(corr, spec) -> list[str]:
    columns = [[head, *(_cell(v, fmt) for v in corr[col])] for col, head, fmt in spec]
    widths = [max(map(len, c)) for c in columns]
    lines = []
    for row in zip(*columns):
        cells = [
            c.ljust(w) if head in _LEFT else c.rjust(w)
            for c, w, (_, head, _) in zip(row, widths, spec)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_table(corr, wide: bool = False) -> str:
    """The correlation records (a DataFrame) as aligned text: one compact block per metric key,
    or with `wide` every column in one table."""
    corr = corr.assign(
        _tau_ci=[
            "" if math.isnan(lo) else f"[{lo:+.3f}, {hi:+.3f}]"
            for lo, hi in zip(corr["kendall_tau_lo"], corr["kendall_tau_hi"])
        ],
        _short_note=[_short_note(rec) for rec in corr.to_dict(orient="records")],
    )
    if wide:
        return "\n".join(_aligned(corr, _WIDE))
    blocks = []
    for metric, group in corr.groupby("metric", sort=False):
        blocks.append("\n".join([f"{metric}:", *_aligned(group, _COMPACT)]))
    return "\n\n".join(blocks)


def _plain(value):
    """JSON-safe scalar: NaN/inf and pandas NA become null, numpy scalars Python ones."""
    if value is None or str(value) == "<NA>":
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(corr) -> list[dict]:
    out = []
    for rec in corr.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in rec.items()})
    return out


@click.command("correlate")
@results_options
@accept_partial_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list of records instead of a table."
)
@click.option(
    "--wide", is_flag=True, help="Print every column (top-k, Pearson, coverage, ...) in one table."
)
def command(
    results,
    dataset,
    metrics,
    bench,
    data_dir,
    indices,
    unique,
    bootstrap,
    seed,
    undefined,
    combine,
    more_results,
    as_json,
    accept_partial,
    wide,
):
    """Correlate proxy scores with benchmark accuracies (Kendall tau, Spearman rho, top-k).

    One row per proxy label (proxy/profile, plus #hash when one profile holds several
    configurations) and metric key: signed and direction-corrected Kendall tau-b, Spearman rho,
    Pearson r with bootstrap 95% intervals, precision@top-1/5/10%, the benchmark rank of the
    proxy's best pick, top-1 and top-10 accuracy (%), n used and cells excluded.
    """
    from reports.combine import parse_combine
    from reports.correlation import correlate
    from reports.io import resolve_metrics
    from reports.leaderboard import build_leaderboard

    combos = parse_combine(combine)
    keys = resolve_metrics(dataset, metrics)
    frame, _, benchmark, paths = load_inputs(
        results, more_results, bench, data_dir, indices, accept_partial
    )
    corr = correlate(
        frame, benchmark.frame, keys, unique=unique, bootstrap=bootstrap, seed=seed, combine=combos,
        undefined=undefined,
    )
    corr = build_leaderboard(corr, keys)  # per metric key, best direction-corrected tau first
    if as_json:
        click.echo(json.dumps(_records(corr), indent=2))
        return
    click.echo(f"benchmark: {benchmark.source.kind} {benchmark.source.path}")
    click.echo(f"results: {', '.join(map(str, paths))}")
    click.echo(
        f"cells: {indices or 'all'}{' (one per isomorphism class)' if unique else ''}; "
        f"bootstrap: {bootstrap} resamples (seed {seed}); NaN/inf scores: {undefined}\n"
    )
    click.echo(format_table(corr, wide=wide))
