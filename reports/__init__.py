"""Correlation reports of proxy results: pure functions of result tables (pandas/scipy/matplotlib).

Never imports torch, `proxies` or `search`. Figures and the HTML page live in `reports.build`
(``write_report``), which pulls in matplotlib only when imported.
"""

from reports.combine import TENAS_COMPONENTS, add_combined, parse_combine, rank_sum
from reports.correlation import correlate, correlation_stats, coverage_table, prepare, unique_cells
from reports.io import RESULT_COLUMNS, load_results
from reports.labels import add_labels
from reports.leaderboard import build_leaderboard, leaderboard_markdown, write_leaderboard_csv
from reports.topk import precision_at_k, topk_summary, topk_weights

__all__ = [
    "RESULT_COLUMNS",
    "TENAS_COMPONENTS",
    "add_combined",
    "add_labels",
    "build_leaderboard",
    "correlate",
    "correlation_stats",
    "coverage_table",
    "leaderboard_markdown",
    "load_results",
    "parse_combine",
    "precision_at_k",
    "prepare",
    "rank_sum",
    "topk_summary",
    "topk_weights",
    "unique_cells",
    "write_leaderboard_csv",
]
