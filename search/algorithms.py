"""The registry of search algorithms: one `AlgorithmSpec` per algorithm, chosen by name.

An algorithm declares the spaces it runs on, its settings (the official ones of a space and
dataset, which fields a request may set, how they are checked), how its settings name a run
(folder) and a method (leaderboard label), the options a record keeps, and `run`, which searches
one seed and returns a `Found`. The run executor (`search.runs`) does everything around it —
resuming, records, logs — the same way for every algorithm and space. Adding one is a function
and a registration (docs/extending.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.registry import Registry
from search.baselines import BaselineConfig, best_of_n, evolution, make_evaluator, random_search
from search.tenas import TenasConfig, quirk_options, run_tenas
from search.tenas.indicators import IndicatorConfig, indicator_label, with_indicators

if TYPE_CHECKING:
    from harness.data import ImageSet
    from search.runs import SearchSpec

#: Settings that change how fast, not what, a TE-NAS search computes (kept out of method labels
#: and out of the identity a finished run must match to be resumed).
SPEED_ONLY = ("ntk_engine", "trajectory")


@dataclass
class Found:
    """What one search seed found: the space's cell, its cost, and algorithm-specific record
    fields."""

    arch: object  # the space's cell: harness.spaces.nb201.Nb201Arch, harness.spaces.darts.Genotype
    seconds: float
    counts: dict
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    description: str
    config: type
    spaces: tuple[str, ...]
    #: the settings fields a request may set (what `harness search` accepts with this algorithm)
    takes: tuple[str, ...]
    #: (space adapter, dataset) -> the settings when a request sets nothing
    official: Callable
    #: (official settings, {field: value} a request sets) -> the checked settings, with what
    #: depends on other settings filled in
    resolve: Callable
    #: (settings) -> the run's folder name (before --tag)
    run_name: Callable
    #: (settings, official settings) -> the leaderboard label: the algorithm plus every setting
    #: that changes its result
    method: Callable
    #: (settings, seed) -> the options a record keeps beside the settings
    options: Callable
    #: (spec: search.runs.SearchSpec, images, progress, log) -> Found
    run: Callable


ALGORITHMS: Registry[AlgorithmSpec] = Registry("algorithm")


def register_algorithm(spec: AlgorithmSpec) -> AlgorithmSpec:
    return ALGORITHMS.add(spec.name, spec)


def _tenas_method(s: TenasConfig, official: TenasConfig) -> str:
    """``TE-NAS (ours)`` plus every setting that differs from the space's official one and
    changes the result; other indicators than κ and R are named after ``by``."""
    base = official.to_dict()
    extra = {
        k: v for k, v in s.to_dict().items() if k in base and v != base[k] and k not in SPEED_ONLY
    }
    by = ""
    if isinstance(s, IndicatorConfig):
        dropped = f", without {'+'.join(s.dropped)}" if s.dropped else ""
        by = f" by {indicator_label(s)} ({'+'.join(s.members)}, {s.aggregation}{dropped})"
    return (
        "TE-NAS (ours)"
        + by
        + (" [" + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) + "]" if extra else "")
    )


def _resolve_tenas(official: TenasConfig, given: dict) -> TenasConfig:
    names = given.pop("indicators", None)
    return with_indicators(dataclasses.replace(official, **given), names)


def _tenas_options(s: TenasConfig, seed: int) -> dict:
    options = quirk_options(s)
    if isinstance(s, IndicatorConfig):
        options["indicators_note"] = (
            "each candidate measured by every indicator on the masked supernet (search.tenas."
            "indicator_round): relative change (origin - candidate) / |origin| averaged over "
            "repeats; prune first the least costly removal per indicator; per-indicator ranks "
            f"aggregated by {s.aggregation}"
            + (
                f"; left out (not functions of the forward pass): {', '.join(s.dropped)}"
                if s.dropped
                else ""
            )
        )
    return options


def _run_tenas(spec: SearchSpec, images: ImageSet, progress, log) -> Found:
    space = spec.adapter.pruning_space(spec.dataset, images, spec.device)
    outcome = run_tenas(
        space,
        spec.settings,
        images,
        seed=spec.seed,
        device=spec.device,
        progress=progress,
        log=log,
        edge_groups=space.edge_groups,
    )
    counts = {**outcome.counts, "total": sum(outcome.counts.values())}
    return Found(
        space.final_cell(outcome.masks),
        outcome.search_seconds,
        counts,
        {
            "trajectory_seconds": outcome.trajectory_seconds,
            "rounds": outcome.rounds,
            "lr_data_epochs": outcome.data_epochs,
        },
    )


def _run_random(spec: SearchSpec, images: ImageSet, progress, log) -> Found:
    outcome = random_search(spec.seed)
    return Found(outcome.arch, outcome.seconds, outcome.counts)


def _baseline(search: Callable) -> Callable:
    def run(spec: SearchSpec, images: ImageSet, progress, log) -> Found:
        s, seed = spec.settings, spec.seed
        outcome = search(s, make_evaluator(s, images, seed, spec.device), seed, progress=progress)
        return Found(
            outcome.arch,
            outcome.seconds,
            outcome.counts,
            {"history": outcome.history, "note": outcome.note},
        )

    return run


def _evolution_method(s: BaselineConfig, official: BaselineConfig) -> str:
    extra = [f"population={s.population}"] if s.population != official.population else []
    extra += [f"sample_size={s.sample_size}"] if s.sample_size != official.sample_size else []
    return f"evolution {s.proxy_label} ({s.profile} profile), budget {s.budget}" + (
        " [" + ", ".join(extra) + "]" if extra else ""
    )


def _profile_options(s: BaselineConfig, seed: int) -> dict:
    return {"profile": s.profile_for_seed(seed).to_dict()}


def _baseline_spec(name: str, description: str, takes: tuple[str, ...], **fields) -> AlgorithmSpec:
    """A baseline: NB201 only, `BaselineConfig` settings checked for the algorithm `name`."""
    return AlgorithmSpec(
        name,
        description,
        BaselineConfig,
        ("nb201",),
        takes,
        official=lambda adapter, dataset: BaselineConfig(),
        resolve=lambda s, given: dataclasses.replace(s, **given).resolved(name),
        **fields,
    )


register_algorithm(
    AlgorithmSpec(
        "tenas",
        "TE-NAS: prune the supernet by the ranks of the NTK condition number and linear regions",
        TenasConfig,
        ("nb201", "darts"),
        (*(f.name for f in dataclasses.fields(TenasConfig)), "indicators"),
        official=lambda adapter, dataset: TenasConfig(**adapter.tenas_defaults[dataset]),
        resolve=_resolve_tenas,
        run_name=lambda s: "-".join(filter(None, ("tenas", indicator_label(s)))),
        method=_tenas_method,
        options=_tenas_options,
        run=_run_tenas,
    )
)
register_algorithm(
    _baseline_spec(
        "random",
        "a uniformly random cell (no proxy)",
        (),
        run_name=lambda s: "random",
        method=lambda s, official: "random",
        options=lambda s, seed: {},
        run=_run_random,
    )
)
_PROXY_SETTINGS = ("proxy", "profile", "ntk_engine")
register_algorithm(
    _baseline_spec(
        "best-of-n",
        "the best of N random cells by one proxy",
        (*_PROXY_SETTINGS, "n"),
        run_name=lambda s: f"best-of-n-{s.proxy}-{s.profile}",
        method=lambda s, official: f"best-of-{s.n} {s.proxy_label} ({s.profile} profile)",
        options=_profile_options,
        run=_baseline(best_of_n),
    )
)
register_algorithm(
    _baseline_spec(
        "evolution",
        "regularised evolution on one proxy's scores",
        (*_PROXY_SETTINGS, "budget", "population", "sample_size"),
        run_name=lambda s: f"evolution-{s.proxy}-{s.profile}",
        method=_evolution_method,
        options=_profile_options,
        run=_baseline(evolution),
    )
)


def comparable_identity(identity: dict) -> dict:
    """A run's identity without the speed-only settings, so a finished run is resumed (not rerun
    or refused) whatever NTK engine the new request names — for every space alike. Unset (None)
    settings are left out too, so a setting added later with a None default (a baseline's
    `ensemble`) leaves the identities of earlier records as they were."""
    settings = {
        k: v
        for k, v in (identity.get("settings") or {}).items()
        if k not in SPEED_ONLY and v is not None
    }
    return {**identity, "settings": settings}
