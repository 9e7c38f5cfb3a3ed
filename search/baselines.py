"""Baseline searches on NB201: random cell, best-of-N by a proxy (as NASWOT searches) and
regularised evolution (Real et al., AAAI 2019) with a proxy as fitness.

Every baseline is seeded (`numpy.random.default_rng(seed)` draws the cells) and scores cells with
`sweep.scoring.CellScorer` under a profile whose data and weight seeds follow the search seed,
so each seed also redraws the proxy's inputs and network weights. Cost is counted as proxy
evaluations: one per (cell, per-cell proxy, repeat) actually computed, and as fitness queries.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

import proxies as proxy_registry
from harness.errors import InputError, unknown_name
from sweep.profiles import Profile, get_profile
from sweep.scoring import CellScorer, component_proxies
from harness.spaces.nb201 import EDGES, NUM_CELLS, OPS, Nb201Arch
from proxies.ntk import NTK_ENGINES

ALGOS = ("random", "best-of-n", "evolution")
#: The profile a proxy is scored under unless --profile says otherwise: TE-NAS's own indicators
#: on TE-NAS's networks; every other proxy on the benchmark network, as its paper does.
TENAS_PROFILE_PROXIES = ("tenas", "ntk_cond", "linear_regions")


def default_profile(proxy: str) -> str:
    return "tenas" if proxy in TENAS_PROFILE_PROXIES else "bench"


def ensemble_of(proxy: str):
    """The `harness.ensembles.Ensemble` a --proxy names (tenas, az_nas, all, selected), or None
    for a per-cell proxy."""
    from harness.ensembles import get_ensemble, list_ensembles

    return get_ensemble(proxy) if proxy in list_ensembles() else None


def score_members(proxy: str) -> list[str]:
    """The per-cell proxies a baseline computes for `proxy`: an ensemble's members, else itself."""
    ensemble = ensemble_of(proxy)
    if ensemble is None:
        return component_proxies([proxy])
    per_cell = [n for n in proxy_registry.list_proxies() if proxy_registry.get_proxy(n).fn]
    return list(ensemble.resolve(per_cell))


def population_fitness(proxy: str, values: list[dict]) -> np.ndarray:
    """An ensemble's fitness (higher = better) of each cell of a population, from its members'
    values: `harness.ensembles.score` over exactly these cells (each member ranked among them,
    then aggregated); -inf where a member has no finite value."""
    from harness.ensembles import score

    ensemble = ensemble_of(proxy)
    members = score_members(proxy)
    columns = {m: [np.nan if v[m] is None else v[m] for v in values] for m in members}
    directions = {m: proxy_registry.get_proxy(m).higher_is_better for m in members}
    out = score(ensemble, columns, directions)
    out = out if ensemble.higher_is_better else -out
    return np.where(np.isfinite(out), out, -np.inf)


@dataclass(frozen=True)
class BaselineConfig:
    """Settings of a baseline search; `profile` None means `default_profile(proxy)`."""

    proxy: str | None = None
    profile: str | None = None
    n: int = 100  # best-of-n: cells sampled
    budget: int = 100  # evolution: fitness queries, the initial population included
    population: int = 20
    sample_size: int = 5
    ntk_engine: str | None = None  # speed only: None = the profile's own engine
    #: the definition of a user's ensemble named by `proxy` (`harness search --ensembles FILE`),
    #: kept so that the record says what was scored; None for proxies and built-in ensembles
    ensemble: dict | None = None

    def resolved(self, algo: str) -> BaselineConfig:
        """Check the settings for `algo` and fill in the profile."""
        if algo not in ALGOS:
            raise InputError(f"unknown baseline {algo!r}; expected one of {', '.join(ALGOS)}.")
        for name in ("n", "budget", "population", "sample_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(
                    f"--{name.replace('_', '-')} must be a positive integer; got {value!r}."
                )
        if algo == "random":
            return BaselineConfig(
                n=self.n,
                budget=self.budget,
                population=self.population,
                sample_size=self.sample_size,
            )
        if self.ntk_engine is not None and self.ntk_engine not in NTK_ENGINES:
            raise unknown_name("NTK engine", self.ntk_engine, NTK_ENGINES)
        if self.proxy is None:
            raise InputError(
                f"--algo {algo} needs --proxy NAME (one of {', '.join(proxy_registry.list_proxies())})."
            )
        if ensemble_of(self.proxy) is None:
            spec = proxy_registry.get_proxy(self.proxy)  # unknown name -> InputError, suggestions
            if spec.fn is None:
                raise InputError(
                    f"--proxy {self.proxy!r} combines {', '.join(spec.combines)} but is no "
                    "ensemble; name the ensemble or one of its components."
                )
        if algo == "best-of-n" and self.n > NUM_CELLS:
            raise InputError(f"--n {self.n} exceeds the {NUM_CELLS} NB201 cells.")
        if algo == "evolution" and self.sample_size > self.population:
            raise InputError(
                f"--sample-size {self.sample_size} exceeds --population {self.population}."
            )
        profile = self.profile or default_profile(self.proxy)
        get_profile(profile)  # unknown name -> InputError
        from harness.ensembles import is_user_ensemble

        return BaselineConfig(
            self.proxy,
            profile,
            self.n,
            self.budget,
            self.population,
            self.sample_size,
            self.ntk_engine,
            ensemble_of(self.proxy).to_dict() if is_user_ensemble(self.proxy) else None,
        )

    @property
    def proxy_label(self) -> str:
        """The proxy's name, with a user ensemble's members and aggregation."""
        if self.ensemble is None:
            return str(self.proxy)
        return (
            f"{self.proxy} ({'+'.join(self.ensemble['members'])}, {self.ensemble['aggregation']})"
        )

    def profile_for_seed(self, seed: int) -> Profile:
        """The profile with data/weight seeds drawn from the search seed (and the NTK engine, if set)."""
        return get_profile(
            self.profile, data_seed=seed, weight_seed=1000 * seed, ntk_engine=self.ntk_engine
        )


