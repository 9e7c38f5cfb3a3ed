"""Ensemble rows for a labelled results frame: each ensemble (`harness.ensembles`) scored over a
population of cells by its aggregation (`harness.ranking`, the one implementation).

Each member is ranked best-first by its declared direction over the cells where every member is
``ok`` (`harness.ranking`'s NaN policy), so the score depends on the population scored: it is
recomputed after any filtering (e.g. ``--unique``). The a-priori ensembles ``tenas`` (rank sum of
ntk_cond and linear_regions) and ``az_nas`` (AZ-NAS's log-rank sum) are added wherever their
members are present; ``--combine a,b`` adds an ad-hoc rank-sum ensemble ``a+b``; ``--ensemble``
adds any other.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from harness.ensembles import ENSEMBLES, Ensemble
from harness.errors import InputError
from harness.ranking import aggregate, log_rank_sum, rank_sum

log = logging.getLogger(__name__)

__all__ = [
    "AZ_NAS_COMPONENTS",
    "DEFAULT_ENSEMBLES",
    "NAMED_COMBINATIONS",
    "TENAS_COMPONENTS",
    "TENAS_NAME",
    "ad_hoc",
    "add_combined",
    "label_kinds",
    "member_seconds",
    "log_rank_sum",
    "parse_combine",
    "rank_sum",
]

#: The ensembles every report adds wherever their members are present.
DEFAULT_ENSEMBLES: tuple[str, ...] = ("tenas", "az_nas")
TENAS_NAME = "tenas"
#: TE-NAS's combined ranking (Chen et al., ICLR 2021): NTK condition number + linear regions.
TENAS_COMPONENTS: tuple[str, ...] = ENSEMBLES.get("tenas").members
#: AZ-NAS's components (Lee & Ham, CVPR 2024; `proxies.az_nas`), combined by `log_rank_sum`.
AZ_NAS_COMPONENTS: tuple[str, ...] = ENSEMBLES.get("az_nas").members
#: name -> (members, aggregation) of `DEFAULT_ENSEMBLES`.
NAMED_COMBINATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    name: (ENSEMBLES.get(name).members, ENSEMBLES.get(name).aggregation)
    for name in DEFAULT_ENSEMBLES
}
# When a component is not ok, the combined cell takes the first of these it finds.
_STATUS_PRIORITY = ("error", "nan", "inf")  # as harness.store aggregates repeats


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


def ad_hoc(members: Sequence[str]) -> Ensemble:
    """The rank-sum ensemble ``a+b`` that ``--combine a,b`` asks for."""
    return Ensemble(
        "+".join(members),
        tuple(members),
        "rank_sum",
        description=f"--combine: rank sum of {', '.join(members)}",
    )


def member_seconds(part: pd.DataFrame) -> float:
    """A member's seconds per cell as the leaderboard states it (its own, not copied, cells)."""
    own = part[part["filled_from"].isna()]
    per_cell = own["seconds"] * own["repeats"].fillna(1.0)
    return float(per_cell.mean()) if len(per_cell) else float("nan")


def _combined_rows(
    frame: pd.DataFrame, labels: Sequence[str], ensemble: Ensemble, profile: str
) -> pd.DataFrame:
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
            ensemble.aggregation,
            [p.loc[cells[ok.to_numpy()], "value"].to_numpy() for p in parts],
            [bool(p["higher_is_better"].iloc[0]) for p in parts],
        )
    first = parts[0].loc[cells]
    return pd.DataFrame(
        {
            "space": first["space"].to_numpy(),
            "index": cells.to_numpy(),
            "arch_str": first["arch_str"].to_numpy(),
            "proxy": ensemble.name,
            "profile": profile,
            "dataset": ",".join(sorted({d for p in parts for d in p["dataset"].unique()})),
            "value": values,
            "status": status.to_numpy(),
            "message": np.where(ok, "", f"a component of {'+'.join(labels)} is not ok"),
            # The ensemble's cost per cell: the sum of its members' (constant over its cells).
            "seconds": sum(member_seconds(p) for p in parts),
            "repeats": 1.0,
            "higher_is_better": ensemble.higher_is_better,
            "config_hash": "+".join(p["config_hash"].iloc[0] for p in parts),
            "filled_from": pd.array([pd.NA] * len(cells), dtype="Int64"),
            "source": ensemble.aggregation.replace("_", " ") + " of " + ", ".join(labels),
            "kind": f"{ensemble.kind} ensemble",
        }
    )


