"""Population-level rank-sum scores, e.g. TE-NAS's rank(kappa ascending) + rank(R descending).

Each component is ranked best-first by its declared direction (rank 1 = best, ties share the
average rank, `scipy.stats.rankdata`), ranks are summed per cell, and a lower sum is better. The
ranks are taken over the cells where every component is ``ok``, so the score depends on the
population scored: it is recomputed after any filtering (e.g. ``--unique``). AZ-NAS's combination
(`log_rank_sum`, higher is better) is the other aggregation (`AGGREGATIONS`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from harness.errors import InputError

log = logging.getLogger(__name__)

#: TE-NAS's combined ranking (Chen et al., ICLR 2021): NTK condition number + linear regions.
TENAS_COMPONENTS: tuple[str, ...] = ("ntk_cond", "linear_regions")
TENAS_NAME = "tenas"
#: AZ-NAS's components (Lee & Ham, CVPR 2024; `proxies.az_nas`), combined by `log_rank_sum`.
AZ_NAS_COMPONENTS: tuple[str, ...] = (
    "az_expressivity",
    "az_progressivity",
    "az_trainability",
    "az_complexity",
)
# When a component is not ok, the combined cell takes the first of these it finds.
_STATUS_PRIORITY = ("error", "nan", "inf")  # as harness.store aggregates repeats


def rank_sum(values: Sequence[np.ndarray], higher_is_better: Sequence[bool]) -> np.ndarray:
    """Sum of best-first ranks (1 = best, ties averaged) of aligned score arrays; lower = better."""
    total = np.zeros(len(values[0]), dtype=float)
    for v, hib in zip(values, higher_is_better):
        v = np.asarray(v, dtype=float)
        total += rankdata(-v if hib else v, method="average")
    return total


def log_rank_sum(values: Sequence[np.ndarray], higher_is_better: Sequence[bool]) -> np.ndarray:
    """AZ-NAS's non-linear rank aggregation: sum over components of ln(rank / n); higher = better.

    Ranks run from 1 (worst) to n (best) under each component's direction, ties averaged, as the
    official ``np.log(stats.rankdata(score) / l)`` summed over the four scores (docs/az_nas.md). A
    cell last under any one component is pulled far down: ln(1/n) against ln(1) = 0 for the best.
    """
    total = np.zeros(len(values[0]), dtype=float)
    for v, hib in zip(values, higher_is_better):
        v = np.asarray(v, dtype=float)
        total += np.log(rankdata(v if hib else -v, method="average") / len(v))
    return total


#: How a combination scores cells from its components: name -> (function, higher_is_better).
AGGREGATIONS = {"rank_sum": (rank_sum, False), "log_rank_sum": (log_rank_sum, True)}
#: Combinations added wherever all their components are present: name -> (components, aggregation).
NAMED_COMBINATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    TENAS_NAME: (TENAS_COMPONENTS, "rank_sum"),
    "az_nas": (AZ_NAS_COMPONENTS, "log_rank_sum"),
}


def parse_combine(spec: str | None) -> list[tuple[str, ...]]:
    """Parse ``--combine a,b[,c]`` (repeatable with ';') into tuples of at least two proxy names."""
    if not spec:
        return []
    combos = []
    for part in spec.split(";"):
        names = tuple(n.strip() for n in part.split(",") if n.strip())
        if len(names) < 2 or len(set(names)) != len(names):
            raise InputError(
                f"--combine {part!r} must name at least two different proxies, "
                "like 'ntk_cond,linear_regions'."
            )
        combos.append(names)
    return combos


def _combined_rows(
    frame: pd.DataFrame,
    labels: Sequence[str],
    name: str,
    profile: str,
    aggregation: str = "rank_sum",
) -> pd.DataFrame:
    aggregate, higher_is_better = AGGREGATIONS[aggregation]
    parts = [frame[frame["label"] == lab].set_index("index") for lab in labels]
    cells = parts[0].index
    for part in parts[1:]:
        cells = cells.intersection(part.index)
    cells = cells.sort_values()
    status = pd.Series("ok", index=cells, dtype=object)
    for bad in reversed(_STATUS_PRIORITY):  # highest priority written last
        for part in parts:
            status[part.loc[cells, "status"] == bad] = bad
    ok = status == "ok"
    values = np.full(len(cells), np.nan)
    if ok.any():
        values[ok.to_numpy()] = aggregate(
            [p.loc[cells[ok.to_numpy()], "value"].to_numpy() for p in parts],
            [bool(p["higher_is_better"].iloc[0]) for p in parts],
        )
    seconds = sum(
        (p.loc[cells, "seconds"] * p.loc[cells, "repeats"].fillna(1.0)).to_numpy() for p in parts
    )
    first = parts[0].loc[cells]
    return pd.DataFrame(
        {
            "space": first["space"].to_numpy(),
            "index": cells.to_numpy(),
            "arch_str": first["arch_str"].to_numpy(),
            "proxy": name,
            "profile": profile,
            "dataset": ",".join(sorted({d for p in parts for d in p["dataset"].unique()})),
            "value": values,
            "status": status.to_numpy(),
            "message": np.where(ok, "", f"a component of {'+'.join(labels)} is not ok"),
            "seconds": seconds,
            "repeats": 1.0,
            "higher_is_better": higher_is_better,
            "config_hash": "+".join(p["config_hash"].iloc[0] for p in parts),
            "filled_from": pd.array([pd.NA] * len(cells), dtype="Int64"),
            "source": aggregation.replace("_", " ") + " of " + ", ".join(labels),
        }
    )


def add_combined(
    frame: pd.DataFrame, combos: Iterable[Sequence[str]] = (), *, tenas: bool = True
) -> pd.DataFrame:
    """Append rank-sum rows to a labelled results frame, one combined label per profile.

    Args:
        frame: results with a ``label`` column (see `reports.labels.add_labels`).
        combos: extra proxy-name tuples to combine (``--combine``); named ``a+b``.
        tenas: add the `NAMED_COMBINATIONS` wherever all their components exist in one profile:
            ``tenas`` = rank sum of ntk_cond and linear_regions, ``az_nas`` = `log_rank_sum` of
            its four components.

    Returns:
        `frame` plus the combined rows, labelled ``<name>/<profile>`` (with the component hashes
        appended when a profile holds several configurations of a component).
    """
    wanted: list[tuple[str, tuple[str, ...], str]] = []
    if tenas:
        wanted.extend((name, parts, agg) for name, (parts, agg) in NAMED_COMBINATIONS.items())
    named = len(wanted)
    for combo in combos:
        combo = tuple(combo)
        if any(set(combo) == set(parts) and agg == "rank_sum" for _, parts, agg in wanted[:named]):
            continue  # identical to a named rank sum already added
        wanted.append(("+".join(combo), combo, "rank_sum"))
    known = set(frame["proxy"])
    for _name, combo, _agg in wanted[named:]:
        missing = [c for c in combo if c not in known]
        if missing:
            raise InputError(
                f"--combine names proxy {missing[0]!r}, which is not in the results; "
                f"available: {', '.join(sorted(known))}."
            )
    extra = []
    for name, combo, aggregation in wanted:
        for profile in sorted(frame["profile"].unique()):
            sub = frame[frame["profile"] == profile]
            choices = [sorted(sub.loc[sub["proxy"] == c, "label"].unique()) for c in combo]
            if not all(choices):
                continue
            many = any(len(c) > 1 for c in choices)
            for labels in itertools.product(*choices):
                rows = _combined_rows(frame, labels, name, profile, aggregation)
                if rows.empty:
                    log.warning("no cell has all of %s; %s not computed", ", ".join(labels), name)
                    continue
                suffix = ""
                if many:
                    suffix = "#" + "+".join(lab.partition("#")[2] or "-" for lab in labels)
                rows["label"] = f"{name}/{profile}{suffix}"
                extra.append(rows)
    if not extra:
        return frame
    return pd.concat([frame, *extra], ignore_index=True)
