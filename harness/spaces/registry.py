"""The search spaces: one `SpaceSpec` per space in `SPACES`, naming what each space offers.

A spec refers to the space's functions by `Ref` ("module:name", imported on first use), so reading
the registry (`harness spaces`, checking ``--space``) imports neither torch nor the networks.
A new space is one module (or package) plus one `register_space` call below (docs/extending.md).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any

from harness.errors import InputError
from harness.registry import Registry
from harness.spaces import nb201


@dataclass(frozen=True)
class Ref:
    """A module-level object named ``"module:name"``, imported when first used."""

    target: str

    def __post_init__(self):
        module, sep, name = self.target.partition(":")
        if not (module and sep and name):
            raise ValueError(f"a Ref names 'module:name'; got {self.target!r}")

    def load(self) -> Any:
        module, _, name = self.target.partition(":")
        obj = importlib.import_module(module)
        for part in name.split("."):  # "Class.method" too
            obj = getattr(obj, part)
        return obj

    def __call__(self, *args, **kwargs) -> Any:
        return self.load()(*args, **kwargs)

    def __str__(self) -> str:
        return self.target


#: The fields an enumerable space (a finite, indexed cell list: what run-proxies sweeps) sets.
ENUMERABLE_FIELDS = (
    "num_cells",
    "cell_from_index",
    "index_of",
    "all_cells",
    "isomorphism_keys",
    "param_count",
    "network_settings",
)


@dataclass(frozen=True)
class SpaceSpec:
    """What a search space offers; a `Ref` field is called (or, where said, loaded) to use it."""

    name: str
    #: One line for `harness spaces`.
    description: str
    #: () -> dict: the space's summary (ops, edges, sizes), printed by `harness spaces`.
    describe: Ref
    #: (value) -> cell: the cell (architecture) from its text form or value; NB201: an index,
    #: an arch string, an `Nb201Arch` or 6 op names; DARTS: a shipped name, a file, a
    #: ``Genotype(...)`` text, a dict or a `Genotype`. Bad input raises `InputError`.
    parse_cell: Ref
    #: (cell, preset, **overrides) -> nn.Module returning logits: the network of one cell.
    build_network: Ref
    #: The presets `build_network` accepts (NB201: benchmark / TE-NAS nets; DARTS: a dataset).
    network_presets: tuple[str, ...]
    #: (preset, **overrides) -> nn.Module: every op on every edge, mixed by alphas, all active.
    build_supernet: Ref
    supernet_presets: tuple[str, ...]
    #: Loaded (``.load()``): {name: cell} of published architectures shipped with the space.
    published_cells: Ref | None = None
    # ---- an enumerable space sets all of these (ENUMERABLE_FIELDS), the others none ----------
    #: Cells in the space; their indices are 0..num_cells-1.
    num_cells: int | None = None
    #: (index) -> cell; an index out of range raises `InputError`.
    cell_from_index: Ref | None = None
    #: (index, text or cell) -> the cell's index, validated.
    index_of: Ref | None = None
    #: () -> every cell, in index order.
    all_cells: Ref | None = None
    #: () -> per index, a key equal for cells that compute the same function (isomorphism).
    isomorphism_keys: Ref | None = None
    #: (cell) -> parameters of the cell's benchmark network.
    param_count: Ref | None = None
    #: (preset) -> dict: the settings of a `build_network` preset, recorded in (and hashed with) a
    #: sweep's configuration, so a preset whose settings change gets new results.
    network_settings: Ref | None = None

    def __post_init__(self):
        given = [f for f in ENUMERABLE_FIELDS if getattr(self, f) is not None]
        if given and len(given) != len(ENUMERABLE_FIELDS):
            missing = [f for f in ENUMERABLE_FIELDS if f not in given]
            raise ValueError(
                f"space {self.name!r} is enumerable only with all of {', '.join(ENUMERABLE_FIELDS)}; "
                f"missing {', '.join(missing)}"
            )

    @property
    def enumerable(self) -> bool:
        """True when the space has a finite, indexed cell list (what a sweep scores)."""
        return self.num_cells is not None


SPACES: Registry[SpaceSpec] = Registry("space")


def register_space(spec: SpaceSpec) -> SpaceSpec:
    """Add `spec` to `SPACES`; a name registered twice is an error."""
    return SPACES.add(spec.name, spec)


def get_space(name: str) -> SpaceSpec:
    """The spec of `name`; an unknown name raises `InputError` with a suggestion and the names."""
    return SPACES.get(name)


def list_spaces(pattern: str = "*") -> list[str]:
    """Registered space names matching the wildcard `pattern`, in registration order."""
    return SPACES.names(pattern)


def sweepable_spaces() -> list[str]:
    """The spaces with an enumerable cell list, in registration order."""
    return [spec.name for spec in SPACES if spec.enumerable]


def get_sweepable_space(name: str, command: str = "run-proxies") -> SpaceSpec:
    """The spec of `name` if it has an enumerable cell list; else an `InputError` of one line that
    names the spaces `command` can sweep."""
    sweepable = sweepable_spaces()
    supported = (
        f"{command} supports --space {', '.join(sweepable)} (it needs an enumerable cell list)"
    )
    if name not in SPACES:
        close = difflib.get_close_matches(str(name), list_spaces(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown space {name!r}.{hint} {supported}; registered: {', '.join(list_spaces())}."
        )
    spec = SPACES.get(name)
    if not spec.enumerable:
        raise InputError(f"{supported}; {name!r} has none.")
    return spec


# ---- the registered spaces ---------------------------------------------------------------------

register_space(
    SpaceSpec(
        name="nb201",
        description="NAS-Bench-201: 15,625 cells (6 edges x 5 ops) in the benchmark's index order",
        describe=Ref("harness.spaces.nb201:describe"),
        parse_cell=Ref("harness.spaces.nb201:parse_arch"),
        build_network=Ref("harness.spaces.nb201_net:build_network"),
        network_presets=("bench", "tenas_ntk", "tenas_lr"),
        build_supernet=Ref("harness.spaces.nb201_net:build_supernet"),
        supernet_presets=("bench", "tenas_ntk", "tenas_lr"),
        num_cells=nb201.NUM_CELLS,
        cell_from_index=Ref("harness.spaces.nb201:Nb201Arch.from_index"),
        index_of=Ref("harness.spaces.nb201:index_of"),
        all_cells=Ref("harness.spaces.nb201:all_archs"),
        isomorphism_keys=Ref("harness.spaces.nb201:unique_keys"),
        param_count=Ref("harness.spaces.nb201_net:param_count"),
        network_settings=Ref("harness.spaces.nb201_net:preset_settings"),
    )
)

register_space(
    SpaceSpec(
        name="darts",
        description="DARTS: a normal and a reduction cell, 14 edges x 8 ops each (1.1e18 genotypes); "
        "TE-NAS's search supernets, DARTS's evaluation networks",
        describe=Ref("harness.spaces.darts:describe"),
        parse_cell=Ref("harness.spaces.darts:load_genotype"),
        build_network=Ref("harness.spaces.darts:build_network"),
        network_presets=("cifar10", "cifar100", "imagenet"),
        build_supernet=Ref("harness.spaces.darts:build_supernet"),
        supernet_presets=("tenas_ntk", "tenas_lr"),
        published_cells=Ref("harness.spaces.darts:GENOTYPES"),
    )
)
