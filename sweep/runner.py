"""Sweeps: score many cells with proxies into the results store, locally (processes) or on Ray.

Any enumerable space of the registry (harness.spaces.registry) can be swept: its spec gives the
cells by index, their isomorphism keys, the network builder and its presets' settings.

The driver owns the store (single writer): workers only compute and return rows, the driver
writes each cell's rows in one transaction as they arrive. Cells run in index order within a
shard. With `unique`, one representative per isomorphism class is scored and its rows are
copied to the other members (``filled_from``) in the same transaction; a class that already has
a computed member in the store (from an earlier run on other cells) is filled from it, not scored
again; a later run without `unique` on the same configuration replaces copies with computed values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

import proxies as proxy_registry
from harness.data import ImageSet, load_images
from harness.devices import check_device
from harness.environment import environment
from harness.errors import InputError
from harness.selection import representatives, shard
from harness.spaces.registry import SpaceSpec, get_sweepable_space
from harness.store import ResultRow, ResultStore
from harness.summaries import StoreSummary
from proxies.plugins import load_plugins
from sweep.profiles import REQUEST_ONLY, Profile, combination_notes
from sweep.scoring import CellScorer, ProxyResult, component_proxies

log = logging.getLogger(__name__)
BACKENDS = ("local", "ray")
#: Seconds between WAL checkpoints during a sweep, so the store file itself stays current.
CHECKPOINT_SECONDS = 60.0


@dataclass(frozen=True)
class SweepSpec:
    """What every worker needs to rebuild the same scorer (picklable)."""

    proxies: tuple[str, ...]
    profile: Profile
    dataset: str = "cifar10"
    data_dir: str | None = None
    data_source: str | None = None
    device: str = "cpu"
    space: str = "nb201"  # a registered space with an enumerable cell list
    #: Proxy plugins (`proxies.plugins.Plugin`) the proxies may come from; workers import them again.
    plugins: tuple = ()

    def load_images(self) -> ImageSet:
        return load_images(self.dataset, "train", self.data_dir, source=self.data_source)

    def space_spec(self) -> SpaceSpec:
        return get_sweepable_space(self.space)

    def scorer(self, images: ImageSet | None = None) -> CellScorer:
        """The scorer of this sweep, on `images` when the caller has loaded them already."""
        load_plugins([p.target for p in self.plugins], entry_points=False)
        if images is None:
            images = self.load_images()
        return CellScorer(self.profile, self.proxies, images, self.device, self.space)


@dataclass
class SweepOptions:
    cells: Sequence[int]
    unique: bool = False
    shard: tuple[int, int] = (1, 1)
    workers: int = 1
    threads: int | None = None
    backend: str = "local"
    address: str | None = None
    cpus_per_task: int = 1
    gpus_per_task: float = 0.0
    retry_errors: bool = True  # keys stored as `error` are scored again, never counted as done
    quiet: bool = False
    command: str = ""


@dataclass
class SweepSummary(StoreSummary):
    store: str
    config_hash: str
    selected: int
    to_score: int
    scored: int = 0
    skipped: int = 0
    filled: int = 0
    filled_from_store: int = 0
    failed_cells: int = 0
    interrupted: bool = False
    wall_seconds: float = 0.0
    status_counts: dict = field(default_factory=dict)
    seconds_per_cell: dict = field(default_factory=dict)

    def text(self) -> str:
        lines = [
            f"store {self.store} (config {self.config_hash}): {self.selected} cells selected, "
            f"{self.scored} scored, {self.skipped} already done, {self.filled} filled from "
            f"isomorphic representatives, {self.filled_from_store} from isomorphic cells already stored, "
            f"{self.failed_cells} with errors"
            + (" -- INTERRUPTED, finished cells are saved" if self.interrupted else ""),
            f"wall time {self.wall_seconds:.1f} s"
            + (
                f" ({self.wall_seconds / self.scored:.3f} s per scored cell)" if self.scored else ""
            ),
        ]
        for proxy, secs in self.seconds_per_cell.items():
            counts = {
                k.split(":")[1]: v
                for k, v in self.status_counts.items()
                if k.split(":")[0] == proxy
            }
            shown = ", ".join(f"{s} {n}" for s, n in counts.items())
            lines.append(f"  {proxy:<16} {secs:8.3f} s per cell   ({shown})")
        return "\n".join(lines)


def build_config(spec: SweepSpec, images) -> dict:
    """The full configuration stored with every result (`environment` and `request` are not hashed)."""
    presets = {spec.profile.image_network, spec.profile.patch_network}
    settings = spec.space_spec().network_settings
    return {
        "space": spec.space,
        "profile": spec.profile.identity(),
        "request": {k: getattr(spec.profile, k) for k in REQUEST_ONLY},
        "networks": {name: settings(name) for name in sorted(presets)},
        "data": images.describe(),
        "nan_policy": "non-finite values stored as NULL with status nan/inf; never replaced",
        "environment": environment(spec.device),
    }


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Handle SIGTERM (what job schedulers send before a kill) like Ctrl-C, so the driver stops the
    workers and records the run instead of dying with its workers' broken pipes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---- workers -------------------------------------------------------------------------------
_SCORER: CellScorer | None = None


def _init_worker(spec: SweepSpec, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the pool
    torch.set_num_threads(threads)
    global _SCORER
    _SCORER = spec.scorer()


def _score_task(task: tuple[int, list[tuple[str, int]]]) -> tuple[int, list[ProxyResult]]:
    cell, todo = task
    return cell, _SCORER.score_index(cell, todo)


def _run_local(
    spec: SweepSpec, tasks, workers: int, threads: int, images: ImageSet
) -> Iterator[tuple[int, list[ProxyResult]]]:
    """Score `tasks` in this process (on the driver's `images`) or in a pool of `workers`."""
    if workers == 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            scorer = spec.scorer(images)
            for cell, todo in tasks:
                yield cell, scorer.score_index(cell, todo)
        finally:
            torch.set_num_threads(previous)
        return
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(spec, threads))
    try:
        yield from pool.imap(_score_task, tasks, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _run_ray(
    spec: SweepSpec, tasks, options: SweepOptions
) -> Iterator[tuple[int, list[ProxyResult]]]:
    from sweep import ray_backend

    yield from ray_backend.run(spec, tasks, options)


# ---- the sweep -----------------------------------------------------------------------------
def _rows(
    space: SpaceSpec, cell: int, results: Sequence[ProxyResult], members: Sequence[int]
) -> list[ResultRow]:
    rows = []
    for target in members:
        arch_str = str(space.cell_from_index(target))
        filled = None if target == cell else cell
        for r in results:
            rows.append(
                ResultRow(
                    target,
                    arch_str,
                    r.proxy,
                    r.repeat,
                    r.value,
                    r.status,
                    r.message,
                    r.seconds if filled is None else 0.0,
                    r.peak_mem_mb if filled is None else None,
                    filled,
                )
            )
    return rows


def _fill_from_stored_classes(
    store: ResultStore,
    digest: str,
    space: str,
    tasks: list,
    groups: dict,
    done: set,
    include_errors: bool,
    run_id: int,
) -> tuple[list, int]:
    """Under `unique`: fill each task's members from a member of its isomorphism class (anywhere in
    the space) that the store already holds computed values of, instead of scoring the class again.
    `done` are the keys stored already (filled ones included). Returns the tasks left to score and
    the number of cells filled."""
    computed = store.done_keys(digest, space, include_errors=include_errors, include_filled=False)
    space_spec = get_sweepable_space(space)
    classes: dict[str, list[int]] = defaultdict(list)
    keys = space_spec.isomorphism_keys()
    for cell, key in enumerate(keys):
        classes[key].append(cell)
    remaining, filled = [], 0
    for rep, todo in tasks:
        donor = next(
            (c for c in classes[keys[rep]] if all((c, p, r) in computed for p, r in todo)), None
        )
        if donor is None:
            remaining.append((rep, todo))
            continue
        source = {(row.proxy, row.repeat): row for row in store.cell_rows(digest, space, donor)}
        rows = []
        for member in groups[rep]:
            missing = [pr for pr in todo if (member, *pr) not in done]
            arch_str = str(space_spec.cell_from_index(member))
            rows += [
                dataclasses.replace(
                    source[pr],
                    cell=member,
                    arch_str=arch_str,
                    seconds=0.0,
                    peak_mem_mb=None,
                    filled_from=donor,
                )
                for pr in missing
            ]
            filled += bool(missing)
        store.write_rows(digest, space, rows, run_id)
    return remaining, filled


def check_options(spec: SweepSpec, options: SweepOptions) -> None:
    """Every setting a sweep takes, checked before any work (a typo must not fill the store with errors)."""
    from proxies.ntk import NTK_ENGINES

    if options.backend not in BACKENDS:
        raise InputError(f"unknown backend {options.backend!r}; accepted: {', '.join(BACKENDS)}.")
    for name, value in (
        ("--workers", options.workers),
        ("--threads", options.threads),
        ("--cpus-per-task", options.cpus_per_task),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InputError(f"{name} must be a positive integer; got {value}.")
    if not options.gpus_per_task >= 0:
        raise InputError(f"--gpus-per-task must be >= 0; got {options.gpus_per_task}.")
    if spec.profile.ntk_engine not in NTK_ENGINES:
        raise InputError(
            f"unknown --ntk-engine {spec.profile.ntk_engine!r}; accepted: {', '.join(NTK_ENGINES)}."
        )
    check_device(spec.device)
    space = spec.space_spec()  # an unknown or non-enumerable space: one line naming the others
    for preset in (spec.profile.image_network, spec.profile.patch_network):
        if preset not in space.network_presets:
            raise InputError(
                f"profile {spec.profile.name!r} uses network preset {preset!r}, which space "
                f"{space.name!r} does not have; its presets: {', '.join(space.network_presets)}."
            )


def run_sweep(spec: SweepSpec, options: SweepOptions, out: str) -> SweepSummary:
    """Validate everything, then score the selected cells into the store at `out`."""
    check_options(spec, options)
    components = component_proxies(spec.proxies)
    spec = dataclasses.replace(spec, proxies=tuple(components))
    images = spec.load_images()
    repeats = spec.profile.repeats
    config = build_config(spec, images)

    space = spec.space_spec()
    groups = (
        representatives(options.cells, spec.space)
        if options.unique
        else {c: [c] for c in options.cells}
    )
    to_score = shard(sorted(groups), *options.shard)
    threads = options.threads or max(1, (os.cpu_count() or 1) // options.workers)
    started = time.perf_counter()
    with ResultStore(out) as store:
        digest = store.add_config(config)
        store.add_proxies(proxy_registry.get_proxy(p).metadata() for p in components)
        run_id = store.start_run(
            digest,
            environment(
                spec.device,
                workers=options.workers,
                threads=threads,
                backend=options.backend,
                unique=options.unique,
                plugins=[p.as_dict() for p in spec.plugins],
            ),
            options.command,
        )
        # A full (non-unique) run computes the cells that an earlier --unique run only filled.
        done = store.done_keys(
            digest,
            spec.space,
            include_errors=not options.retry_errors,
            include_filled=options.unique,
        )
        wanted = [(p, r) for r in range(repeats) for p in components]
        tasks, skipped = [], 0
        for rep in to_score:
            todo = [(p, r) for p, r in wanted if any((m, p, r) not in done for m in groups[rep])]
            if todo:
                tasks.append((rep, todo))
            else:
                skipped += 1
        filled_from_store = 0
        if options.unique:
            tasks, filled_from_store = _fill_from_stored_classes(
                store, digest, spec.space, tasks, groups, done, not options.retry_errors, run_id
            )
        summary = SweepSummary(
            str(out),
            digest,
            len(options.cells),
            len(tasks),
            skipped=skipped,
            filled_from_store=filled_from_store,
        )
        log.info(
            "config %s: %d cells to score, %d already done, %d filled from stored isomorphic cells",
            digest,
            len(tasks),
            skipped,
            filled_from_store,
        )
        if tasks:  # an unusual profile/proxy combination: say what it costs or means, once
            for note in combination_notes(spec.profile.name, components):
                log.warning("note: %s", note)
        statuses: Counter = Counter()
        seconds: dict[str, list[float]] = defaultdict(list)
        if options.backend == "ray":
            stream = _run_ray(spec, tasks, dataclasses.replace(options, threads=threads))
        else:
            stream = _run_local(spec, tasks, options.workers, threads, images)
        bar = tqdm(
            total=len(tasks),
            unit="cell",
            desc=f"run-proxies {spec.profile.name}",
            file=sys.stderr,
            disable=options.quiet,
            mininterval=1.0,
            dynamic_ncols=True,
        )
        last_checkpoint = time.monotonic()
        try:
            with _sigterm_as_interrupt():
                for cell, results in stream:
                    members = groups[cell]
                    rows = _rows(space, cell, results, members)
                    store.write_rows(digest, spec.space, rows, run_id)
                    if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                        store.checkpoint("PASSIVE")  # never waits; the close does a full one
                        last_checkpoint = time.monotonic()
                    summary.scored += 1
                    summary.filled += len(members) - 1
                    summary.failed_cells += any(r.status == "error" for r in results)
                    for r in results:
                        statuses[(r.proxy, r.status)] += 1
                        seconds[r.proxy].append(r.seconds)
                    bar.update(1)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            bar.close()
            summary.wall_seconds = time.perf_counter() - started
            summary.status_counts = {f"{p}:{s}": n for (p, s), n in sorted(statuses.items())}
            # seconds per cell per proxy = mean seconds per repeat x repeats computed per cell
            summary.seconds_per_cell = {
                p: sum(v) / max(1, summary.scored) for p, v in sorted(seconds.items())
            }
            store.finish_run(run_id, summary.as_dict())
    return summary
