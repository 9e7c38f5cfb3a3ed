"""Training-free proxies: a registry of plain functions ``fn(model, inputs, labels) -> float``.

Discovery is this explicit import list (no star imports, no entry points).
"""

from proxies import combined, linear_regions, ntk, zero_cost  # noqa: F401  (registers proxies)
from proxies import az_nas  # noqa: F401  (AZ-NAS's four components and their shared pass)
from proxies.registry import PROXIES, ProxySpec, compute, get_proxy, list_proxies, register_proxy

__all__ = ["PROXIES", "ProxySpec", "compute", "get_proxy", "list_proxies", "register_proxy"]
