"""One pruning round driven by any indicators (`IndicatorConfig`): the same candidates, repeats,
seeded inputs, networks and selection rule as the official round (`loop.prune_round`), with each
candidate measured by every indicator and ranked by the indicators' aggregation.

Per candidate (one op removed) and repeat r, the round's NTK origin supernet (default init, its
weights copied into a new candidate supernet with that op masked, as TE-NAS) and a fresh training
batch drawn from the meter's data stream feed every registry proxy on both nets; the change is
(v_origin - v_candidate) / |v_origin|, averaged over repeats (not rounded per repeat). A removal
costs the least when the change is smallest for a higher-is-better indicator and largest for a
lower-is-better one (TE-NAS: ΔR ascending, Δκ descending); ntk_cond and linear_regions, when
named, are TE-NAS's own Δκ and ΔR from `TenasMeter.measure`. Each indicator's candidates are
ranked by the official tie rules (`measure_ranks`, 3-significant-figure key; a non-finite
change ranks last), the ranks (1 = prune first) are aggregated by the set's aggregation
(`harness.ranking`), and `select_prunes` walks that order.
"""

from __future__ import annotations

import inspect

import copy
import math
from collections.abc import Callable

import numpy as np
from torch import nn

from harness.data import image_batch
from harness.ranking import AGGREGATIONS
from search.tenas.indicators import TENAS_MEASURES, IndicatorConfig
from search.tenas.meter import TenasMeter, copy_parameters, kaiming_init_, measure_candidates
from search.tenas.rules import candidates, effective_prune_number, measure_ranks, select_prunes
from search.tenas.space import NONE_INDEX, Key


def frozen_masks(net: nn.Module) -> nn.Module:
    """A copy of a supernet whose architecture weights are a plain tensor, not a parameter: a
    proxy that rewrites every state tensor (synflow's abs) or parameter cannot unmask an op."""
    out = copy.deepcopy(net)
    alphas = out.arch_parameters.detach().clone()
    del out.arch_parameters
    out.arch_parameters = alphas
    return out


def relative_change(origin: float, candidate: float) -> float:
    """(origin - candidate) / |origin|; NaN when undefined (origin 0 or a value not finite)."""
    if not (math.isfinite(origin) and math.isfinite(candidate)) or origin == 0:
        return math.nan
    return (origin - candidate) / abs(origin)


class IndicatorMeter:
    """Measures every indicator of an `IndicatorConfig` per candidate; counts evaluations."""

    def __init__(self, tenas: TenasMeter, config: IndicatorConfig):
        from proxies.registry import get_proxy

        self.tenas, self.config, self.space = tenas, config, tenas.space
        self.members = config.members
        self.directions = config.indicator_set.directions()
        self.proxies = [m for m in self.members if m not in TENAS_MEASURES]
        self.labels = any(get_proxy(m).needs_labels for m in self.proxies)
        #: Proxies that draw their own weights and inputs from a ``seed`` keyword (AZ-NAS's): each
        #: repeat hands them a seed from the search's data stream, so that the search seed and the
        #: repeats vary them as they vary every other indicator (their default seed would make
        #: every repeat, and every search seed, the same draw).
        self.seeded = {
            m for m in self.proxies if "seed" in inspect.signature(get_proxy(m).fn).parameters
        }
        self.counts = {m: 0 for m in self.members}

    def begin_round(self, masks: np.ndarray) -> None:
        self.tenas.begin_round(masks)

    def _values(self, net: nn.Module, x, y, seed: int) -> dict[str, float]:
        from proxies.registry import compute

        frozen = frozen_masks(net)
        out = {}
        for name in self.proxies:
            self.counts[name] += 1
            options = {"seed": seed} if name in self.seeded else {}
            out[name] = compute(name, frozen, x, y, **options)
        return out

    def measure(self, cand_masks: np.ndarray, origin_masks: np.ndarray) -> dict[str, dict]:
        """Per indicator: ``change`` (the mean over repeats) and the per-repeat values."""
        cfg, space, tenas = self.config, self.space, self.tenas
        rows: dict[str, dict] = {}
        if self.proxies:
            net = space.build_ntk_net()
            per = {n: {"origin": [], "candidate": [], "change_repeats": []} for n in self.proxies}
            for _ in range(cfg.repeats):
                if cfg.init == "kaiming":
                    kaiming_init_(tenas.origin, "fan_out")
                copy_parameters(tenas.origin, net)
                space.set_masks(net, cand_masks)
                x, y = image_batch(
                    tenas.images, cfg.batch_size, int(tenas.data_rng.integers(2**62)), augment=True
                )
                x, y = x.to(tenas.device), (y.to(tenas.device) if self.labels else None)
                seed = int(tenas.data_rng.integers(2**31))  # one draw for origin and candidate
                vo, vc = self._values(tenas.origin, x, y, seed), self._values(net, x, y, seed)
                for n in self.proxies:
                    per[n]["origin"].append(vo[n])
                    per[n]["candidate"].append(vc[n])
                    per[n]["change_repeats"].append(relative_change(vo[n], vc[n]))
            for n, r in per.items():
                rows[n] = {"change": float(np.mean(r["change_repeats"])), **r}
        if any(m in TENAS_MEASURES for m in self.members):
            m = tenas.measure(cand_masks, origin_masks)
            for name, change, reps, origin, cand in (
                ("ntk_cond", m.dkappa, m.dkappa_repeats, m.kappa_origin, m.kappa),
                ("linear_regions", m.dregions, m.dregions_repeats, m.regions_origin, m.regions),
            ):
                if name in self.members:
                    self.counts[name] += 1
                    rows[name] = {
                        "change": float(change),
                        "origin": [float(v) for v in origin],
                        "candidate": [float(v) for v in cand],
                        "change_repeats": [float(v) for v in reps],
                    }
        return {n: rows[n] for n in self.members}


