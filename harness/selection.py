"""Which cells a sweep scores: index specs, samples, limits, isomorphism classes and shards."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from harness.errors import InputError
from harness.spaces.registry import get_sweepable_space

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_indices(spec: str, space: str = "nb201") -> list[int]:
    """``"0-99,6111"`` -> sorted unique indices (ranges inclusive) of the sweepable `space`; arch
    strings are accepted too.

    An empty spec (an unset shell variable) or an empty item (``0,,3``) is an error, never "all".
    """
    space_spec = get_sweepable_space(space)
    if not spec.strip():
        raise InputError(
            f"--indices {spec!r} is empty; give indices, ranges or NB201 arch strings, e.g. "
            f"'0-99,6111' (leave the option out to select every cell)."
        )
    out: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise InputError(
                f"invalid --indices {spec!r}: an empty item between commas; expected "
                f"comma-separated N, A-B or NB201 arch strings, e.g. '0-99,6111'."
            )
        if part.startswith("|"):
            out.add(space_spec.index_of(part))
            continue
        match = _RANGE.match(part)
        if not match:
            raise InputError(
                f"invalid --indices item {part!r}: expected N, A-B or an NB201 arch string "
                f"(comma-separated), e.g. '0-99,6111'."
            )
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise InputError(f"invalid --indices range {part!r}: the end is before the start.")
        space_spec.index_of(lo)  # out of range: the space's own error
        space_spec.index_of(hi)
        out.update(range(lo, hi + 1))
    if not out:
        raise InputError(f"--indices {spec!r} selects no cells.")
    return sorted(out)


def parse_shard(spec: str) -> tuple[int, int]:
    """``"i/n"`` with 1 <= i <= n -> (i, n)."""
    match = re.match(r"^(\d+)/(\d+)$", spec.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise InputError(f"invalid --shard {spec!r}: expected i/n with 1 <= i <= n, e.g. 2/8.")
    return int(match.group(1)), int(match.group(2))


def select_cells(
    indices: Sequence[int] | None = None,
    archs: Sequence[str] = (),
    sample: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    space: str = "nb201",
) -> list[int]:
    """Base selection (indices and/or arch strings, else the whole space), then a seeded sample of
    `sample` cells, then the first `limit` cells; always returned in index order."""
    space_spec = get_sweepable_space(space)
    chosen: set[int] = set(indices or ())
    chosen.update(space_spec.index_of(a) for a in archs)
    cells = sorted(chosen) if (indices or archs) else list(range(space_spec.num_cells))
    if sample is not None:
        if not 1 <= sample <= len(cells):
            raise InputError(
                f"--sample {sample} must be between 1 and the {len(cells)} selected cells."
            )
        cells = sorted(random.Random(seed).sample(cells, sample))
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be a positive integer; got {limit}.")
        cells = cells[:limit]
    return cells


def representatives(cells: Sequence[int], space: str = "nb201") -> dict[int, list[int]]:
    """{representative: members} per isomorphism class within `cells` (smallest index represents)."""
    keys = get_sweepable_space(space).isomorphism_keys()
    classes: dict[str, list[int]] = {}
    for cell in sorted(cells):
        classes.setdefault(keys[cell], []).append(cell)
    return {members[0]: members for members in classes.values()}


def shard(items: Sequence[int], index: int, count: int) -> list[int]:
    """Contiguous part `index` (1-based) of `count`: parts cover the items exactly once, in order."""
    n = len(items)
    start, stop = (index - 1) * n // count, index * n // count
    return list(items[start:stop])
