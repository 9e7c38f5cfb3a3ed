"""One self-contained HTML page: inline CSS, figures as base64 PNG data URIs, no scripts or URLs."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reports.leaderboard import MD_HEADER, display_rows

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1300px; color: #222; }
h1, h2, h3 { font-weight: 600; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
td { white-space: nowrap; }
.scroll { overflow-x: auto; }
th { background: #f0f0f0; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
.meta { color: #555; font-size: 0.9em; }
"""


@dataclass(frozen=True)
class FigureEntry:
    """A figure to embed: its PNG file and a caption."""

    caption: str
    png: Path


def data_uri(png: Path) -> str:
    """The PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "–" if not np.isfinite(v) else f"{v:.4g}"
    if v is None or v is pd.NA:
        return "–"
    return str(v)


def _cells_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def table_html(frame: pd.DataFrame) -> str:
    """An escaped HTML table of `frame` (no index), numbers to 4 significant digits."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


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
    """Assemble the report page.

    Args:
        generated: a generation time shown in the page (the only place one appears), or None.
        intro: short paragraphs (plain text) under the title.
        coverage: per-proxy coverage table.
        leaderboard: the leaderboard frame (one table per metric key is shown).
        configs: ``{config_hash: config}`` of every run; hashes in `config_labels` without an
            entry are listed as missing.
        config_labels: ``{config_hash: [labels using it]}``.
        repeat_agreement: `reports.repeats.repeat_agreement`'s table, shown when not empty.
    """
    esc = html.escape
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if generated:
        parts.append(f'<p class="meta">Generated {esc(generated)}.</p>')
    parts += [f"<p>{esc(p)}</p>" for p in intro]
    parts.append(
        "<h2>Inputs</h2><ul>"
        + "".join(f"<li><code>{esc(s)}</code></li>" for s in sources)
        + "</ul>"
    )
    summary = {k: bench_info[k] for k in ("kind", "path", "sha256", "cells") if k in bench_info}
    parts.append(
        "<h3>Benchmark</h3><pre>"
        + esc(json.dumps(summary, indent=2, sort_keys=True, default=str))
        + "</pre><details><summary>Full description (every key and its coverage)</summary><pre>"
        + esc(json.dumps(dict(bench_info), indent=2, sort_keys=True, default=str))
        + "</pre></details>"
    )
    parts.append(
        "<h2>Coverage</h2><p>Cells per proxy present in the results, by status, out of the "
        "space's cells (15,625 for NB201).</p>" + table_html(coverage)
    )
    parts.append("<h2>Leaderboards</h2>")
    for metric, g in leaderboard.groupby("metric", sort=False):
        parts.append(f"<h3>Benchmark metric key <code>{esc(str(metric))}</code></h3>")
        parts.append(_cells_table(MD_HEADER, display_rows(g)))
        notes = [f"{r['label']}: {r['note']}" for _, r in g.iterrows() if r.get("note")]
        if notes:
            parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    parts.append(
        "<p>Every column (intervals of ρ and Pearson r, counts by status) is in "
        "<code>leaderboard.csv</code>.</p>"
    )
    if repeat_agreement is not None and not repeat_agreement.empty:
        parts.append(
            "<h2>Agreement between repeats</h2><p>Kendall τ-b between independently initialised "
            "repeats of a proxy (mean, min and max over pairs of repeats), and the signed τ with the "
            f"benchmark key <code>{esc(str(repeat_agreement['metric'].iloc[0]))}</code> of one repeat "
            "(mean, lowest and highest over repeats) and of the repeat mean, on the directly scored "
            "cells whose every repeat is finite, and, as a diagnostic for positive scores, of their "
            "geometric mean (also in <code>repeats.csv</code>).</p>" + table_html(repeat_agreement)
        )
    parts.append("<h2>Figures</h2>")
    for fig in figures:
        parts.append(
            f'<figure><img src="{data_uri(fig.png)}" alt="{esc(fig.caption)}">'
            f"<figcaption>{esc(fig.caption)}</figcaption></figure>"
        )
    if search_sources:
        parts.append(
            "<h3>Search runs</h3><ul>"
            + "".join(f"<li><code>{esc(s)}</code></li>" for s in search_sources)
            + "</ul>"
        )
    if search_skipped:
        parts.append(
            "<p>Search results without a pruning trajectory (not drawn):</p><ul>"
            + "".join(f"<li><code>{esc(s)}</code></li>" for s in search_skipped)
            + "</ul>"
        )
    parts.append("<h2>Run configurations</h2>")
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
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
