"""`harness correlate`: rank correlations and top-k metrics of proxy scores vs NB201 accuracies."""

from __future__ import annotations

import json
import math

import click

from cli.results_options import DATASET_CHOICES, results_options  # noqa: F401  (re-exported)

# Printed columns of --wide: (record field, header, format).
_WIDE = [
    ("rank", "#", "{}"),
    ("label", "proxy", "{}"),
    ("kind", "kind", "{}"),
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


_LEFT = {"proxy", "kind", "metric", "better", "note"}


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
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list of records instead of a table."
)
@click.option(
    "--wide", is_flag=True, help="Print every column (top-k, Pearson, coverage, ...) in one table."
)
def command(opts, as_json, wide):
    """Correlate proxy scores with benchmark accuracies (Kendall tau, Spearman rho, top-k).

    One row per proxy or ensemble label (proxy/profile, plus #hash when one profile holds several
    configurations; --ensemble, --ensembles and --combine add ensembles) and metric key: signed and direction-corrected Kendall tau-b, Spearman rho,
    Pearson r with bootstrap 95% intervals, precision@top-1/5/10%, the benchmark rank of the
    proxy's best pick, top-1 and top-10 accuracy (%), n used and cells excluded.
    """
    from reports.combine import label_kinds
    from reports.correlation import check_metrics, correlate, prepare
    from reports.io import resolve_metrics
    from reports.leaderboard import build_leaderboard

    combos = opts.combos()
    keys = resolve_metrics(opts.dataset, opts.metrics)
    frame, _, benchmark, paths = opts.load()
    check_metrics(benchmark.frame, keys)
    data = prepare(
        frame, benchmark.frame, unique=opts.unique, combine=combos, undefined=opts.undefined
    )
    corr = correlate(
        frame,
        benchmark.frame,
        keys,
        unique=opts.unique,
        bootstrap=opts.bootstrap,
        seed=opts.seed,
        combine=combos,
        undefined=opts.undefined,
        prepared=data,
    )
    # per metric key, best direction-corrected tau first
    corr = build_leaderboard(corr, keys, kinds=label_kinds(data))
    if as_json:
        click.echo(json.dumps(_records(corr), indent=2))
        return
    click.echo(f"benchmark: {benchmark.source.kind} {benchmark.source.path}")
    click.echo(f"results: {', '.join(map(str, paths))}")
    click.echo(
        f"cells: {opts.indices or 'all'}{' (one per isomorphism class)' if opts.unique else ''}; "
        f"bootstrap: {opts.bootstrap} resamples (seed {opts.seed}); NaN/inf scores: {opts.undefined}\n"
    )
    click.echo(format_table(corr, wide=wide))
