"""One self-contained HTML page: inline CSS, figures as base64 PNG data URIs, one inline script.

The first screen holds the headline: the leaderboard (every proxy and ensemble, best first) beside
the key figures. Details (per-key tables, repeats, other figures, coverage, inputs, configurations)
follow. Tables sort on a header click (inline vanilla JS); without JS they read as written.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.paths import display_path
from reports.leaderboard import MD_HEADER, display_rows
from reports.page_assets import CSS, SORT_JS

#: Short names of NB201 dataset keys for table headers (the full key is in the header's title).
_SHORT_DATASETS = {
    "cifar10-valid": "C10-valid",
    "cifar10": "C10",
    "cifar100": "C100",
    "ImageNet16-120": "IN16",
}
#: Leaderboard columns where a larger value is better: their first click sorts descending.
_DESC_HEADERS = frozenset(
    {"τ (dir.-corrected)", "P@1%", "P@5%", "P@10%", "top-1 acc (%)", "top-10 acc (%)", "coverage"}
)


@dataclass(frozen=True)
class FigureEntry:
    """A figure to embed: its PNG file and a caption; `key` figures stand in the headline."""

    caption: str
    png: Path
    key: bool = False


def data_uri(png: Path) -> str:
    """The PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "–" if not np.isfinite(v) else f"{v:.4g}"
    if v is None or v is pd.NA:
        return "–"
    return str(v)


def short_metric(key: str) -> str:
    """``cifar10-valid/x-valid@200`` -> ``C10 valid``; ``cifar100/x-test@200`` -> ``C100 test``."""
    dataset, _, rest = key.partition("/")
    split, _, epochs = rest.partition("@")
    split = split.removeprefix("x-").removeprefix("ori-")
    short = _SHORT_DATASETS.get(dataset, dataset)
    if dataset == "cifar10-valid" and split == "valid":
        short = "C10"  # NB201's validation split of CIFAR-10 train: "C10 valid" says it all
    name = f"{short} {split}".strip()
    return name if epochs in ("", "200") else f"{name} @{epochs}"


