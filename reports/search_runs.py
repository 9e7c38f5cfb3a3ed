"""Read TE-NAS pruning trajectories from search ``result.json`` files (one per run).

Each file holds a ``rounds`` list; every round has at least ``round`` (0 = the supernet before
pruning), ``kappa`` and ``regions`` of the supernet at that point.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from harness.errors import DataNotFoundError, InputError

ROUND_FIELDS: tuple[str, ...] = ("round", "kappa", "regions")
RESULT_NAME = "result.json"


def _files(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """(file, run name) pairs: a directory contributes every result.json below it."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            hits = sorted(p.rglob(RESULT_NAME))
            if not hits:
                raise InputError(f"no {RESULT_NAME} under search results directory {str(p)!r}.")
            for f in hits:
                rel = f.parent.relative_to(p).as_posix()
                found.append((f, rel if rel != "." else p.name))
        elif p.is_file():
            found.append((p, p.parent.name if p.name == RESULT_NAME else p.stem))
        else:
            raise DataNotFoundError(f"search results not found: {str(p)!r}.")
    return found


def load_search_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (run, round) with ``run``, ``round``, ``kappa``, ``regions``, ``source``.

    Raises:
        InputError: a path is missing, a file is not JSON, or a round lacks a required field.
    """
    rows = []
    names: dict[str, int] = {}
    for path, name in _files(paths):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read search result {str(path)!r}: {err}") from err
        rounds = doc.get("rounds") if isinstance(doc, dict) else None
        if not isinstance(rounds, list) or not rounds:
            raise InputError(
                f"search result {str(path)!r} has no 'rounds' list; "
                f"expected rounds with {', '.join(ROUND_FIELDS)}."
            )
        names[name] = names.get(name, 0) + 1
        run = name if names[name] == 1 else f"{name} ({names[name]})"
        for i, r in enumerate(rounds):
            missing = [k for k in ROUND_FIELDS if not isinstance(r, dict) or k not in r]
            if missing:
                raise InputError(
                    f"search result {str(path)!r}: round {i} lacks {', '.join(missing)}."
                )
            try:
                rows.append(
                    {
                        "run": run,
                        "round": int(r["round"]),
                        "kappa": float(r["kappa"]),
                        "regions": float(r["regions"]),
                        "source": str(path),
                    }
                )
            except (TypeError, ValueError) as err:
                raise InputError(
                    f"search result {str(path)!r}: round {i} has a non-numeric field: {err}"
                ) from err
    return pd.DataFrame(rows, columns=["run", "round", "kappa", "regions", "source"])
