"""Profiles: complete, named proxy configurations (networks, inputs, seeds, repeats).

``tenas`` reproduces TE-NAS's own measurement (docs/tenas-spec.md §3, §5, §6, §15A): the C=3, N=1 NTK
network on batches of 72 augmented training images, the thin C=1 network on 3 x 1000
single-channel 3x3 crops, 3 repeats, PyTorch default init (the official code's custom init
never runs). ``bench`` scores the real C=16, N=5 benchmark network on one batch of 64, as the
zero-cost literature does. Both use common random numbers: every cell sees the same input
tensors and the same weight seed per repeat, so cells differ only by architecture. ``tenas`` is
meant for ntk_cond and linear_regions, ``bench`` for the zero-cost proxies (`MEANT_FOR`); other
combinations run with a note (`combination_notes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import InputError, unknown_name


REQUEST_ONLY = ("repeats", "ntk_engine")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    #: Network preset (one of the swept space's `network_presets`; NB201: harness.spaces.nb201_net)
    #: for proxies fed images or shapes.
    image_network: str
    #: Network preset for proxies fed TE-NAS's 1x3x3 patches (linear regions).
    patch_network: str = "tenas_lr"
    batch_size: int = 64
    repeats: int = 1
    augment: bool = True  # NB201 training augmentation (flip + padded crop), as TE-NAS's loader
    patch_batches: int = 3
    patch_batch_size: int = 1000
    patch_size: int = 3
    weight_seed: int = 0  # repeat r builds its networks under torch.manual_seed(weight_seed + r)
    data_seed: int = 0  # one fixed image batch and one fixed set of patches for every cell
    init: str = "pytorch-default"  # as the official code effectively runs (docs/tenas-spec.md §4)
    #: "graph" (default: no compilation, ~1.9x the oracle on the C=3 net), "compiled" (~2.5x after a
    #: 10-60 s compile per process; best for long sweeps), "oracle" (fastest at C=16), "batched".
    ntk_engine: str = "graph"
    ntk_nonpositive: str = "inf"  # λmin <= 0 -> κ = inf (status inf); "raw" keeps the ratio
    bn_track_running_stats: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        """The settings that determine each stored value. The number of repeats and the NTK engine
        are left out: repeat r's value does not depend on how many repeats were asked for, and
        every engine computes the same κ (checked against the oracle), so runs that differ only in
        them extend the same results."""
        return {k: v for k, v in self.to_dict().items() if k not in REQUEST_ONLY}


PROFILES: dict[str, Profile] = {
    "tenas": Profile(
        "tenas",
        "TE-NAS's own proxy networks and inputs: NTK net C=3,N=1 on 72 images; thin C=1 "
        "net on 3x1000 single-channel 3x3 crops; 3 repeats",
        image_network="tenas_ntk",
        batch_size=72,
        repeats=3,
    ),
    "bench": Profile(
        "bench",
        "the NB201 benchmark network (C=16, N=5) on one batch of 64 images; linear "
        "regions on the thin C=1 net (larger inputs saturate the count)",
        image_network="bench",
        batch_size=64,
        repeats=1,
        ntk_engine="oracle",
    ),
}


#: The proxies each profile is meant for; others run too, with a one-line note (`combination_notes`).
#: ``tenas`` is TE-NAS's own measurement of its two indicators; ``bench`` is the zero-cost
#: literature's setting (the C=16, N=5 benchmark network), for every proxy but the NTK's.
MEANT_FOR: dict[str, str] = {
    "tenas": "ntk_cond, linear_regions and their rank sum tenas: TE-NAS's indicators",
    "bench": "the zero-cost proxies: every proxy but ntk_cond",
}
_TENAS_ONLY = ("ntk_cond",)
_EITHER = ("linear_regions",)  # scored on the thin C=1 patch network under both profiles


def combination_notes(profile: str, proxies: Sequence[str]) -> list[str]:
    """One line per unusual profile/proxy combination, saying what it costs or means (empty when
    every proxy is one the profile is meant for). `proxies` are per-cell names (rank sums expanded)."""
    notes = []
    if profile == "bench" and any(p in _TENAS_ONLY for p in proxies):
        notes.append(
            "ntk_cond with --profile bench computes kappa on the C=16, N=5 benchmark network: about "
            "105 s per cell and repeat on one CPU core (19 days for the 15,625 cells), against about 1 s "
            "with --profile tenas, TE-NAS's own setting."
        )
    others = [p for p in proxies if p not in _TENAS_ONLY + _EITHER]
    if profile == "tenas" and others:
        notes.append(
            f"{', '.join(others)} with --profile tenas: scored on TE-NAS's C=3, N=1 NTK network with "
            f"72 images, not the C=16, N=5 benchmark network with 64 images of the zero-cost literature "
            f"(--profile bench); values are not comparable with published ones."
        )
    return notes


def get_profile(name: str, **overrides) -> Profile:
    """A named profile with some settings replaced (None values are ignored)."""
    if name not in PROFILES:
        raise unknown_name("profile", name, PROFILES)
    profile = PROFILES[name]
    fields = {f.name for f in dataclasses.fields(Profile)}
    changes = {k: v for k, v in overrides.items() if v is not None}
    for key, value in changes.items():
        if key not in fields or key in ("name", "description"):
            raise InputError(
                f"unknown profile setting {key!r}; accepted: {', '.join(sorted(fields - {'name', 'description'}))}."
            )
        if key in ("batch_size", "repeats", "patch_batches", "patch_batch_size", "patch_size") and (
            not isinstance(value, int) or value < 1
        ):
            raise InputError(f"profile setting {key} must be a positive integer; got {value!r}.")
    return dataclasses.replace(profile, **changes)
