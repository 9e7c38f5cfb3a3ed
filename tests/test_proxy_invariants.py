"""Invariants every registered proxy keeps — TE-NAS's two, AZ-NAS's, any other and a plugin's —
driven by the registry, so a new proxy is enrolled by registering it: a finite value on a cell
with every op, the same value twice, the network's weights and buffers, train/eval mode, grad mode
and the global RNG untouched. The zero-cost proxies (proxies/zero_cost) are held to the same
invariants, plus their values on a disconnected cell, in tests/test_zero_cost.py."""

from __future__ import annotations

import math

import pytest
import torch

from harness.spaces.nb201_net import build_network
from proxies import get_proxy, list_proxies, plugins
from proxies.registry import PROXIES, compute
from tests.conftest import REPO

EVERY_OP = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
PLUGIN = "plugin:logit_var"  # examples/my_proxy.py, loaded for its case only
CASES = [
    n
    for n in list_proxies()
    if get_proxy(n).fn is not None
    and not getattr(get_proxy(n).fn, "func", get_proxy(n).fn).__module__.startswith(
        "proxies.zero_cost"
    )
] + [PLUGIN]


def _inputs(kind: str):
    """A tiny network and input of the kind the proxy is fed (TE-NAS's patches go to the thin net)."""
    g = torch.Generator().manual_seed(0)
    if kind == "patches":
        return build_network(EVERY_OP, "tenas_lr"), torch.randn(64, 1, 3, 3, generator=g), None
    x = torch.randn(8, 3, 16, 16, generator=g)
    return build_network(EVERY_OP, C=4, N=1), x, torch.randint(0, 10, (8,), generator=g)


def _state(model) -> list[tuple[str, float]]:
    return [
        (k, float(v.double().abs().sum() + v.double().sum())) for k, v in model.state_dict().items()
    ]


@pytest.fixture
def proxy_name(request, monkeypatch):
    name = request.param
    if name == PLUGIN:
        monkeypatch.setattr(PROXIES, "_items", dict(PROXIES._items))
        monkeypatch.setattr(plugins, "_LOADED", {})
        plugins.load_plugins([str(REPO / "examples" / "my_proxy.py")], entry_points=False)
        name = "logit_var"
    return name


@pytest.mark.parametrize("proxy_name", CASES, indirect=True)
def test_every_proxy_keeps_the_invariants(proxy_name):
    spec = get_proxy(proxy_name)
    torch.manual_seed(0)
    net, x, y = _inputs(spec.inputs)
    net.eval()
    labels = y if spec.needs_labels else None
    before, rng = _state(net), torch.get_rng_state()
    with torch.no_grad():  # the caller's grad mode must not matter, and must be restored
        value = compute(proxy_name, net, x, labels)
        assert not torch.is_grad_enabled()
    assert math.isfinite(value), f"{proxy_name} = {value} on a cell with every op"
    assert compute(proxy_name, net, x, labels) == value  # deterministic
    assert _state(net) == before  # weights untouched
    assert all(not m.training for m in net.modules())  # mode restored
    assert torch.equal(torch.get_rng_state(), rng)  # global RNG untouched
