"""Which indicators TE-NAS's pruning may be driven by, and the settings of such a search.

An indicator is a registry proxy (`proxies.registry`) or an ensemble (`harness.ensembles`: its
members and its aggregation). The default, ``ntk_cond,linear_regions`` ranked by ``rank_sum``,
is TE-NAS itself and runs the official code path untouched (plain `TenasConfig`); any other choice
is an `IndicatorConfig` (docs/indicators.md).

An indicator qualifies only if its value is a function of the supernet's masked forward pass:
pruning masks an op by its architecture weight, so a proxy that counts modules or weights
(`NOT_FORWARD`) gives the same value whatever is masked and cannot rank removals.
An ensemble's non-qualifying members are left out and recorded (``dropped``); a non-qualifying
proxy named directly is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import InputError
from harness.ranking import AGGREGATIONS
from search.tenas.config import TenasConfig

DEFAULT_INDICATORS: tuple[str, ...] = ("ntk_cond", "linear_regions")
DEFAULT_AGGREGATION = "rank_sum"
#: Measured by the official TE-NAS meter (κ on the NTK supernet, R on the thin net), so a custom
#: list naming them measures them exactly as TE-NAS does.
TENAS_MEASURES: tuple[str, ...] = DEFAULT_INDICATORS
#: Proxies whose value ignores which ops the forward pass runs (the one place this is decided;
#: tests/test_search_indicators.py checks it on the supernet). FLOP counts (flops, az_complexity)
#: qualify: they count the ops the forward pass runs, and the supernet skips masked ops.
NOT_FORWARD: dict[str, str] = {
    "params": "counts parameters, masked ops included",
    "l2_norm": "sums weight norms, masked ops included",
}


def qualifying_proxies() -> list[str]:
    """Registry proxies that may drive the pruning: per-cell, and a function of the forward pass."""
    import proxies as registry  # noqa: F401  (registers every proxy)
    from proxies.registry import PROXIES

    return [n for n in sorted(PROXIES.names()) if n not in NOT_FORWARD and PROXIES.get(n).fn]


def _refuse(name: str, why: str) -> InputError:
    from harness.ensembles import list_ensembles

    return InputError(
        f"--indicators {name!r} {why}; an indicator must be a function of the supernet's masked "
        f"forward pass. Accepted proxies: {', '.join(qualifying_proxies())}; ensembles: "
        f"{', '.join(list_ensembles())} (docs/indicators.md)."
    )


@dataclass(frozen=True)
class IndicatorSet:
    """What drives a pruning: the names asked for, the proxies measured and their aggregation.

    `dropped` are ensemble members that do not qualify (e.g. AZ-NAS's complexity), left out and
    recorded; a non-qualifying proxy named directly is refused instead.
    """

    names: tuple[str, ...]
    members: tuple[str, ...]
    aggregation: str
    dropped: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        return self.members == DEFAULT_INDICATORS and self.aggregation == DEFAULT_AGGREGATION

    def directions(self) -> dict[str, bool]:
        """higher_is_better per member, from the registry."""
        from proxies.registry import get_proxy

        return {m: get_proxy(m).higher_is_better for m in self.members}


def resolve_indicators(names: str | Sequence[str]) -> IndicatorSet:
    """``"a,b"`` or ``["a", "b"]`` -> the `IndicatorSet`.

    One name that is an ensemble brings its members and aggregation; a list of proxies (or of
    ensembles, whose members are pooled) aggregates by ``rank_sum``, as TE-NAS.

    Raises:
        InputError: an unknown name, a non-qualifying proxy, or nothing left to measure.
    """
    from harness.ensembles import get_ensemble, list_ensembles

    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = tuple(names)
    if not names or any(not n for n in names):
        raise InputError(f"--indicators needs NAME[,NAME...]; got {','.join(names)!r}.")
    if len(set(names)) != len(names):
        raise InputError(f"--indicators names one indicator twice: {','.join(names)}.")
    ok = qualifying_proxies()
    members: list[str] = []
    dropped: list[str] = []
    aggregation = DEFAULT_AGGREGATION
    for name in names:
        if name in list_ensembles():
            ensemble = get_ensemble(name)
            if len(names) == 1:
                aggregation = ensemble.aggregation
            parts = ensemble.resolve([*ok, *NOT_FORWARD])
            for m in parts:
                target = dropped if m in NOT_FORWARD else members
                if m not in target:
                    target.append(m)
        elif name in NOT_FORWARD:
            raise _refuse(name, NOT_FORWARD[name])
        elif name not in ok:
            raise _refuse(name, "is neither a per-cell registry proxy nor an ensemble")
        elif name not in members:
            members.append(name)
    if not members:
        raise _refuse(",".join(names), "leaves no qualifying member")
    AGGREGATIONS.get(aggregation)
    return IndicatorSet(names, tuple(members), aggregation, tuple(dropped))


@dataclass(frozen=True)
class IndicatorConfig(TenasConfig):
    """`TenasConfig` of a search driven by other indicators (never the default pair: that is a
    plain `TenasConfig`, so default records and identities stay as they were)."""

    indicators: tuple[str, ...] = DEFAULT_INDICATORS  # the names asked for
    members: tuple[str, ...] = DEFAULT_INDICATORS  # the proxies measured
    aggregation: str = DEFAULT_AGGREGATION
    dropped: tuple[str, ...] = ()  # ensemble members left out (not functions of the forward pass)

    def __post_init__(self):
        super().__post_init__()
        if self.fixed_inputs:
            raise InputError(
                "--fixed-inputs applies to the default indicators only (ntk_cond,linear_regions)."
            )

    @property
    def indicator_set(self) -> IndicatorSet:
        return IndicatorSet(self.indicators, self.members, self.aggregation, self.dropped)


def with_indicators(settings: TenasConfig, names: str | Sequence[str] | None) -> TenasConfig:
    """`settings` driven by `names`: a plain `TenasConfig` for the default pair, else an
    `IndicatorConfig` holding the resolved set."""
    if names is None:
        return settings
    chosen = resolve_indicators(names)
    base = {k: v for k, v in settings.to_dict().items() if k in TenasConfig.__dataclass_fields__}
    if chosen.is_default:
        return TenasConfig(**base)
    return IndicatorConfig(
        **base,
        indicators=chosen.names,
        members=chosen.members,
        aggregation=chosen.aggregation,
        dropped=chosen.dropped,
    )


def indicator_label(settings: TenasConfig) -> str:
    """The run-name suffix and method part: the names asked for, joined by '+' ('' by default)."""
    return "+".join(settings.indicators) if isinstance(settings, IndicatorConfig) else ""
