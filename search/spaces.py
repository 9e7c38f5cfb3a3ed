"""The spaces a search runs on: one `search.adapter.SearchAdapter` per space, registered under the
space's name in `harness.spaces.registry.SPACES` (`harness search --space` takes these names)."""

from __future__ import annotations

from harness.registry import Registry
from harness.spaces.registry import SPACES
from search.adapter import SearchAdapter
from search.darts_adapter import DartsSearch
from search.nb201_adapter import Nb201Search

SEARCH_SPACES: Registry[SearchAdapter] = Registry("space")


def register_search_space(adapter: SearchAdapter) -> SearchAdapter:
    """Add `adapter` under its space's name, which must be a registered space."""
    if adapter.name not in SPACES:
        raise ValueError(
            f"search adapter {adapter.name!r} names no registered space; "
            f"spaces: {', '.join(SPACES.names())}."
        )
    return SEARCH_SPACES.add(adapter.name, adapter)


register_search_space(Nb201Search())
register_search_space(DartsSearch())
