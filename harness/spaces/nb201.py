"""The NAS-Bench-201 cell space: 15,625 cells, official index order, encodings and isomorphism.

A cell is a DAG on 4 nodes with one op on each of the 6 edges ``i<-j`` (j < i). The official
index order is the product of the op list over the edges (first edge slowest) shuffled by
``random.Random(88)`` -- exactly how NB201 generated its meta file -- so it needs no table.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass

from harness.errors import InputError

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Edges as (to, from), in the official order: lexicographic in the strings "i<-j".
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_NAMES: tuple[str, ...] = tuple(f"{i}<-{j}" for i, j in EDGES)
NUM_NODES = 4
NUM_CELLS = len(OPS) ** len(EDGES)  # 15,625
_NB201_SHUFFLE_SEED = 88

# NASLib / AnalogNAS-Bench tuple encoding (an import format): its own op numbering and its
# edge order ((1,2),(1,3),(1,4),(2,3),(2,4),(3,4)) on 1-based nodes, i.e. our edges 0, 1, 3, 2, 4, 5.
NASLIB_OPS: tuple[str, ...] = (
    "skip_connect",
    "none",
    "nor_conv_3x3",
    "nor_conv_1x1",
    "avg_pool_3x3",
)
NASLIB_EDGE_ORDER: tuple[int, ...] = (0, 1, 3, 2, 4, 5)

_ARCH_RE = re.compile(r"^\|[^+]*\|\+\|[^+]*\|\+\|[^+]*\|$")
EXAMPLE_ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def _bad_op(arch: str, edge: int, op: str) -> InputError:
    return InputError(
        f"invalid NB201 arch {arch!r}: edge {EDGE_NAMES[edge]} has op {op!r}; "
        f"expected one of {', '.join(OPS)}."
    )


@dataclass(frozen=True, order=True)
class Nb201Arch:
    """One NB201 cell: the op on each edge, in `EDGES` order."""

    ops: tuple[str, ...]

    def __post_init__(self):
        ops = tuple(self.ops)
        object.__setattr__(self, "ops", ops)
        if len(ops) != len(EDGES):
            raise InputError(f"an NB201 cell has {len(EDGES)} edges; got {len(ops)} ops: {ops!r}.")
        for e, op in enumerate(ops):
            if op not in OPS:
                raise _bad_op(str(ops), e, op)

    # ---- conversions -------------------------------------------------------------------
    @classmethod
    def from_str(cls, arch_str: str) -> Nb201Arch:
        """Parse the official ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` string."""
        text = arch_str.strip()
        if not _ARCH_RE.match(text):
            raise InputError(
                f"invalid NB201 arch string {arch_str!r}: expected 3 nodes joined by '+', "
                f"each '|op~j|...|', like {EXAMPLE_ARCH!r}."
            )
        ops: list[str] = []
        for i, node in enumerate(text.split("+"), start=1):
            inputs = [tok for tok in node.split("|") if tok]
            expected = [str(j) for j in range(i)]
            found = [tok.rpartition("~")[2] for tok in inputs]
            if found != expected or any("~" not in tok for tok in inputs):
                raise InputError(
                    f"invalid NB201 arch string {arch_str!r}: node {i} must list inputs "
                    f"{'~' + ', ~'.join(expected)} in order; got {node!r}."
                )
            for j, tok in enumerate(inputs):
                op = tok.rpartition("~")[0]
                if op not in OPS:
                    raise _bad_op(arch_str, EDGES.index((i, j)), op)
                ops.append(op)
        return cls(tuple(ops))

    def __str__(self) -> str:
        o = self.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    @property
    def arch_str(self) -> str:
        return str(self)

    @classmethod
    def from_index(cls, index: int) -> Nb201Arch:
        check_index(index)
        return cls(tuple(OPS[k] for k in _ordered_codes()[index]))

    @property
    def index(self) -> int:
        return _index_of_code()[self.code]

    @property
    def code(self) -> tuple[int, ...]:
        """Op indices per edge (into `OPS`)."""
        return tuple(OPS.index(op) for op in self.ops)

    @classmethod
    def from_naslib(cls, encoding) -> Nb201Arch:
        """Import NASLib's / AnalogNAS-Bench's 6-tuple (its own op numbering and edge order)."""
        if isinstance(encoding, str):
            encoding = tuple(int(t) for t in re.findall(r"-?\d+", encoding))
        enc = tuple(encoding)
        if len(enc) != 6 or any(not (0 <= int(k) < len(NASLIB_OPS)) for k in enc):
            raise InputError(
                f"invalid NASLib NB201 encoding {encoding!r}: expected 6 integers in 0..4 "
                f"({', '.join(f'{k}={op}' for k, op in enumerate(NASLIB_OPS))})."
            )
        ops = [""] * 6
        for pos, edge in enumerate(NASLIB_EDGE_ORDER):
            ops[edge] = NASLIB_OPS[int(enc[pos])]
        return cls(tuple(ops))

    def to_naslib(self) -> tuple[int, ...]:
        return tuple(NASLIB_OPS.index(self.ops[edge]) for edge in NASLIB_EDGE_ORDER)

    # ---- structure ---------------------------------------------------------------------
    def op(self, to: int, frm: int) -> str:
        return self.ops[EDGES.index((to, frm))]

    def is_connected(self) -> bool:
        """True iff some path of non-`none` edges leads from the input node to the output."""
        reach = [True, False, False, False]
        for e, (i, j) in enumerate(EDGES):
            if self.ops[e] != "none" and reach[j]:
                reach[i] = True
        return reach[3]

    def unique_key(self) -> str:
        """Isomorphism key in NB201's convention (``to_unique_str(consider_zero=True)``).

        Each node becomes a symbolic expression of the input: `skip_connect` passes its input
        through, `none` (or any op on a zero node) is the zero `#`, other ops wrap their input;
        a node is the sorted sum of its terms. Cells with equal keys compute the same function
        up to weights; the space has 6,466 distinct keys.
        """
        nodes = ["0"]
        for i in range(1, NUM_NODES):
            terms = []
            for j in range(i):
                op, src = self.op(i, j), nodes[j]
                if op == "none" or src == "#":
                    terms.append("#")
                elif op == "skip_connect":
                    terms.append(src)
                else:
                    terms.append(f"({src})@{op}")
            nodes.append("+".join(sorted(terms)))
        return nodes[-1]


def check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < NUM_CELLS:
        raise InputError(
            f"NB201 index {index!r} is out of range; expected an integer in 0..{NUM_CELLS - 1}."
        )
    return index


def parse_arch(spec) -> Nb201Arch:
    """Accept an `Nb201Arch`, an index (int or digits), an arch string, or a 6-tuple of op names."""
    if isinstance(spec, Nb201Arch):
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        return Nb201Arch.from_index(spec)
    if isinstance(spec, str):
        text = spec.strip()
        if text.isdigit():
            return Nb201Arch.from_index(int(text))
        return Nb201Arch.from_str(text)
    if isinstance(spec, (tuple, list)):
        return Nb201Arch(tuple(spec))
    raise InputError(
        f"cannot read an NB201 cell from {spec!r}; give an index, an arch string or 6 op names."
    )


def index_of(spec) -> int:
    """The official index of a cell given as `parse_arch` accepts it; an index is range-checked."""
    return parse_arch(spec).index


@functools.cache
def _ordered_codes() -> tuple[tuple[int, ...], ...]:
    codes = list(itertools.product(range(len(OPS)), repeat=len(EDGES)))
    random.Random(_NB201_SHUFFLE_SEED).shuffle(codes)
    return tuple(codes)


@functools.cache
def _index_of_code() -> dict[tuple[int, ...], int]:
    return {code: i for i, code in enumerate(_ordered_codes())}


def all_archs() -> list[Nb201Arch]:
    """All 15,625 cells in the official index order."""
    return [Nb201Arch(tuple(OPS[k] for k in code)) for code in _ordered_codes()]


@functools.cache
def unique_keys() -> tuple[str, ...]:
    """Isomorphism key of every cell, by index."""
    return tuple(a.unique_key() for a in all_archs())


@functools.cache
def representatives() -> tuple[int, ...]:
    """For every index, the smallest index of its isomorphism class (the class representative)."""
    first: dict[str, int] = {}
    return tuple(first.setdefault(k, i) for i, k in enumerate(unique_keys()))


def num_unique() -> int:
    return len(set(unique_keys()))


def describe() -> dict:
    """Summary of the space for `harness spaces`."""
    return {
        "space": "nb201",
        "cells": NUM_CELLS,
        "ops": list(OPS),
        "edges": list(EDGE_NAMES),
        "nodes": NUM_NODES,
        "unique_cells": num_unique(),
        "disconnected_cells": sum(not a.is_connected() for a in all_archs()),
        "index_order": "itertools.product(OPS, repeat=6) shuffled by random.Random(88) (NB201 meta order)",
    }
