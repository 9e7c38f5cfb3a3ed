"""Print the README's proxy table (signed τ / ρ per benchmark key, s / cell, n) from a leaderboard.csv.

    python scripts/readme_proxy_table.py results/nb201/leaderboard.csv

Rows are ordered by |τ| on the first key; a test checks the README holds exactly this output.
"""

from __future__ import annotations

import sys

import pandas as pd

KEYS = {
    "cifar10-valid/x-valid@200": "C10 valid",
    "cifar10/ori-test@200": "C10 test",
    "cifar100/x-test@200": "C100 test",
    "ImageNet16-120/x-test@200": "IN16 test",
}


def table(leaderboard: str) -> str:
    lb = pd.read_csv(leaderboard)
    lb = lb[lb["metric"].isin(KEYS)]
    first = lb[lb["metric"] == next(iter(KEYS))].sort_values(
        ["kendall_tau_dc", "label"], ascending=[False, True]
    )
    lines = [
        "| proxy (profile) | better | "
        + " | ".join(f"τ / ρ {v}" for v in KEYS.values())
        + " | s / cell | cells (n) |",
        "|---|---|" + "---:|" * (len(KEYS) + 2),
    ]
    for _, row in first.iterrows():
        per_key = lb[lb["label"] == row["label"]].set_index("metric")
        cells = [
            f"{per_key.loc[k, 'kendall_tau']:+.3f} / {per_key.loc[k, 'spearman_rho']:+.3f}"
            if k in per_key.index
            else "–"
            for k in KEYS
        ]
        lines.append(
            f"| `{row['proxy']}` ({row['profile']}) | {row['direction']} | "
            + " | ".join(cells)
            + f" | {row['seconds_per_cell']:.3g} | {int(row['n'])} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(table(sys.argv[1]))
