"""Run one search seed of any algorithm on any space and write its record (result.json,
config.json, log.txt) under ``<out>/<space>/<dataset>/<run name>/seed<k>/``.

`SearchSpec` is the resolved request; `execute` runs it unless a finished run with the same
identity is already on disk (then it returns that record: re-running a command resumes it). What
differs per space (images, the record's description of the cell found, the schema) comes from the
space's `search.adapter.SearchAdapter`; what differs per algorithm from its `AlgorithmSpec`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.bench import Benchmark
from harness.data import ImageSet
from harness.environment import environment
from harness.errors import InputError
from harness.paths import display_path
from search import records
from search.adapter import SearchAdapter
from search.algorithms import ALGORITHMS, AlgorithmSpec, comparable_identity
from search.spaces import SEARCH_SPACES

log = logging.getLogger(__name__)


def check_algorithm(algo: str, space: str) -> AlgorithmSpec:
    """The algorithm `algo` if it runs on `space`; else an `InputError` naming the ones that do."""
    spec = ALGORITHMS.get(algo)
    if space not in spec.spaces:
        supported = [a.name for a in ALGORITHMS if space in a.spaces]
        raise InputError(
            f"--space {space} supports --algo {' / '.join(supported)} only; got --algo {algo} "
            f"(which runs on {' / '.join(spec.spaces)} only)."
        )
    return spec


def resolve_settings(algo: str, space: str, dataset: str, given: Mapping | None = None):
    """The settings of a request: the official ones of `space` and `dataset` with `given` (the
    settings fields a request sets) on top, checked."""
    algorithm, adapter = check_algorithm(algo, space), SEARCH_SPACES.get(space)
    official = algorithm.official(adapter, adapter.check_dataset(dataset))
    return algorithm.resolve(official, dict(given or {}))


def load_search_images(space: str, dataset: str, data_dir=None, source: str | None = None):
    """The TRAINING images of the search dataset of `space` (see `SearchAdapter.load_images`)."""
    return SEARCH_SPACES.get(space).load_images(dataset, data_dir, source)


@dataclass(frozen=True)
class SearchSpec:
    algo: str
    space: str
    dataset: str
    seed: int
    settings: object  # the algorithm's config (search.tenas.TenasConfig, BaselineConfig)
    out: str = "runs/search"
    tag: str | None = None
    device: str = "cpu"
    threads: int | None = None

    @property
    def algorithm(self) -> AlgorithmSpec:
        return ALGORITHMS.get(self.algo)

    @property
    def adapter(self) -> SearchAdapter:
        return SEARCH_SPACES.get(self.space)

    @property
    def run_name(self) -> str:
        base = self.algorithm.run_name(self.settings)
        return records.check_run_name(f"{base}-{self.tag}" if self.tag else base)

    @property
    def method(self) -> str:
        """Leaderboard label: the algorithm plus every setting that changes its result."""
        official = self.algorithm.official(self.adapter, self.dataset)
        return self.algorithm.method(self.settings, official)

    @property
    def directory(self) -> Path:
        return records.run_dir(self.out, self.space, self.dataset, self.run_name, self.seed)

    def options(self) -> dict:
        """The options a record keeps: the algorithm's, then the space's."""
        return {
            **self.algorithm.options(self.settings, self.seed),
            **self.adapter.options(self.dataset),
        }

    def identity(self, images: ImageSet) -> dict:
        """What must match for a finished run on disk to count as this run."""
        return {
            "algo": self.algo,
            "space": self.space,
            "dataset": self.dataset,
            "seed": self.seed,
            "settings": dataclasses.asdict(self.settings),
            "data_checksum": images.checksum,
            "device": self.device,
        }


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


@dataclass
class RunResult:
    record: dict
    skipped: bool = False
    path: Path = field(default_factory=Path)


def _finished(spec: SearchSpec, identity: dict, force: bool) -> RunResult | None:
    """The finished identical run in the spec's folder, if any.

    Raises:
        InputError: a finished run with different settings is there (use --force or --tag).
    """
    result_path = spec.directory / records.RESULT_NAME
    if not result_path.is_file() or force:
        return None
    existing = records.read_json(result_path)
    if comparable_identity(existing.get("identity") or {}) == comparable_identity(
        records.plain(identity)
    ):
        return RunResult(existing, skipped=True, path=result_path)
    raise InputError(
        f"{str(result_path)!r} holds a finished run with other settings; pass --force to "
        f"overwrite it or --tag NAME to write beside it."
    )


def execute(
    spec: SearchSpec,
    images: ImageSet,
    bench: Benchmark | None = None,
    *,
    force: bool = False,
    progress: bool | None = None,
    on_log: Callable[[str], None] | None = None,
) -> RunResult:
    """Run `spec` (or return the finished identical run on disk) and write its three files.

    Args:
        bench: the NB201 benchmark, for spaces whose found cells are looked up in it.

    Raises:
        InputError: a finished run with different settings is in the same folder (use --force
            or --tag).
    """
    identity = spec.identity(images)
    done = _finished(spec, identity, force)
    if done is not None:
        return done
    adapter = spec.adapter
    say = runlog = _RunLog(on_log)
    env = environment(spec.device)
    settings = dataclasses.asdict(spec.settings)
    options = spec.options()
    benchmark = {"benchmark": dataclasses.asdict(bench.source)} if adapter.benchmark else {}
    config = {
        "schema": adapter.schema,
        "identity": identity,
        "method": spec.method,
        "run_name": spec.run_name,
        "settings": settings,
        "options": options,
        "data": images.describe(),
        **benchmark,
        "environment": env,
        "out": display_path(spec.out),  # no absolute machine path in a record
    }
    records.write_json(spec.directory / records.CONFIG_NAME, config)
    say(f"{spec.method} on {spec.space}/{spec.dataset}, seed {spec.seed}: {images.source}")
    say(f"settings: {settings}")
    found = spec.algorithm.run(spec, images, progress, say)
    fields = adapter.found_fields(found, bench)
    say(adapter.found_line(fields))
    record = {
        "schema": adapter.schema,
        "space": spec.space,
        "dataset": spec.dataset,
        "algo": spec.algo,
        "method": spec.method,
        "run_name": spec.run_name,
        "seed": spec.seed,
        **fields,
        "proxy_evaluations": found.counts,
        **env,
        "settings": settings,
        "options": options,
        "data": images.describe(),
        **benchmark,
        "identity": identity,
        **found.extra,  # a key already in `fields` keeps its place there
    }
    records.write_text(spec.directory / records.LOG_NAME, runlog.text())
    records.write_json(spec.directory / records.RESULT_NAME, record)
    return RunResult(
        records.plain(record), skipped=False, path=spec.directory / records.RESULT_NAME
    )
