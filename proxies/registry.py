"""The proxy registry: a decorator declares a proxy and its metadata; lookups suggest names.

A proxy is a plain function ``fn(model, inputs, labels=None) -> float`` of a network and a batch;
it knows nothing of search spaces, files or benchmarks. It returns the raw value (nan/inf
included): orientation comes from `higher_is_better`, never from a hidden sign flip.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from harness.registry import Registry

#: What a proxy is fed: a batch of images, TE-NAS's 1x3x3 single-channel patches, or nothing but
#: the input shape (parameter and FLOP counts).
INPUT_KINDS = ("images", "patches", "shape")


@dataclass(frozen=True)
class ProxySpec:
    name: str
    fn: Callable | None
    higher_is_better: bool
    needs_labels: bool = False
    needs_real_data: bool = False
    uses_gradients: bool = False
    inputs: str = "images"
    copy_model: bool = True
    description: str = ""
    reference: str = ""
    #: For population-level scores (e.g. `tenas`): the proxies whose ranks are combined.
    combines: tuple[str, ...] = field(default_factory=tuple)
    #: A pass this proxy can take precomputed as a keyword argument of the same name, shared by the
    #: proxies that need it (``"loss_grads"``: the batch loss's weight gradients, `LossGrads`).
    shared_pass: str | None = None

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"

    def metadata(self) -> dict:
        return dict(
            name=self.name,
            direction=self.direction,
            needs_labels=self.needs_labels,
            needs_real_data=self.needs_real_data,
            uses_gradients=self.uses_gradients,
            inputs=self.inputs,
            combines=list(self.combines),
            description=self.description,
            reference=self.reference,
        )


PROXIES: Registry[ProxySpec] = Registry("proxy")


def register_proxy(
    name: str,
    *,
    higher_is_better: bool,
    needs_labels: bool = False,
    needs_real_data: bool = False,
    uses_gradients: bool = False,
    inputs: str = "images",
    copy_model: bool = True,
    reference: str = "",
    description: str | None = None,
    shared_pass: str | None = None,
    **options,
):
    """Decorator: register ``fn`` under ``name``; `options` are bound as keyword arguments, so a
    variant is another registration of the same function (never a copy of its code). The one-line
    description is the docstring's first line unless `description` names what the variant does."""
    if inputs not in INPUT_KINDS:
        raise ValueError(f"inputs must be one of {INPUT_KINDS}; got {inputs!r}")

    def decorate(fn: Callable) -> Callable:
        bound = functools.partial(fn, **options) if options else fn
        summary = description or ((fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "")
        PROXIES.add(
            name,
            ProxySpec(
                name,
                bound,
                higher_is_better,
                needs_labels,
                needs_real_data,
                uses_gradients,
                inputs,
                copy_model,
                summary,
                reference,
                shared_pass=shared_pass,
            ),
        )
        return fn

    return decorate


def register_combined(
    name: str, combines: tuple[str, ...], *, description: str, reference: str = ""
):
    """Declare a population-level score built from the ranks of other proxies."""
    PROXIES.add(
        name,
        ProxySpec(
            name,
            None,
            higher_is_better=True,
            inputs="images",
            description=description,
            reference=reference,
            combines=combines,
        ),
    )


def get_proxy(name: str) -> ProxySpec:
    return PROXIES.get(name)


def list_proxies(pattern: str = "*") -> list[str]:
    return sorted(PROXIES.names(pattern))


def compute(name: str, model, inputs, labels=None, **options) -> float:
    """Run one proxy on one model and leave the model as it was (`options`: the proxy's keywords,
    e.g. the ``seed`` of a proxy that draws its own weights and inputs).

    A proxy that may change its network gets a copy (`copy_model`); the others (TE-NAS's two, which
    run in train mode and update BN running statistics as the official code does) get the model
    itself, and its buffers and train/eval flags are put back afterwards — cheaper than a copy.
    Gradient-based proxies run with gradients on whatever the caller's grad mode is.
    """
    spec = get_proxy(name)
    if spec.fn is None:
        raise ValueError(
            f"proxy {name!r} is a population-level score of {', '.join(spec.combines)}; "
            f"compute its components and combine their ranks."
        )
    if spec.needs_labels and labels is None:
        raise ValueError(f"proxy {name!r} needs labels; got none.")
    grad_mode = torch.enable_grad() if spec.uses_gradients else contextlib.nullcontext()
    if spec.copy_model:
        with grad_mode:
            return float(spec.fn(copy.deepcopy(model), inputs, labels, **options))
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    modes = {m: m.training for m in model.modules()}
    try:
        with grad_mode:
            return float(spec.fn(model, inputs, labels, **options))
    finally:
        with torch.no_grad():
            for key, value in model.named_buffers():
                value.copy_(buffers[key])
        for module, training in modes.items():
            module.training = training
