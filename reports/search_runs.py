"""Read TE-NAS pruning trajectories from search ``result.json`` files (one per run).

Each file holds a ``rounds`` list; every round has at least ``round`` (0 = the supernet before
pruning), ``kappa`` and ``regions`` of the supernet at that point.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from harness.errors import DataNotFoundError, InputError
from harness.paths import display_path

log = logging.getLogger(__name__)

ROUND_FIELDS: tuple[str, ...] = ("round", "kappa", "regions")
RESULT_NAME = "result.json"


def _files(paths: Iterable[str | Path]) -> list[tuple[Path, str, bool]]:
    """(file, run name, named explicitly) triples: a folder contributes every result.json below it."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            hits = sorted(p.rglob(RESULT_NAME))
            if not hits:
                raise InputError(f"no {RESULT_NAME} under search results directory {str(p)!r}.")
            for f in hits:
                rel = f.parent.relative_to(p).as_posix()
                found.append((f, rel if rel != "." else p.name, False))
        elif p.is_file():
            found.append((p, p.parent.name if p.name == RESULT_NAME else p.stem, True))
        else:
            raise DataNotFoundError(f"search results not found: {str(p)!r}.")
    return found


def _shown(path: Path, name: str) -> str:
    """The file as outputs show it: relative to the working directory when below it, else its run
    name and file name (never an absolute machine path)."""
    shown = display_path(path)
    if not path.is_absolute() or shown != path.name or not name:
        return shown
    return f"{name}/{path.name}"


def _trajectory_problem(doc) -> str:
    """Why a result holds no pruning trajectory ('' when it does)."""
    rounds = doc.get("rounds") if isinstance(doc, dict) else None
    if not isinstance(rounds, list) or not rounds:
        return f"has no 'rounds' list; expected rounds with {', '.join(ROUND_FIELDS)}"
    for i, r in enumerate(rounds):
        missing = [k for k in ROUND_FIELDS if not isinstance(r, dict) or k not in r]
        if missing:
            return f"round {i} lacks {', '.join(missing)} (a search run without a trajectory)"
    return ""


def load_search_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (run, round): ``run``, ``space``, ``round``, ``kappa``, ``regions``, ``source``.

    Files named explicitly must hold a trajectory. Inside a folder, results without one (baseline
    searches, TE-NAS runs with the trajectory off) are skipped and listed in
    ``frame.attrs["skipped"]``, but at least one run must have one.

    Raises:
        InputError: a path is missing, a file is not JSON, a named file has no trajectory, or
            no file under the given folders has one.
    """
    paths = list(paths)
    rows, skipped = [], []
    names: dict[str, int] = {}
    for path, name, explicit in _files(paths):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read search result {str(path)!r}: {err}") from err
        problem = _trajectory_problem(doc)
        if problem:
            if explicit:
                raise InputError(f"search result {str(path)!r} {problem}.")
            log.info("skipping %s: %s", path, problem)
            skipped.append(f"{_shown(path, name)}: {problem}")
            continue
        names[name] = names.get(name, 0) + 1
        run = name if names[name] == 1 else f"{name} ({names[name]})"
        for i, r in enumerate(doc["rounds"]):
            try:
                rows.append(
                    {
                        "run": run,
                        "space": str(doc.get("space", "")),
                        "round": int(r["round"]),
                        "kappa": float(r["kappa"]),
                        "regions": float(r["regions"]),
                        "source": _shown(path, name),
                    }
                )
            except (TypeError, ValueError) as err:
                raise InputError(
                    f"search result {str(path)!r}: round {i} has a non-numeric field: {err}"
                ) from err
    if not rows:
        raise InputError(
            "no search result with a pruning trajectory (rounds with "
            f"{', '.join(ROUND_FIELDS)}) under {', '.join(map(str, paths))}; skipped: {'; '.join(skipped)}."
        )
    frame = pd.DataFrame(rows, columns=["run", "space", "round", "kappa", "regions", "source"])
    frame.attrs["skipped"] = skipped
    return frame