@dataclass
class BaselineOutcome:
    arch: Nb201Arch
    seconds: float
    history: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    note: str = ""


def _random_arch(rng: np.random.Generator) -> Nb201Arch:
    return Nb201Arch.from_index(int(rng.integers(NUM_CELLS)))


class ProxyEvaluator:
    """Per-cell proxy values (mean over the profile's repeats), cached by cell index, with counts.

    A cell whose value is non-finite or failed in any repeat gets None (never selected).
    """

    def __init__(self, scorer: CellScorer, proxy_names: list[str], repeats: int):
        self.scorer, self.proxy_names, self.repeats = scorer, proxy_names, repeats
        self.cache: dict[int, dict[str, float | None]] = {}
        self.evaluations = 0  # (cell, proxy, repeat) computations
        self.failures = 0

    def __call__(self, arch: Nb201Arch) -> dict[str, float | None]:
        index = arch.index
        if index not in self.cache:
            todo = [(p, r) for p in self.proxy_names for r in range(self.repeats)]
            results = self.scorer.score(arch, todo)
            self.evaluations += len(results)
            values: dict[str, float | None] = {}
            for name in self.proxy_names:
                vals = [r.value for r in results if r.proxy == name]
                values[name] = None if any(v is None for v in vals) else float(np.mean(vals))
            self.failures += any(v is None for v in values.values())
            self.cache[index] = values
        return self.cache[index]


def make_evaluator(
    config: BaselineConfig, images, seed: int, device: str = "cpu"
) -> ProxyEvaluator:
    profile = config.profile_for_seed(seed)
    names = score_members(config.proxy)
    return ProxyEvaluator(CellScorer(profile, names, images, device), names, profile.repeats)


def _oriented(value: float | None, higher_is_better: bool) -> float:
    """Fitness to maximise; a missing value is the worst possible."""
    if value is None or not np.isfinite(value):
        return -np.inf
    return value if higher_is_better else -value


def random_search(seed: int) -> BaselineOutcome:
    """One cell drawn uniformly from the 15,625 encodings."""
    start = time.perf_counter()
    arch = _random_arch(np.random.default_rng(seed))
    return BaselineOutcome(
        arch, time.perf_counter() - start, [], {"proxy_evaluations": 0, "fitness_queries": 0}
    )


