"""How a proxy is named in reports: ``proxy/profile``, plus ``#<hash8>`` when that is ambiguous.

The same proxy under one profile can appear in several configurations (another image dataset,
other seeds, a changed setting). Those are different measurements and are never pooled: each
configuration hash then gets its own label, ``ntk_cond/tenas#1a2b3c4d``.
"""

from __future__ import annotations

import pandas as pd

from harness.errors import InputError

HASH_CHARS = 8


def _short(hashes: list[str]) -> dict[str, str]:
    width = HASH_CHARS
    while len({h[:width] for h in hashes}) < len(hashes):
        width += 4
    return {h: h[:width] for h in hashes}


def add_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `frame` with a ``label`` column naming each proxy measurement.

    Raises:
        InputError: one label would mix cells declaring both directions (a corrupt table).
    """
    out = frame.copy()
    labels = pd.Series("", index=out.index, dtype=object)
    for (proxy, profile), group in out.groupby(["proxy", "profile"], sort=True):
        base = f"{proxy}/{profile}" if profile else str(proxy)
        hashes = sorted(group["config_hash"].unique())
        if len(hashes) == 1:
            labels[group.index] = base
        else:
            short = _short(hashes)
            labels[group.index] = [f"{base}#{short[h]}" for h in group["config_hash"]]
    out["label"] = labels.astype(str)
    mixed = out.groupby("label")["higher_is_better"].nunique()
    if (mixed > 1).any():
        raise InputError(
            f"proxy {mixed[mixed > 1].index[0]!r} declares both directions "
            "(higher_is_better True and False) in one configuration."
        )
    return out


def label_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per label: proxy, profile, config hash(es), image dataset(s), direction."""
    rows = []
    for label, group in frame.groupby("label", sort=True):
        rows.append(
            {
                "label": label,
                "proxy": group["proxy"].iloc[0],
                "profile": group["profile"].iloc[0],
                "config_hash": ",".join(sorted(group["config_hash"].unique())),
                "dataset": ",".join(sorted(group["dataset"].unique())),
                "higher_is_better": bool(group["higher_is_better"].iloc[0]),
            }
        )
    return pd.DataFrame(
        rows, columns=["label", "proxy", "profile", "config_hash", "dataset", "higher_is_better"]
    )
