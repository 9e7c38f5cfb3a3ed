"""The NB201 cells every benchmark source covers: index checks and the cell order."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from pathlib import Path

from harness.errors import InputError
from harness.spaces import nb201


def cell_index(index) -> int:
    """`index` as an int in 0..15624 (numpy integers too, as pandas hands them out)."""
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        index = int(index)
    return nb201.check_index(index)


def check_arch_order(arch_strs: Iterable[str], path: Path) -> None:
    """The source's cell list must be the space's: same length, same string at every index."""
    got = list(arch_strs)
    want = [str(a) for a in nb201.all_archs()]
    if len(got) != len(want):
        raise InputError(
            f"{path} lists {len(got)} architectures; an NB201 benchmark has {len(want)}."
        )
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    if bad:
        i = bad[0]
        raise InputError(
            f"{path} does not follow the NB201 index order: index {i} is {got[i]!r} there but "
            f"{want[i]!r} in harness.spaces.nb201 ({len(bad)} of {len(want)} indices differ)."
        )
