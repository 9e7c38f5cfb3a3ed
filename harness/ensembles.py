"""Ensembles: a named set of proxies and a rank aggregation (`harness.ranking`), as one object.

Torch-free, so proxies, search, reports and the CLI name an ensemble the same way. Built-ins are
in `ENSEMBLES` (``tenas``, ``az_nas``, ``all``); a user adds more in a small TOML file
(`load_ensembles`); ``selected`` is the ensemble `harness ensemble select` chose and committed
(`SELECTION_FILE`, shipped as `PACKAGED_SELECTION`). ``kind`` keeps ensembles fixed before looking at accuracies ("a-priori") apart
from ones chosen by searching against a benchmark ("selected"), whose figures are only honest on
the cells they were not chosen on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from harness.errors import InputError, unknown_name
from harness.ranking import AGGREGATIONS, aggregate
from harness.registry import Registry

KINDS: tuple[str, ...] = ("a-priori", "selected")
#: The selection `harness ensemble select` committed, with its held-out figures (present in a
#: repository checkout, not in an installed package).
SELECTION_FILE = (
    Path(__file__).resolve().parent.parent / "results" / "nb201" / "ensembles" / "selection.json"
)
#: The committed selection's ensemble, shipped as package data so that ``selected`` is nameable
#: in every install: that record's ``selected.ensemble`` block and its SHA-256 (a test checks both
#: against `SELECTION_FILE`; update it when the committed selection changes).
PACKAGED_SELECTION = Path(__file__).with_name("selected_ensemble.json")
SELECTED_NAME = "selected"


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """Members (proxy names; fnmatch patterns such as ``*`` are resolved against the proxies at
    hand when used) aggregated by `aggregation` (a name in `harness.ranking.AGGREGATIONS`)."""

    name: str
    members: tuple[str, ...]
    aggregation: str
    kind: str = "a-priori"
    description: str = ""
    reference: str = ""

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise InputError(f"an ensemble needs a name; got {self.name!r}.")
        if self.kind not in KINDS:
            raise InputError(
                f"ensemble {self.name!r} has kind {self.kind!r}; accepted: {', '.join(KINDS)}."
            )
        if not self.members or not all(isinstance(m, str) and m for m in self.members):
            raise InputError(
                f"ensemble {self.name!r} needs a list of proxy names as members; "
                f"got {list(self.members)!r}."
            )
        if len(set(self.members)) != len(self.members):
            raise InputError(f"ensemble {self.name!r} names a member twice: {list(self.members)}.")
        if self.aggregation not in AGGREGATIONS:
            raise unknown_name("aggregation", self.aggregation, AGGREGATIONS.names())

    @property
    def higher_is_better(self) -> bool:
        return AGGREGATIONS.get(self.aggregation).higher_is_better

    def resolve(self, available: Sequence[str]) -> tuple[str, ...]:
        """The member proxy names among `available` (patterns expanded, in sorted order).

        Raises:
            InputError: a member is not available, or fewer than two members result.
        """
        available = sorted(set(available))
        out: list[str] = []
        for member in self.members:
            if any(ch in member for ch in "*?["):
                out += [a for a in available if fnmatch.fnmatchcase(a, member) and a not in out]
            elif member not in available:
                raise InputError(
                    f"ensemble {self.name!r} needs proxy {member!r}, which is not in the results; "
                    f"available: {', '.join(available)}."
                )
            elif member not in out:
                out.append(member)
        if len(out) < 2:
            raise InputError(
                f"ensemble {self.name!r} resolves to {len(out)} member(s) ({', '.join(out)}) among "
                f"the available proxies; an ensemble needs at least two."
            )
        return tuple(out)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"members": list(self.members)}


def score(
    ensemble: Ensemble,
    columns: Mapping[str, Sequence[float]],
    higher_is_better: Mapping[str, bool],
) -> np.ndarray:
    """The ensemble's aggregate over one population of cells (`harness.ranking`'s NaN policy).

    Args:
        ensemble: what to compute.
        columns: proxy name -> values, aligned on the same cells (extra proxies are ignored).
        higher_is_better: proxy name -> its direction.

    Returns:
        One value per cell, oriented as ``ensemble.higher_is_better``; NaN where a member is not
        finite.
    """
    members = ensemble.resolve(list(columns))
    missing = [m for m in members if m not in higher_is_better]
    if missing:
        raise InputError(f"ensemble {ensemble.name!r}: no direction given for {missing[0]!r}.")
    return aggregate(
        ensemble.aggregation,
        [np.asarray(columns[m], dtype=float) for m in members],
        [bool(higher_is_better[m]) for m in members],
    )


ENSEMBLES: Registry[Ensemble] = Registry("ensemble")
ENSEMBLES.add(
    "tenas",
    Ensemble(
        "tenas",
        ("ntk_cond", "linear_regions"),
        "rank_sum",
        description="TE-NAS: rank(kappa ascending) + rank(R descending); lower is better.",
        reference="Chen, Gong & Wang, ICLR 2021 (TE-NAS), prune_tenas.py prune_func_rank",
    ),
)
ENSEMBLES.add(
    "az_nas",
    Ensemble(
        "az_nas",
        ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity"),
        "log_rank_sum",
        description="AZ-NAS: sum over its 4 components of ln(rank/n), best rank n; higher is better.",
        reference="Lee & Ham, CVPR 2024 (AZ-NAS), cvlab-yonsei/AZ-NAS",
    ),
)
ENSEMBLES.add(
    "all",
    Ensemble(
        "all",
        ("*",),
        "mean_rank",
        description="Every proxy of the results, mean rank: the no-choice baseline.",
        reference="",
    ),
)


def _one(name: str, body, source: str) -> Ensemble:
    if not isinstance(body, dict):
        raise InputError(f"{source}: ensemble {name!r} must be a table ([ensembles.{name}]).")
    allowed = {"members", "aggregation", "kind", "description", "reference"}
    extra = sorted(set(body) - allowed)
    if extra:
        raise InputError(
            f"{source}: ensemble {name!r} has unknown key {extra[0]!r}; "
            f"accepted: {', '.join(sorted(allowed))}."
        )
    members = body.get("members")
    if not isinstance(members, list):
        raise InputError(
            f'{source}: ensemble {name!r} needs members = ["proxy", ...]; got {members!r}.'
        )
    if "aggregation" not in body:
        raise InputError(
            f"{source}: ensemble {name!r} needs aggregation = one of "
            f"{', '.join(AGGREGATIONS.names())}."
        )
    try:
        return Ensemble(
            name,
            tuple(members),
            str(body["aggregation"]),
            kind=str(body.get("kind", "a-priori")),
            description=str(body.get("description", "")),
            reference=str(body.get("reference", "")),
        )
    except InputError as err:
        raise InputError(f"{source}: {err}") from None


def load_ensembles(path: str | Path) -> dict[str, Ensemble]:
    """Ensembles from a user's TOML file, or the selected one from a selection JSON record.

    TOML form, one table per ensemble::

        [ensembles.my_pair]
        members = ["meco_opt", "az_expressivity"]
        aggregation = "log_rank_sum"       # see `harness ensemble select --help` for the names
        description = "why these"          # optional; also reference, kind ("a-priori")

    Raises:
        InputError: a missing or unreadable file, bad TOML, an unknown key or aggregation, a name
            that is a built-in ensemble's.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(f"ensembles file {source!r} not found.")
    if path.suffix == ".json":
        return {SELECTED_NAME: load_selection(path)}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"ensembles file {source!r} is not valid TOML: {err}.") from None
    extra = sorted(set(data) - {"ensembles"})
    if extra or not isinstance(data.get("ensembles"), dict) or not data["ensembles"]:
        raise InputError(
            f"ensembles file {source!r} must hold [ensembles.NAME] tables and nothing else"
            f"{f'; found {extra[0]!r}' if extra else ''}."
        )
    out = {}
    for name, body in data["ensembles"].items():
        if name in ENSEMBLES or name == SELECTED_NAME:
            raise InputError(
                f"{source}: ensemble {name!r} is a built-in name; choose another "
                f"(built-ins: {', '.join([*ENSEMBLES.names(), SELECTED_NAME])})."
            )
        out[name] = _one(name, body, source)
    return out