def label_kinds(frame: pd.DataFrame) -> dict[str, str]:
    """label -> ``proxy``, ``a-priori ensemble`` or ``selected ensemble`` (for the leaderboard)."""
    if "kind" not in frame.columns:
        return dict.fromkeys(frame["label"].unique(), "proxy")
    return frame.groupby("label", sort=True)["kind"].first().to_dict()


def _label_choices(frame: pd.DataFrame, members: Sequence[str]):
    """(profile, label tuples): per profile holding every member, else across profiles."""
    found = False
    for profile in sorted(frame["profile"].unique()):
        sub = frame[frame["profile"] == profile]
        choices = [sorted(sub.loc[sub["proxy"] == m, "label"].unique()) for m in members]
        if all(choices):
            found = True
            yield profile, choices
    if not found:
        choices = [sorted(frame.loc[frame["proxy"] == m, "label"].unique()) for m in members]
        profiles = sorted({p for m in members for p in frame.loc[frame["proxy"] == m, "profile"]})
        if all(choices):
            yield "+".join(profiles), choices  # labelled without a profile: it spans several


def _wanted(
    frame: pd.DataFrame, combos: Iterable[Sequence[str] | Ensemble], tenas: bool
) -> list[tuple[Ensemble, tuple[str, ...]]]:
    known = sorted(set(frame["proxy"]))
    wanted: list[tuple[Ensemble, tuple[str, ...]]] = []
    if tenas:
        for name in DEFAULT_ENSEMBLES:
            ens = ENSEMBLES.get(name)
            if all(m in known for m in ens.members):
                wanted.append((ens, ens.members))
    defaults = list(wanted)
    for combo in combos:
        if isinstance(combo, Ensemble):
            ens = combo
        else:
            missing = [c for c in combo if c not in known]
            if missing:
                raise InputError(
                    f"--combine names proxy {missing[0]!r}, which is not in the results; "
                    f"available: {', '.join(known)}."
                )
            ens = ad_hoc(tuple(combo))
        members = ens.resolve(known)
        if any(ens.name == e.name for e, _ in wanted):
            continue  # asked for by name and already added
        if not isinstance(combo, Ensemble) and any(
            set(members) == set(m) and e.aggregation == "rank_sum" for e, m in defaults
        ):
            continue  # --combine of a default rank sum's members: already added
        wanted.append((ens, members))
    return wanted


def add_combined(
    frame: pd.DataFrame,
    combos: Iterable[Sequence[str] | Ensemble] = (),
    *,
    tenas: bool = True,
) -> pd.DataFrame:
    """Append ensemble rows to a labelled results frame, one label per profile (or across them).

    Args:
        frame: results with a ``label`` column (see `reports.labels.add_labels`).
        combos: `Ensemble` objects (``--ensemble``) and proxy-name tuples (``--combine``, an
            ad-hoc rank sum named ``a+b``).
        tenas: add `DEFAULT_ENSEMBLES` wherever all their members exist: ``tenas`` = rank sum
            of ntk_cond and linear_regions, ``az_nas`` = log-rank sum of its four components.

    Returns:
        `frame` plus the ensemble rows, labelled ``<name>/<profile>`` (plain ``<name>``, profile
        ``<p1>+<p2>``, when the members live in different profiles and no one profile holds them
        all; with the component hashes appended when a profile holds several configurations of
        a component),
        and a ``kind`` column: ``proxy``, ``a-priori ensemble`` or ``selected ensemble``.
    """
    frame = frame if "kind" in frame.columns else frame.assign(kind="proxy")
    extra = []
    for ensemble, members in _wanted(frame, combos, tenas):
        for profile, choices in _label_choices(frame, members):
            many = any(len(c) > 1 for c in choices)
            for labels in itertools.product(*choices):
                rows = _combined_rows(frame, labels, ensemble, profile)
                if rows.empty:
                    log.warning(
                        "no cell has all of %s; %s not computed", ", ".join(labels), ensemble.name
                    )
                    continue
                suffix = ""
                if many:
                    suffix = "#" + "+".join(lab.partition("#")[2] or "-" for lab in labels)
                where = "" if "+" in profile else f"/{profile}"
                rows["label"] = f"{ensemble.name}{where}{suffix}"
                extra.append(rows)
    if not extra:
        return frame
    return pd.concat([frame, *extra], ignore_index=True)
