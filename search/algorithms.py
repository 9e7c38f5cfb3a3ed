"""The registry of search algorithms: one `AlgorithmSpec` per algorithm, chosen by name.

An algorithm declares the spaces it runs on, how its settings name a run (folder) and a method
(leaderboard label), the options a record keeps, and `run`, which searches one seed and returns a
`Found`. The run executor (`search.runs`) does everything around it — resuming, records, logs —
the same way for every algorithm. Adding one is a function and a registration (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.registry import Registry
from search.baselines import BaselineConfig, best_of_n, evolution, make_evaluator, random_search
from search.nb201_adapter import Nb201PruningSpace
from search.tenas import TenasConfig, quirk_options, run_tenas

#: Settings that change how fast, not what, a TE-NAS search computes (kept out of method labels
#: and out of the identity a finished run must match to be resumed).
SPEED_ONLY = ("ntk_engine", "trajectory")


@dataclass
class Found:
    """What one search seed found: the NB201 cell, its cost, and algorithm-specific record fields."""

    arch: object  # harness.spaces.nb201.Nb201Arch
    seconds: float
    counts: dict
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    description: str
    config: type
    spaces: tuple[str, ...]
    #: (settings) -> the run's folder name (before --tag)
    run_name: Callable
    #: (settings) -> the leaderboard label: the algorithm plus every setting that changes its result
    method: Callable
    #: (settings, seed) -> the options a record keeps beside the settings
    options: Callable
    #: (settings, images, seed, device, progress, log) -> Found
    run: Callable


ALGORITHMS: Registry[AlgorithmSpec] = Registry("search algorithm")


def register_algorithm(spec: AlgorithmSpec) -> AlgorithmSpec:
    return ALGORITHMS.add(spec.name, spec)


def _tenas_method(s: TenasConfig) -> str:
    extra = {k: v for k, v in s.non_default().items() if k not in SPEED_ONLY}
    return "TE-NAS (ours)" + (
        " [" + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) + "]" if extra else ""
    )


def _run_tenas(s: TenasConfig, images, seed, device, progress, log) -> Found:
    space = Nb201PruningSpace(images.num_classes, device)
    outcome = run_tenas(space, s, images, seed=seed, device=device, progress=progress, log=log)
    counts = {**outcome.counts, "total": sum(outcome.counts.values())}
    return Found(
        space.arch(outcome.masks),
        outcome.search_seconds,
        counts,
        {
            "trajectory_seconds": outcome.trajectory_seconds,
            "rounds": outcome.rounds,
            "lr_data_epochs": outcome.data_epochs,
        },
    )


def _run_random(s: BaselineConfig, images, seed, device, progress, log) -> Found:
    outcome = random_search(seed)
    return Found(outcome.arch, outcome.seconds, outcome.counts)


def _baseline(search: Callable) -> Callable:
    def run(s: BaselineConfig, images, seed, device, progress, log) -> Found:
        outcome = search(s, make_evaluator(s, images, seed, device), seed, progress=progress)
        return Found(
            outcome.arch,
            outcome.seconds,
            outcome.counts,
            {"history": outcome.history, "note": outcome.note},
        )

    return run


def _evolution_method(s: BaselineConfig) -> str:
    base = BaselineConfig()
    extra = [f"population={s.population}"] if s.population != base.population else []
    extra += [f"sample_size={s.sample_size}"] if s.sample_size != base.sample_size else []
    return f"evolution {s.proxy} ({s.profile} profile), budget {s.budget}" + (
        " [" + ", ".join(extra) + "]" if extra else ""
    )


def _profile_options(s: BaselineConfig, seed: int) -> dict:
    return {"profile": s.profile_for_seed(seed).to_dict()}


register_algorithm(
    AlgorithmSpec(
        "tenas",
        "TE-NAS: prune the supernet by the ranks of the NTK condition number and linear regions",
        TenasConfig,
        ("nb201", "darts"),
        run_name=lambda s: "tenas",
        method=_tenas_method,
        options=lambda s, seed: quirk_options(s),
        run=_run_tenas,
    )
)
register_algorithm(
    AlgorithmSpec(
        "random",
        "a uniformly random cell (no proxy)",
        BaselineConfig,
        ("nb201",),
        run_name=lambda s: "random",
        method=lambda s: "random",
        options=lambda s, seed: {},
        run=_run_random,
    )
)
register_algorithm(
    AlgorithmSpec(
        "best-of-n",
        "the best of N random cells by one proxy",
        BaselineConfig,
        ("nb201",),
        run_name=lambda s: f"best-of-n-{s.proxy}-{s.profile}",
        method=lambda s: f"best-of-{s.n} {s.proxy} ({s.profile} profile)",
        options=_profile_options,
        run=_baseline(best_of_n),
    )
)
register_algorithm(
    AlgorithmSpec(
        "evolution",
        "regularised evolution on one proxy's scores",
        BaselineConfig,
        ("nb201",),
        run_name=lambda s: f"evolution-{s.proxy}-{s.profile}",
        method=_evolution_method,
        options=_profile_options,
        run=_baseline(evolution),
    )
)


def comparable_identity(identity: dict) -> dict:
    """A run's identity without the speed-only settings, so a finished run is resumed (not rerun
    or refused) whatever NTK engine the new request names — for every space alike."""
    settings = {k: v for k, v in (identity.get("settings") or {}).items() if k not in SPEED_ONLY}
    return {**identity, "settings": settings}