def load_selection(path: str | Path = PACKAGED_SELECTION) -> Ensemble:
    """The ensemble a `harness ensemble select` record (selection.json) chose, kind "selected";
    by default the committed one, as shipped with the package."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        body = record["selected"]["ensemble"]
        return Ensemble(
            SELECTED_NAME,
            tuple(body["members"]),
            body["aggregation"],
            kind="selected",
            description=body.get("description", ""),
            reference=body.get("reference", ""),
        )
    except FileNotFoundError:
        raise InputError(
            f"no selection record at {str(path)!r}; run `harness ensemble select` first."
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(
            f"{str(path)!r} is not a selection record (selected.ensemble with members and "
            f"aggregation): {err!r}."
        ) from None


#: Ensembles a user's file defines for the duration of one command (`user_ensembles`): looked up
#: by name before the built-ins, wherever an ensemble is named (search indicators, baselines).
_USER: dict[str, Ensemble] = {}


@contextlib.contextmanager
def user_ensembles(ensembles: Mapping[str, Ensemble]):
    """Make a user's ensembles (`load_ensembles`) nameable like the built-ins inside the block.

    Raises:
        InputError: a name already defined differently in an enclosing block.
    """
    clash = [n for n, e in ensembles.items() if n in _USER and _USER[n] != e]
    if clash:
        raise InputError(f"ensemble {clash[0]!r} is already defined differently.")
    before = dict(_USER)
    _USER.update(ensembles)
    try:
        yield
    finally:
        _USER.clear()
        _USER.update(before)


def is_user_ensemble(name: str) -> bool:
    """Whether `name` is an ensemble of a user's file (`user_ensembles`), not a built-in."""
    return name in _USER


def get_ensemble(name: str, extra: Mapping[str, Ensemble] | None = None) -> Ensemble:
    """An ensemble by name: `extra` and the user's ensembles (`user_ensembles`) first, the
    built-ins, then ``selected``."""
    extra = {**_USER, **(extra or {})}
    if name in extra:
        return extra[name]
    if name in ENSEMBLES:
        return ENSEMBLES.get(name)
    if name == SELECTED_NAME and name not in extra:
        return load_selection()
    raise unknown_name("ensemble", name, [*extra, *ENSEMBLES.names(), SELECTED_NAME])


def list_ensembles() -> list[str]:
    """Every nameable ensemble: the user's (`user_ensembles`), the built-ins and ``selected``."""
    return list(dict.fromkeys([*_USER, *ENSEMBLES.names(), SELECTED_NAME]))
