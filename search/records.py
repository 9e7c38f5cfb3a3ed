"""Search run records: where a run writes, the JSON it writes, and how finished runs are read back.

A run is one (space, search dataset, method, seed). Its folder
``<out>/<space>/<dataset>/<run name>/seed<k>/`` holds ``result.json`` (the record below, with the
per-round pruning record of TE-NAS under ``rounds``), ``config.json`` (the resolved settings) and
``log.txt``. Files are written whole (`harness.atomic`: temporary file, fsync, rename), so a killed
run never leaves a half-written record; a run folder with a ``result.json`` is finished.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import DataNotFoundError, InputError

SCHEMA = "harness.search/1"
RESULT_NAME = "result.json"
CONFIG_NAME = "config.json"
LOG_NAME = "log.txt"

#: Benchmark keys every result carries (NB201's own words). The first three are the paper's
#: CIFAR-10 / CIFAR-100 / ImageNet16-120 test columns (their maxima are the paper's "optimal" row).
ACCURACY_KEYS: tuple[str, ...] = (
    "cifar10/ori-test@200",
    "cifar100/x-test@200",
    "ImageNet16-120/x-test@200",
    "cifar10-valid/x-valid@200",
)

_SEEDS_RE = re.compile(r"^\d+(-\d+)?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def parse_seeds(spec: str | int) -> list[int]:
    """Seeds from ``"3"``, ``"0-4"`` (inclusive) or ``"0,2,7-9"``; order kept, duplicates dropped.

    Raises:
        InputError: anything else (negative numbers, empty parts, reversed ranges).
    """
    if isinstance(spec, int) and not isinstance(spec, bool) and spec >= 0:
        return [spec]
    text = str(spec).strip()
    seeds: list[int] = []
    parts = text.split(",") if text else [""]
    for part in parts:
        part = part.strip()
        if not _SEEDS_RE.match(part):
            raise InputError(
                f"invalid seed spec {spec!r}: expected seeds like '3', '0-4' or '0,2,7-9' "
                f"(non-negative integers, ranges inclusive)."
            )
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi) if hi else int(lo)
        if last < first:
            raise InputError(f"invalid seed spec {spec!r}: range {part!r} runs backwards.")
        seeds.extend(s for s in range(first, last + 1) if s not in seeds)
    return seeds


def check_run_name(name: str) -> str:
    """A run-folder name: letters, digits and ``_ . + -`` only (it becomes a path component)."""
    if not _NAME_RE.match(name):
        raise InputError(
            f"invalid run name {name!r}: use letters, digits, '_', '.', '+' or '-' "
            f"(it names a folder), starting with a letter or digit."
        )
    return name


def run_dir(out: str | Path, space: str, dataset: str, run_name: str, seed: int) -> Path:
    """The one place that decides where a search run writes."""
    return Path(out) / space / dataset / check_run_name(run_name) / f"seed{int(seed)}"


def plain(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars/arrays become Python ones, tuples lists, non-finite floats
    ``null`` (the record says elsewhere why a value is missing)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(record: Mapping[str, Any]) -> str:
    """Canonical JSON text of a record (strict: no NaN literals)."""
    return json.dumps(plain(record), indent=2, allow_nan=False) + "\n"


def write_json(path: str | Path, record: Mapping[str, Any]) -> Path:
    return atomic.write_text(path, dumps(record))


def write_text(path: str | Path, text: str) -> Path:
    return atomic.write_text(path, text)


def read_json(path: str | Path) -> dict:
    """Read one record; a missing or damaged file is an `InputError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"search record not found: {str(path)!r}.")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read search record {str(path)!r}: {err}") from err
    if not isinstance(doc, dict):
        raise InputError(f"search record {str(path)!r} is not a JSON object.")
    return doc


def find_results(paths: Iterable[str | Path]) -> list[Path]:
    """Every ``result.json`` under the given folders (recursively) or named directly, sorted.

    Raises:
        DataNotFoundError: a path does not exist.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.rglob(RESULT_NAME)))
        elif p.is_file():
            found.append(p)
        else:
            raise DataNotFoundError(f"search results not found: {str(p)!r}.")
    return sorted(dict.fromkeys(found))


def load_results(paths: Iterable[str | Path]) -> list[dict]:
    """The result records under `paths` that carry this module's schema (others are skipped)."""
    docs = []
    for path in find_results(paths):
        doc = read_json(path)
        if doc.get("schema") == SCHEMA:
            docs.append({**doc, "_path": str(path)})
    return docs