def best_of_n(
    config: BaselineConfig, evaluator: ProxyEvaluator, seed: int, progress: bool | None = None
) -> BaselineOutcome:
    """Sample N distinct cells uniformly, score each, keep the proxy's best (first on ties).

    An ensemble (``tenas``, ``az_nas``, ``selected``, ...) scores the N by `population_fitness`:
    each member ranked among the N, then aggregated (``tenas``: the rank sum of κ ascending and
    R descending, average ranks on ties, as TE-NAS ranks a population).
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    indices = rng.choice(NUM_CELLS, size=config.n, replace=False)
    archs = [Nb201Arch.from_index(int(i)) for i in indices]
    values = [
        evaluator(a)
        for a in tqdm(
            archs,
            desc=f"best-of-{config.n} {config.proxy}",
            unit="cell",
            disable=None if progress is None else not progress,
            leave=False,
        )
    ]
    ensemble = ensemble_of(config.proxy)
    if ensemble is not None:  # population-level aggregate
        fitness = list(population_fitness(config.proxy, values))
        sign = 1.0 if ensemble.higher_is_better else -1.0
        shown = [float(sign * f) if np.isfinite(f) else None for f in fitness]
    else:
        spec = proxy_registry.get_proxy(config.proxy)
        fitness = [_oriented(v[config.proxy], spec.higher_is_better) for v in values]
        shown = [v[config.proxy] for v in values]
    if not np.isfinite(fitness).any():
        raise InputError(
            f"proxy {config.proxy!r} gave no finite value on any of the {config.n} sampled cells."
        )
    best = int(np.argmax(fitness))
    history = [
        {
            "index": a.index,
            "arch_str": str(a),
            "score": s,
            **{f"value_{k}": v for k, v in vals.items()},
        }
        for a, s, vals in zip(archs, shown, values)
    ]
    counts = {
        "proxy_evaluations": evaluator.evaluations,
        "fitness_queries": config.n,
        "cells_without_value": int(sum(not np.isfinite(f) for f in fitness)),
    }
    return BaselineOutcome(
        archs[best],
        time.perf_counter() - start,
        history,
        counts,
        note=f"best of {config.n} by {config.proxy} (position {best} in the sample)",
    )


def mutate(arch: Nb201Arch, rng: np.random.Generator) -> Nb201Arch:
    """Change the op of one uniformly chosen edge to a different op (uniform over the other four)."""
    ops = list(arch.ops)
    edge = int(rng.integers(len(EDGES)))
    choices = [op for op in OPS if op != ops[edge]]
    ops[edge] = choices[int(rng.integers(len(choices)))]
    return Nb201Arch(tuple(ops))


def evolution(
    config: BaselineConfig,
    evaluator: ProxyEvaluator,
    seed: int,
    progress: bool | None = None,
    fitness_of: Callable[[dict], float | None] | None = None,
) -> BaselineOutcome:
    """Regularised evolution: a population of `population` random cells; then, until `budget`
    fitness queries are spent, the best of `sample_size` distinct members (uniform) is mutated,
    the child joins and the oldest member leaves. Returns the best cell ever queried (first on
    ties). Re-queried cells count against the budget but are served from the cache.

    With an ensemble as `config.proxy`, a cell's fitness is the ensemble's aggregate over every
    distinct cell queried so far (`population_fitness`), recomputed before each tournament (the
    population's fitness changes as the search sees more cells); the returned cell is the best by
    the aggregate over all queried cells, and each history entry's ``value`` is that final
    aggregate (``values``: the members' values)."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    ensemble = ensemble_of(config.proxy)
    spec = ensemble or proxy_registry.get_proxy(config.proxy)
    value_of = fitness_of or (lambda values: values[config.proxy])
    if ensemble is not None:
        value_of = lambda values: None  # noqa: E731  (ranked among the seen cells instead)
    history: list[dict] = []
    population: deque[tuple[Nb201Arch, float]] = deque()
    bar = tqdm(
        total=config.budget,
        desc=f"evolution {config.proxy}",
        unit="query",
        disable=None if progress is None else not progress,
        leave=False,
    )

    def query(arch: Nb201Arch, parent: int | None) -> float:
        values = evaluator(arch)
        value = value_of(values)
        fit = _oriented(value, spec.higher_is_better)
        entry = {"index": arch.index, "arch_str": str(arch), "value": value, "parent": parent}
        history.append(entry if ensemble is None else {**entry, "values": values})
        bar.update(1)
        return fit

    def seen_fitness() -> dict[int, float]:
        seen = list(dict.fromkeys(h["index"] for h in history))
        fits = population_fitness(config.proxy, [evaluator.cache[i] for i in seen])
        return dict(zip(seen, fits))

    while len(population) < config.population and len(history) < config.budget:
        arch = _random_arch(rng)
        population.append((arch, query(arch, None)))
    while len(history) < config.budget:
        picks = rng.choice(len(population), size=config.sample_size, replace=False)
        now = None if ensemble is None else seen_fitness()
        parent = max(
            sorted(int(i) for i in picks),
            key=lambda i: population[i][1] if now is None else now[population[i][0].index],
        )
        child = mutate(population[parent][0], rng)
        population.append((child, query(child, population[parent][0].index)))
        population.popleft()
    bar.close()
    if ensemble is None:
        fits = [_oriented(h["value"], spec.higher_is_better) for h in history]
    else:
        final = seen_fitness()
        fits = [final[h["index"]] for h in history]
        sign = 1.0 if ensemble.higher_is_better else -1.0
        for h, f in zip(history, fits):
            h["value"] = float(sign * f) if np.isfinite(f) else None
    if not np.isfinite(fits).any():
        raise InputError(f"proxy {config.proxy!r} gave no finite value on any queried cell.")
    best = int(np.argmax(fits))
    counts = {
        "proxy_evaluations": evaluator.evaluations,
        "fitness_queries": len(history),
        "unique_cells": len({h["index"] for h in history}),
    }
    return BaselineOutcome(
        Nb201Arch.from_str(history[best]["arch_str"]),
        time.perf_counter() - start,
        history,
        counts,
        note=f"best of {len(history)} queries (query {best})",
    )
