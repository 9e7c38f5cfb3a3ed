"""A generic name -> spec registry (stdlib only): one per pluggable kind (proxies, ...)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Generic, TypeVar

from harness.errors import unknown_name

T = TypeVar("T")


class DuplicateNameError(ValueError):
    """A name registered twice (e.g. a plugin's proxy named like a built-in one)."""


class Registry(Generic[T]):
    """Ordered mapping of unique names to specs; duplicates are an error, lookups suggest names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, spec: T) -> T:
        if name in self._items:
            raise DuplicateNameError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = spec
        return spec

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._items) from None

    def names(self, pattern: str = "*") -> list[str]:
        return [n for n in self._items if fnmatch.fnmatchcase(n, pattern)]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)
