"""The pruning loop: one official round (`prune_round`), the DARTS edge pruning
(`prune_edge_groups`) and the whole search (`run_tenas`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harness.data import ImageSet
from search.tenas.config import TenasConfig
from search.tenas.indicator_round import (
    IndicatorMeter,
    check_space,
    indicator_round,
    uses_indicators,
)
from search.tenas.meter import CandidateMeasure, TenasMeter, measure_candidates
from search.tenas.rules import candidates, effective_prune_number, rank_candidates, select_prunes
from search.tenas.space import (
    NONE_INDEX,
    Key,
    PruningSpace,
    active_ops,
    initial_masks,
    is_single_path,
)


def _candidate_row(space: PruningSpace, key: Key, m: CandidateMeasure) -> dict:
    ct, e, op = key
    return {
        "cell_type": space.cell_types[ct],
        "edge": e,
        "edge_name": space.edge_names[e],
        "op": op,
        "op_name": space.op_names[op],
        "dkappa": float(m.dkappa),
        "dregions": float(m.dregions),
        "dkappa_repeats": [float(v) for v in m.dkappa_repeats],
        "dregions_repeats": [float(v) for v in m.dregions_repeats],
        "kappa_origin": [float(v) for v in m.kappa_origin],
        "kappa": [float(v) for v in m.kappa],
        "regions_origin": m.regions_origin,
        "regions": m.regions,
    }


def _measure_all(
    meter,
    keys: list[Key],
    masks: np.ndarray,
    progress: bool | None,
    desc: str,
    log: Callable[[str], None] | None = None,
):
    """Measure every candidate key; returns (ntk list, regions list, rows by key)."""
    ntk, regions, rows = [], [], {}
    for key, m in measure_candidates(meter, keys, masks, progress, desc):
        ntk.append([m.dkappa, key])
        regions.append([m.dregions, key])
        rows[key] = _candidate_row(meter.space, key, m)
        if log is not None:
            log(
                f"  {desc}: {rows[key]['cell_type']} {rows[key]['edge_name']} -{rows[key]['op_name']}: "
                f"dkappa {m.dkappa:+.4f} dregions {m.dregions:+.4f}"
            )
    return ntk, regions, rows


def _ranked_rows(rows: dict, ranked, pruned: set) -> list[dict]:
    """Candidate rows in measurement order, with their ranks and position in the rank-sum order."""
    info = {key: (position, ranks) for position, (key, ranks) in enumerate(ranked)}
    out = []
    for key, row in rows.items():
        position, (ntk_rank, regions_rank) = info[key]
        out.append(
            {
                **row,
                "ntk_rank": ntk_rank,
                "regions_rank": regions_rank,
                "rank_sum": ntk_rank + regions_rank,
                "order": position,
                "pruned": key in pruned,
            }
        )
    return out


def prune_round(
    meter,
    masks: np.ndarray,
    config: TenasConfig,
    *,
    progress: bool | None = None,
    desc: str = "round",
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """One official pruning round (``prune_func_rank``); returns the new masks and its record."""
    masks = masks.copy()
    masks[:, :, NONE_INDEX] = False  # forced at the start of every round
    meter.begin_round(masks)
    number = effective_prune_number(masks, config.prune_number)
    keys = candidates(masks)
    ntk, regions, rows = _measure_all(meter, keys, masks, progress, desc, log)
    ranked = rank_candidates(ntk, regions, config.precision)
    chosen = select_prunes(ranked, number)
    pruned = {key for keys_ in chosen.values() for key in keys_}
    for key in pruned:
        masks[key] = False
    record = {
        "prune_number": number,
        "candidates": _ranked_rows(rows, ranked, pruned),
        "pruned": [
            {
                "cell_type": meter.space.cell_types[k[0]],
                "edge": k[1],
                "edge_name": meter.space.edge_names[k[1]],
                "op": k[2],
                "op_name": meter.space.op_names[k[2]],
            }
            for k in sorted(pruned)
        ],
    }
    return masks, record


def prune_edge_groups(
    meter,
    masks: np.ndarray,
    config: TenasConfig,
    groups: Sequence[tuple[int, int]],
    keep: int = 2,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """DARTS-space edge pruning (``prune_func_rank_group``, docs/tenas-spec.md §8) on a single-path state.

    For every cell type and every group of incoming edges ``[start, stop)`` with more than `keep`
    edges, each edge's removal is measured, ranked by the same rank sum within the group, and all
    but the last `keep` in rank-sum order are removed. The NTK origin is set once for the whole
    phase (the official stale origin); the thin origin follows the current state. The space must
    treat an edge with no active op as absent.
    """
    masks = masks.copy()
    masks[:, :, NONE_INDEX] = False
    meter.begin_round(masks)
    records = []
    for ct in range(masks.shape[0]):
        for start, stop in groups:
            if stop - start <= keep:
                continue
            keys = [
                (ct, e, int(op)) for e in range(start, stop) for op in np.flatnonzero(masks[ct, e])
            ]
            ntk, regions, rows = _measure_all(
                meter, keys, masks, progress, f"group {start}-{stop}", log
            )
            ranked = rank_candidates(ntk, regions, config.precision)
            pruned = {key for key, _ in ranked[:-keep]}
            for key in pruned:
                masks[key] = False
            records.append(
                {
                    "cell_type": meter.space.cell_types[ct],
                    "group": [start, stop],
                    "candidates": _ranked_rows(rows, ranked, pruned),
                    "pruned_edges": sorted(k[1] for k in pruned),
                }
            )
    return masks, records


@dataclass
class TenasOutcome:
    masks: np.ndarray
    rounds: list[dict]
    search_seconds: float
    trajectory_seconds: float
    counts: dict
    data_epochs: int


def run_tenas(
    space: PruningSpace,
    config: TenasConfig,
    images: ImageSet,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
    log: Callable[[str], None] = lambda msg: None,
    edge_groups: Sequence[tuple[int, int]] | None = None,
) -> TenasOutcome:
    """The whole TE-NAS search: rounds until single path (then edge groups, if given).

    Seeds python, numpy and torch with `seed` first (the official ``prepare_seed``). Round 0 of
    the record is the state before pruning (`none` already out). With ``config.trajectory`` each
    round also carries ``kappa`` and ``regions`` of the supernet after it (measured on a separate
    stream, timed separately, never used to prune), and every round the space's `round_fields`.
    """
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    check_space(space, config)
    meter = TenasMeter(space, config, images, seed=seed, device=device)
    # Other indicators than TE-NAS's pair: their own round; the default path is untouched.
    pruner, round_meter = prune_round, meter
    if uses_indicators(config):
        pruner, round_meter = indicator_round, IndicatorMeter(meter, config)
    masks = initial_masks(space)
    search_s = trajectory_s = 0.0

    def state(record: dict, masks_: np.ndarray) -> dict:
        nonlocal trajectory_s
        record["active_ops"] = active_ops(space, masks_)
        if config.trajectory:
            t0 = time.perf_counter()
            record.update(meter.supernet_state(masks_))
            trajectory_s += time.perf_counter() - t0
            log(
                f"round {record['round']}: supernet kappa {record['kappa']:.6g}, regions {record['regions']:.6g}"
            )
        record.update(space.round_fields(masks_))
        return record

    rounds = [state({"round": 0, "prune_number": 0, "candidates": [], "pruned": []}, masks)]
    k = 0
    while not is_single_path(masks):
        k += 1
        t0 = time.perf_counter()
        masks, record = pruner(
            round_meter, masks, config, progress=progress, desc=f"round {k}", log=log
        )
        seconds = time.perf_counter() - t0
        search_s += seconds
        record = {"round": k, "seconds": seconds, **record}
        log(
            f"round {k}: {len(record['candidates'])} candidates, pruned "
            + ", ".join(f"{p['edge_name']}:{p['op_name']}" for p in record["pruned"])
            + f" ({seconds:.1f} s)"
        )
        rounds.append(state(record, masks))
    if edge_groups:
        t0 = time.perf_counter()
        masks, groups = prune_edge_groups(
            meter, masks, config, edge_groups, progress=progress, log=log
        )
        seconds = time.perf_counter() - t0
        search_s += seconds
        rounds.append(
            state(
                {
                    "round": k + 1,
                    "seconds": seconds,
                    "prune_number": 0,
                    "candidates": [],
                    "pruned": [],
                    "edge_groups": groups,
                },
                masks,
            )
        )
    counts = dict(meter.counts) if round_meter is meter else dict(round_meter.counts)
    return TenasOutcome(masks, rounds, search_s, trajectory_s, counts, meter.patch_stream.epochs)
