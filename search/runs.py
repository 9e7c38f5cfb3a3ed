"""Run one search seed of any algorithm and write its record (result.json, config.json, log.txt).

`SearchSpec` is the resolved request; `execute` runs it unless a finished run with the same
identity is already on disk (then it returns that record: re-running a command resumes it).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


from harness.bench import Benchmark
from harness.data import ImageSet, load_images
from harness.environment import environment
from harness.errors import InputError, unknown_name
from search import records
from search.algorithms import ALGORITHMS, comparable_identity
from search.baselines import BaselineConfig
from search.nb201_adapter import NB201_DEFAULTS
from search.tenas import TenasConfig

log = logging.getLogger(__name__)

ALGOS = tuple(ALGORITHMS.names())
SPACES = ("nb201",)
#: Every searchable space; `harness search` hands darts to `search.darts_runs` before this module.
ALL_SPACES = ("darts", "nb201")
DATASETS = tuple(NB201_DEFAULTS)
#: Image source per search dataset: never a stand-in or a 20-image fallback for a search.
STRICT_SOURCES = {"cifar100": "batches", "ImageNet16-120": "official"}


def check_choice(kind: str, value: str, accepted) -> str:
    if value not in accepted:
        raise unknown_name(kind, value, accepted)
    return value


def check_space(space: str) -> str:
    if space not in SPACES:
        raise unknown_name("space", space, ALL_SPACES)
    return space


def load_search_images(dataset: str, data_dir=None, source: str | None = None) -> ImageSet:
    """The TRAINING images of the search dataset; CIFAR-100 and ImageNet16-120 need the official
    files (a missing file is a `DataNotFoundError` that says where we looked)."""
    check_choice("dataset", dataset, DATASETS)
    return load_images(dataset, "train", data_dir, source=source or STRICT_SOURCES.get(dataset))


@dataclass(frozen=True)
class SearchSpec:
    algo: str
    space: str
    dataset: str
    seed: int
    settings: TenasConfig | BaselineConfig
    out: str = "runs/search"
    tag: str | None = None
    device: str = "cpu"
    threads: int | None = None

    @property
    def algorithm(self):
        return ALGORITHMS.get(self.algo)

    @property
    def run_name(self) -> str:
        base = self.algorithm.run_name(self.settings)
        return records.check_run_name(f"{base}-{self.tag}" if self.tag else base)

    @property
    def method(self) -> str:
        """Leaderboard label: the algorithm plus every setting that changes its result."""
        return self.algorithm.method(self.settings)

    @property
    def directory(self) -> Path:
        return records.run_dir(self.out, self.space, self.dataset, self.run_name, self.seed)


def _settings_dict(spec: SearchSpec) -> dict:
    return dataclasses.asdict(spec.settings)


def _options(spec: SearchSpec) -> dict:
    return spec.algorithm.options(spec.settings, spec.seed)


def _identity(spec: SearchSpec, images: ImageSet) -> dict:
    """What must match for a finished run on disk to count as this run."""
    return {
        "algo": spec.algo,
        "space": spec.space,
        "dataset": spec.dataset,
        "seed": spec.seed,
        "settings": _settings_dict(spec),
        "data_checksum": images.checksum,
        "device": spec.device,
    }


def _environment(spec: SearchSpec) -> dict:
    return environment(spec.device)


class _RunLog:
    """Lines for log.txt, mirrored to `logging` (shown unless --quiet)."""

    def __init__(self, echo: Callable[[str], None] | None = None):
        self.lines: list[str] = []
        self.start = time.perf_counter()
        self.echo = echo

    def __call__(self, message: str) -> None:
        self.lines.append(f"[{time.perf_counter() - self.start:9.1f} s] {message}")
        log.info(message)
        if self.echo is not None:
            self.echo(message)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def accuracies(bench: Benchmark, index: int) -> dict:
    """The benchmark accuracies (percent) of cell `index` under `records.ACCURACY_KEYS`."""
    return {key: bench.accuracy(index, key) for key in records.ACCURACY_KEYS}


@dataclass
class RunResult:
    record: dict
    skipped: bool = False
    path: Path = field(default_factory=Path)


def execute(
    spec: SearchSpec,
    images: ImageSet,
    bench: Benchmark,
    *,
    force: bool = False,
    progress: bool | None = None,
    on_log: Callable[[str], None] | None = None,
) -> RunResult:
    """Run `spec` (or return the finished identical run on disk) and write its three files.

    Raises:
        InputError: a finished run with different settings is in the same folder (use --force
            or --tag).
    """
    directory = spec.directory
    identity = _identity(spec, images)
    result_path = directory / records.RESULT_NAME
    if result_path.is_file() and not force:
        existing = records.read_json(result_path)
        if comparable_identity(existing.get("identity") or {}) == comparable_identity(
            records.plain(identity)
        ):
            return RunResult(existing, skipped=True, path=result_path)
        raise InputError(
            f"{str(result_path)!r} holds a finished run with other settings; pass --force to "
            f"overwrite it or --tag NAME to write beside it."
        )
    say = runlog = _RunLog(on_log)
    env = _environment(spec)
    config = {
        "schema": records.SCHEMA,
        "identity": identity,
        "method": spec.method,
        "run_name": spec.run_name,
        "settings": _settings_dict(spec),
        "options": _options(spec),
        "data": images.describe(),
        "benchmark": dataclasses.asdict(bench.source),
        "environment": env,
        "out": str(spec.out),
    }
    records.write_json(directory / records.CONFIG_NAME, config)
    say(f"{spec.method} on {spec.space}/{spec.dataset}, seed {spec.seed}: {images.source}")
    say(f"settings: {_settings_dict(spec)}")
    found = spec.algorithm.run(spec.settings, images, spec.seed, spec.device, progress, say)
    arch, seconds, counts, extra = found.arch, found.seconds, found.counts, found.extra
    acc = accuracies(bench, arch.index)
    say(
        f"found {arch} (index {arch.index}) in {seconds:.1f} s; "
        + ", ".join(f"{k} {v:.2f}" for k, v in acc.items())
    )
    record = {
        "schema": records.SCHEMA,
        "space": spec.space,
        "dataset": spec.dataset,
        "algo": spec.algo,
        "method": spec.method,
        "run_name": spec.run_name,
        "seed": spec.seed,
        "arch_str": str(arch),
        "index": arch.index,
        "accuracies": acc,
        "search_seconds": seconds,
        "proxy_evaluations": counts,
        **env,
        "settings": _settings_dict(spec),
        "options": _options(spec),
        "data": images.describe(),
        "benchmark": dataclasses.asdict(bench.source),
        "identity": identity,
        **extra,
    }
    records.write_text(directory / records.LOG_NAME, runlog.text())
    records.write_json(result_path, record)
    return RunResult(records.plain(record), skipped=False, path=result_path)