def rank_by_indicators(
    changes: dict[str, list[tuple[float, Key]]],
    directions: dict[str, bool],
    aggregation: str,
    precision: int,
) -> list[tuple[Key, list[int], float]]:
    """``[(key, [rank per indicator], aggregate), ...]`` in pruning order (first = pruned first).

    Each indicator ranks its candidates 0, 1, ... by the official tie rules (`measure_ranks`):
    ascending change for a higher-is-better indicator, descending for a lower-is-better one;
    a non-finite change ranks last. The ranks + 1 (best-first) go through the aggregation's
    `from_ranks` with n = the number of candidates; the order is best aggregate first, ties in
    the first indicator's order (`rank_sum` of ntk_cond, linear_regions = TE-NAS's rank sum).
    """
    names = list(changes)
    by = []
    for name in names:
        descending = not directions[name]
        worst = -math.inf if descending else math.inf
        values = [(v if math.isfinite(v) else worst, key) for v, key in changes[name]]
        by.append(measure_ranks(values, precision, descending=descending))
    order = list(by[0])
    agg = AGGREGATIONS.get(aggregation)
    ranks = [np.array([r[key] + 1 for key in order], dtype=float) for r in by]
    scores = np.asarray(agg.from_ranks(ranks, [len(order)] * len(names)), dtype=float)
    sign = -1.0 if agg.higher_is_better else 1.0
    position = sorted(range(len(order)), key=lambda i: sign * scores[i])
    return [(order[i], [r[order[i]] for r in by], float(scores[i])) for i in position]


def indicator_round(
    meter: IndicatorMeter,
    masks: np.ndarray,
    config: IndicatorConfig,
    *,
    progress: bool | None = None,
    desc: str = "round",
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """One round as `loop.prune_round`, by the indicators; returns the new masks and its record."""
    space = meter.space
    masks = masks.copy()
    masks[:, :, NONE_INDEX] = False
    meter.begin_round(masks)
    number = effective_prune_number(masks, config.prune_number)
    keys = candidates(masks)
    measured: dict[Key, dict] = {}
    for key, measure in measure_candidates(meter, keys, masks, progress, desc):
        measured[key] = measure
        if log is not None:
            log(
                f"  {desc}: {space.edge_names[key[1]]} -{space.op_names[key[2]]}: "
                + " ".join(f"{n} {v['change']:+.4g}" for n, v in measured[key].items())
            )
    changes = {n: [(measured[k][n]["change"], k) for k in keys] for n in config.members}
    ranked = rank_by_indicators(changes, meter.directions, config.aggregation, config.precision)
    pruned = {
        k for ks in select_prunes([(k, r) for k, r, _ in ranked], number).values() for k in ks
    }
    for key in pruned:
        masks[key] = False
    info = {key: (pos, ranks, score) for pos, (key, ranks, score) in enumerate(ranked)}

    def where(k: Key) -> dict:
        return {
            "cell_type": space.cell_types[k[0]],
            "edge": k[1],
            "edge_name": space.edge_names[k[1]],
            "op": k[2],
            "op_name": space.op_names[k[2]],
        }

    rows = []
    for key in keys:
        pos, ranks, score = info[key]
        indicators = {
            n: {**measured[key][n], "rank": rank} for n, rank in zip(config.members, ranks)
        }
        rows.append(
            {
                **where(key),
                "indicators": indicators,
                "aggregate": score,
                "order": pos,
                "pruned": key in pruned,
            }
        )
    record = {
        "prune_number": number,
        "candidates": rows,
        "pruned": [where(k) for k in sorted(pruned)],
    }
    return masks, record


def uses_indicators(config) -> bool:
    return isinstance(config, IndicatorConfig)


def check_space(space, config) -> None:
    """Custom indicators prune ops only (no §8 edge-group step, which ranks by κ and R)."""
    from harness.errors import InputError

    if uses_indicators(config) and space.edge_groups:
        raise InputError(
            f"--indicators other than the default run on spaces without edge pruning (nb201); "
            f"{space.name} prunes edges by κ and R."
        )


__all__ = [
    "IndicatorMeter",
    "check_space",
    "frozen_masks",
    "indicator_round",
    "rank_by_indicators",
    "relative_change",
]