def _cells_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    titles: Mapping[str, str] | None = None,
    desc: Sequence[str] = (),
    sorted_by: tuple[str, str] | None = None,
    best: Sequence[set[int]] = (),
) -> str:
    """A sortable table of ready strings.

    Args:
        titles: header -> tooltip text.
        desc: headers whose first click sorts descending (larger is better).
        sorted_by: ``(header, "ascending" | "descending")``: the order the rows are given in.
        best: per row, the column positions to mark as best (bold).
    """
    titles = titles or {}
    heads = []
    for c in header:
        attrs = f' title="{html.escape(titles[c])}"' if c in titles else ""
        attrs += " data-desc" if c in desc else ""
        if sorted_by and sorted_by[0] == c:
            attrs += f' aria-sort="{sorted_by[1]}"'
        heads.append(f"<th{attrs}>{html.escape(str(c))}</th>")
    body = []
    for i, row in enumerate(rows):
        marks = best[i] if i < len(best) else set()
        cells = "".join(
            f"<td{' class=best' if j in marks else ''}>{html.escape(str(v))}</td>"
            for j, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr>{"".join(heads)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def table_html(frame: pd.DataFrame) -> str:
    """A sortable, escaped HTML table of `frame` (no index), numbers to 4 significant digits."""
    rows = [[_fmt(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return _cells_table([str(c) for c in frame.columns], rows)


def headline_table(board: pd.DataFrame) -> str:
    """Every label in one row, best first on the first metric key: direction-corrected tau per key.

    The order and rank are those of the leaderboard for the first key; labels without a tau there
    follow unranked. A ``kind`` column (proxy / ensemble) is shown when the leaderboard has one.
    """
    metrics = list(dict.fromkeys(board["metric"]))
    shorts = [short_metric(m) for m in metrics]
    if len(set(shorts)) < len(shorts):  # two keys would read alike: show them whole
        shorts = metrics
    taus = board.pivot_table(
        index="label", columns="metric", values="kendall_tau_dc", aggfunc="first", dropna=False
    )
    order = list(dict.fromkeys(board["label"]))  # first key's rows come first, best first
    first = board[board["metric"] == metrics[0]].set_index("label")
    kind = "kind" in board.columns
    tau_heads = [f"τ\u00a0{s}" for s in shorts]  # "τ C100" stays on one line
    header = [
        "#",
        "proxy / ensemble",
        *(["ensemble"] if kind else []),
        *tau_heads,
        "s / cell",
        "cov.",
    ]
    offset = 3 if kind else 2
    top = {m: taus[m].max() if m in taus and taus[m].notna().any() else np.nan for m in metrics}
    rows, best = [], []
    for label in order:
        r = first.loc[label] if label in first.index else None
        rank = "–" if r is None or pd.isna(r["rank"]) else str(int(r["rank"]))
        values = [taus.at[label, m] if m in taus else np.nan for m in metrics]
        row = [rank, label]
        if kind:
            text = _fmt(board.loc[board["label"] == label, "kind"].iloc[0])
            row.append("" if text == "proxy" else text.removesuffix(" ensemble"))
        row += ["–" if not np.isfinite(v) else f"{v:.3f}" for v in values]
        secs = np.nan if r is None else float(r["seconds_per_cell"])
        cover = np.nan if r is None else 100 * float(r["coverage"])
        row += [
            "–" if not np.isfinite(secs) else f"{secs:.3g}",
            "–" if not np.isfinite(cover) else f"{cover:.0f}%",
        ]
        rows.append(row)
        best.append(
            {
                offset + j
                for j, (m, v) in enumerate(zip(metrics, values))
                if np.isfinite(v) and v == top[m]
            }
        )
    titles = {h: f"direction-corrected Kendall τ on {m}" for h, m in zip(tau_heads, metrics)}
    titles |= {
        "#": f"rank on {metrics[0]}",
        "s / cell": "seconds per cell (on the first key's rows)",
        "cov.": "share of the space's cells scored",
        "ensemble": "a-priori: fixed before looking at accuracies; selected: chosen against a "
        "benchmark key (honest on its held-out cells only)",
    }
    return _cells_table(
        header,
        rows,
        titles=titles,
        desc=[*tau_heads, "cov."],
        sorted_by=(tau_heads[0], "descending"),
        best=best,
    )


def _figure(fig: FigureEntry) -> str:
    esc = html.escape
    return (
        f'<figure><img src="{data_uri(fig.png)}" alt="{esc(fig.caption)}">'
        f"<figcaption>{esc(fig.caption)}</figcaption></figure>"
    )


def _code_list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li><code>{html.escape(s)}</code></li>" for s in items) + "</ul>"


def _headline(leaderboard: pd.DataFrame, key_figures: Sequence[FigureEntry]) -> str:
    metrics = list(dict.fromkeys(leaderboard["metric"]))
    caption = (
        "Direction-corrected Kendall τ per benchmark metric key, ranked on "
        f"<code>{html.escape(str(metrics[0]))}</code> (best first, best per key in bold); click a "
        'header to sort. Intervals, P@k and counts: <a href="#per-key">per key</a>.'
        if metrics
        else "No correlations."
    )
    if "kind" in leaderboard and (leaderboard["kind"] == "selected ensemble").any():
        caption += (
            " A <b>selected</b> ensemble was chosen against a benchmark key on half of the cells:"
            " its figures here include that half (optimistic); its held-out figures are in"
            " <code>leaderboard.md</code> and its selection record."
        )
    left = (
        '<section id="leaderboard"><h2>Leaderboard</h2>'
        f'<p class="caption">{caption}</p>'
        + (headline_table(leaderboard) if metrics else "")
        + "</section>"
    )
    right = (
        '<section id="key-figures"><h2>Key figures</h2>'
        + "".join(_figure(f) for f in key_figures)
        + "</section>"
    )
    return f'<div class="headline">{left}{right}</div>'


_TOC = (
    ("leaderboard", "Leaderboard"),
    ("about", "How to read it"),
    ("per-key", "Per metric key"),
    ("repeats", "Repeats"),
    ("figures", "All figures"),
    ("coverage", "Coverage"),
    ("inputs", "Inputs"),
    ("configurations", "Configurations"),
)


def render_html(
    *,
    title: str,
    generated: str | None,
    intro: Sequence[str],
    coverage: pd.DataFrame,
    leaderboard: pd.DataFrame,
    figures: Sequence[FigureEntry],
    configs: Mapping[str, dict],
    config_labels: Mapping[str, Sequence[str]],
    bench_info: Mapping,
    sources: Sequence[str],
    search_sources: Sequence[str] = (),
    search_skipped: Sequence[str] = (),
    repeat_agreement: pd.DataFrame | None = None,
) -> str:
    """Assemble the report page: the headline (leaderboard beside the `key` figures), then details.

    Args:
        generated: a generation time shown in the page (the only place one appears), or None.
        intro: short paragraphs (plain text) on how to read the numbers, under the headline.
        coverage: per-proxy coverage table.
        leaderboard: the leaderboard frame (one summary row per label, one full table per key).
        figures: every figure; those with ``key`` set stand beside the leaderboard.
        configs: ``{config_hash: config}`` of every run; hashes in `config_labels` without an
            entry are listed as missing.
        config_labels: ``{config_hash: [labels using it]}``.
        sources, search_sources: input files, shown relative to the working directory (or by
            name), never as absolute machine paths.
        repeat_agreement: `reports.repeats.repeat_agreement`'s table, shown when not empty.
    """
    esc = html.escape
    has_repeats = repeat_agreement is not None and not repeat_agreement.empty
    toc = [(a, t) for a, t in _TOC if a != "repeats" or has_repeats]
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>',
        f"<style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if generated:
        parts.append(f'<p class="meta">Generated {esc(generated)}.</p>')
    parts.append(
        "<nav>Contents: " + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in toc) + "</nav>"
    )
    parts.append(_headline(leaderboard, [f for f in figures if f.key]))

    parts.append('<h2 id="about">How to read it</h2>')
    parts += [f"<p>{esc(p)}</p>" for p in intro]

    parts.append('<h2 id="per-key">Leaderboard per benchmark metric key</h2>')
    for metric, g in leaderboard.groupby("metric", sort=False):
        parts.append(f"<h3>Benchmark metric key <code>{esc(str(metric))}</code></h3>")
        parts.append(
            _cells_table(
                MD_HEADER,
                display_rows(g),
                desc=sorted(_DESC_HEADERS & set(MD_HEADER)),
                sorted_by=("rank", "ascending"),
            )
        )
        notes = [f"{r['label']}: {r['note']}" for _, r in g.iterrows() if r.get("note")]
        if notes:
            parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    parts.append(
        "<p>Every column (intervals of ρ and Pearson r, counts by status) is in "
        "<code>leaderboard.csv</code>.</p>"
    )
    if has_repeats:
        parts.append(
            '<h2 id="repeats">Agreement between repeats</h2><p>Kendall τ-b between independently '
            "initialised repeats of a proxy (mean, min and max over pairs of repeats), and the "
            "signed τ with the benchmark key "
            f"<code>{esc(str(repeat_agreement['metric'].iloc[0]))}</code> of one repeat "
            "(mean, lowest and highest over repeats) and of the repeat mean, on the directly scored "
            "cells whose every repeat is finite, and, as a diagnostic for positive scores, of their "
            "geometric mean (also in <code>repeats.csv</code>).</p>" + table_html(repeat_agreement)
        )
    parts.append('<h2 id="figures">All figures</h2>')
    parts += [_figure(f) for f in figures if not f.key]
    if search_sources:
        parts.append("<h3>Search runs</h3>" + _code_list([display_path(s) for s in search_sources]))
    if search_skipped:
        parts.append(
            "<p>Search results without a pruning trajectory (not drawn):</p>"
            + _code_list(list(search_skipped))
        )
    parts.append(
        '<h2 id="coverage">Coverage</h2><p>Cells per proxy present in the results, by status, out '
        "of the space's cells (15,625 for NB201).</p>" + table_html(coverage)
    )
    parts.append('<h2 id="inputs">Inputs</h2>' + _code_list([display_path(s) for s in sources]))
    summary = {k: bench_info[k] for k in ("kind", "path", "sha256", "cells") if k in bench_info}
    parts.append(
        "<h3>Benchmark</h3><pre>"
        + esc(json.dumps(summary, indent=2, sort_keys=True, default=str))
        + "</pre><details><summary>Full description (every key and its coverage)</summary><pre>"
        + esc(json.dumps(dict(bench_info), indent=2, sort_keys=True, default=str))
        + "</pre></details>"
    )
    parts.append('<h2 id="configurations">Run configurations</h2>')
    for key in sorted(config_labels):
        users = ", ".join(config_labels[key])
        parts.append(f"<h3>config <code>{esc(key)}</code></h3><p>Used by: {esc(users)}</p>")
        if key in configs:
            parts.append(
                "<pre>"
                + esc(json.dumps(configs[key], indent=2, sort_keys=True, default=str))
                + "</pre>"
            )
        else:
            parts.append(
                "<p><strong>Configuration not found in the inputs</strong> (no store config or "
                "<code>.configs.json</code> sidecar for this hash).</p>"
            )
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts) + "\n"
